/**
 * The CLI's errors: {@link CLIError}, the one error type printed without a stack, and the one
 * place where the library's input errors become CLI errors ({@link toCliError}).
 */
import { BadImageError } from '../data/images.ts';
import { OutputRefusedError } from '../data/outputs.node.ts';
import { OutputWriteError } from '../data/atomic.node.ts';
import { CheckpointError } from '../embedding/checkpoint-error.ts';
import { InputSizeError } from '../features/onnx-backbone.ts';
import { CLIError } from './cli-error.ts';

export { CLIError };


/** The flags a command offers for fixes the library suggests by its own option names. */
export interface FlagHints {
  /** The flag that sets the library's `skipBad` option (e.g. `--skip-bad`), when the command has one. */
  skipBad?: string;
  /** The flag that gives a model's input size (e.g. `--input-size H,W`), when the command has one. */
  inputSize?: string;
}

/**
 * The CLI error for a library error about the user's input: a RangeError or TypeError (the
 * library's bad-value and bad-type errors, which name the file, row or field), an unreadable
 * image, a checkpoint, or a refused output; anything else (a bug) is returned as it is, to be
 * printed with its stack.
 * @param prefix - put before the message (e.g. the input file's name, when the library's message does not name it).
 * @param hints - flags of this command that do what the library's message suggests (an unreadable
 *   image names the `skipBad` option; the CLI message names the flag instead, or nothing when the
 *   command has none).
 * @example
 * toCliError(new RangeError('x must be positive, got -1'), 'f.npy').message // 'f.npy: x must be positive, got -1'
 */
export function toCliError(e: unknown, prefix?: string, hints: FlagHints = {}): unknown {
  const at = (s: string): string => (prefix ? `${prefix}: ${s}` : s);
  if (e instanceof CLIError) return e;
  if (e instanceof BadImageError) {
    // The library names its skipBad option; a command names its flag, or nothing when it has none.
    return new CLIError(`${e.path}: ${e.reason}${e.skippable && hints.skipBad ? ` (use ${hints.skipBad} to leave such files out)` : ''}`);
  }
  if (e instanceof InputSizeError) return new CLIError(hints.inputSize ? `${e.subject}; pass ${hints.inputSize}` : e.message);
  if (e instanceof OutputRefusedError || e instanceof OutputWriteError || e instanceof CheckpointError) return new CLIError(e.message);
  if (e instanceof RangeError || e instanceof TypeError) return new CLIError(at(e.message));
  return e;
}

/**
 * Runs a library call and turns its input errors into CLI errors ({@link toCliError}).
 * @example
 * const fs = userInput(() => readFeatures(path)); // a bad file → CLIError naming it
 */
export function userInput<T>(run: () => T, prefix?: string, hints?: FlagHints): T {
  try {
    const r = run();
    if (r instanceof Promise) return r.catch((e: unknown) => { throw toCliError(e, prefix, hints); }) as T;
    return r;
  } catch (e) {
    throw toCliError(e, prefix, hints);
  }
}
