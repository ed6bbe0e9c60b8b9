/**
 * Parsers of command-line flag values, written once for every command. Each returns the value or
 * throws a {@link CLIError} of one form: `Invalid value for --flag: "text". Expected …`.
 *
 * Choices the library checks (a preprocessing, a penalty, a backend…) are not re-checked here:
 * {@link libraryChoice} runs the library's own check and turns its verdict, with the choices its
 * message lists, into the same one-line form.
 */
import type { Command } from 'commander';
import { MAX_TTA_SHIFT } from '../features/tta.ts';
import { PREPROCESS_CHOICES, type PreprocessChoice } from '../model/preprocess.ts';
import { CLIError } from './errors.ts';

function invalid(flag: string, s: string, expected: string): CLIError {
  return new CLIError(`Invalid value for ${flag}: "${s}". Expected ${expected}.`);
}

/** The number a flag's text stands for, or NaN for empty or blank text (which `Number` reads as 0). */
function toNumber(s: string): number {
  return s.trim() === '' ? NaN : Number(s);
}

/**
 * An integer ≥ `min` (default 1).
 * @example
 * int('--ways', '5') // 5; int('--seed', '-1', 0) throws 'Invalid value for --seed: "-1". Expected an integer ≥ 0.'
 */
export function int(flag: string, s: string, min = 1): number {
  const v = toNumber(s);
  if (!Number.isInteger(v) || v < min) throw invalid(flag, s, `an integer ≥ ${min}`);
  return v;
}

/**
 * Any integer (a seed).
 * @example
 * anyInt('--seed', '-3') // -3
 */
export function anyInt(flag: string, s: string): number {
  const v = toNumber(s);
  if (!Number.isInteger(v)) throw invalid(flag, s, 'an integer');
  return v;
}

/**
 * A multiple of `step`, at least `min`.
 * @example
 * multipleOf('--digits', '300', 10, 20) // 300; multipleOf('--digits', '25', 10, 20) throws '… Expected a multiple of 10, at least 20.'
 */
export function multipleOf(flag: string, s: string, step: number, min: number): number {
  const v = toNumber(s);
  if (!Number.isInteger(v) || v < min || v % step !== 0) throw invalid(flag, s, `a multiple of ${step}, at least ${min}`);
  return v;
}

/**
 * A positive integer, or with `allowZero` a non-negative one.
 * @example
 * positiveInt('--port', '0', true) // 0; positiveInt('--workers', 'two') throws '… Expected a positive integer.'
 */
export function positiveInt(flag: string, s: string, allowZero = false): number {
  const v = toNumber(s);
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) throw invalid(flag, s, `a ${allowZero ? 'non-negative' : 'positive'} integer`);
  return v;
}

/**
 * A positive finite number, or with `allowZero` a non-negative one.
 * @example
 * positive('--alpha', '0', true) // 0; positive('--tau', '0') throws '… Expected a positive number.'
 */
export function positive(flag: string, s: string, allowZero = false): number {
  const v = toNumber(s);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw invalid(flag, s, `a ${allowZero ? 'non-negative' : 'positive'} number`);
  return v;
}

/**
 * Exactly `n` comma-separated finite numbers.
 * @example
 * numbers('--input-size', '224,224', 2) // [224, 224]
 */
export function numbers(flag: string, s: string, n: number): number[] {
  const v = s.split(',').map(toNumber);
  if (v.length !== n || !v.every(Number.isFinite)) throw invalid(flag, s, `${n} comma-separated numbers`);
  return v;
}

/**
 * A non-empty comma-separated list of finite numbers that pass `check`; `expected` says what they
 * must be ("positive integers"). Empty items are ignored ("2,5," is [2, 5]).
 * @example
 * numberList('--ways', '2,5,20', (x) => Number.isInteger(x) && x >= 2, 'integers ≥ 2') // [2, 5, 20]
 */
export function numberList(flag: string, s: string, check: (v: number) => boolean, expected: string): number[] {
  const v = s.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
  if (v.length === 0 || !v.every((x) => Number.isFinite(x) && check(x))) throw invalid(flag, s, `comma-separated ${expected}`);
  return v;
}

/**
 * A comma-separated list of names (empty items ignored), or `dflt` when the flag is absent.
 * @example
 * names('Greek, Latin') // ['Greek', 'Latin']
 */
export function names(s: string | undefined, dflt: readonly string[] = []): readonly string[] {
  return s === undefined ? dflt : s.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * One of a fixed list the CLI itself defines (a choice the library does not check).
 * @example
 * oneOf('--selection', 'swap', ['holdout', 'swap']) // 'swap'
 */
export function oneOf<T extends string>(flag: string, s: string, choices: readonly T[], some = false): T {
  if (!(choices as readonly string[]).includes(s)) throw invalid(flag, s, `${some ? 'some' : 'one'} of: ${choices.join(', ')}`);
  return s as T;
}

/**
 * A value the library checks: `check` is the library's own check (it returns the value, or throws
 * a RangeError/TypeError whose message lists the valid choices after "one of:", up to the end,
 * a ";" or ", got"; test/flags.test.ts runs every check the CLI uses, so a reworded message fails there). Its verdict
 * becomes `Invalid value for --flag: "text". Expected one of: a, b.`, with the library's list.
 * @example
 * libraryChoice('--preprocess', 'zca', checkPreprocessMethod)
 * // throws 'Invalid value for --preprocess: "zca". Expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2.'
 */
export function libraryChoice<T>(flag: string, s: string, check: (s: string) => T): T {
  try {
    return check(s);
  } catch (e) {
    if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
    const listed = /one of:? (.+?)(?:;|,? got |\.?$)/.exec(e.message)?.[1];
    throw listed ? invalid(flag, s, `one of: ${listed}`) : new CLIError(`Invalid value for ${flag}: "${s}". ${e.message}.`);
  }
}

/**
 * The feature file of a command that takes it either as its first argument or as `-f/--features`
 * (the same file may be given both ways).
 * @throws CLIError when neither gives one, or the two name different files.
 * @example
 * featureFile('f.npy', undefined) // 'f.npy'; featureFile(undefined, undefined) throws 'a feature file is needed: give it as the first argument or as --features FILE'
 */
export function featureFile(positional: string | undefined, flag: string | undefined): string {
  if (positional !== undefined && flag !== undefined && positional !== flag) {
    throw new CLIError(`two feature files given: "${positional}" and --features "${flag}"; give one`);
  }
  const f = positional ?? flag;
  if (f === undefined) throw new CLIError('a feature file is needed: give it as the first argument or as --features FILE');
  return f;
}

/**
 * The options that name where a benchmark's labelled features come from, the same on every
 * `bench` subcommand: a feature file (`-f`), or an image data set (`--data`) embedded by a backbone
 * through the feature cache.
 */
export function featureSourceOptions(cmd: Command): Command {
  return cmd
    .option('-f, --features <file>', 'feature file (.npy with .json sidecar, .csv, .jsonl) with one label per row')
    .option('--data <dir>', 'image dataset (class folders, .zip, list file) to extract features from, through the cache')
    .option('-b, --backbone <name|path>', 'backbone for --data (a bundled name, a TF.js model folder or a .onnx file)', 'mobilenet_v2')
    .option('--cache-dir <dir>', 'feature cache for --data (default $PROTOLENS_CACHE or ~/.cache/protolens)')
    .option('--tta <s>', 'for --data: test-time shifts, as protolens extract --tta (0 = off, the default)', '0');
}

/**
 * The `--tta` flag: a shift in pixels of the network input (src/features/tta.ts); absent: 0, off.
 * @example
 * ttaFlag('1') // 1; ttaFlag('-1') throws 'Invalid value for --tta: "-1". Expected an integer from 0 (off) to 4, …'
 */
export function ttaFlag(s: string | undefined): number {
  if (s === undefined) return 0;
  const v = toNumber(s);
  if (!Number.isInteger(v) || v < 0 || v > MAX_TTA_SHIFT) throw invalid('--tta', s, `an integer from 0 (off) to ${MAX_TTA_SHIFT}, in pixels of the network input`);
  return v;
}

/** Options parsed from a benchmark's flags, with `--preprocess` as given: `auto` is resolved once the features are read. */
export type OptionsWithChoice<T extends { preprocess?: unknown }> = Omit<T, 'preprocess'> & { preprocess: PreprocessChoice };

/**
 * The help of a `--preprocess` flag: what it applies to, then the choices and what `auto` means.
 * @example
 * preprocessHelp('feature preprocessing')
 * // 'feature preprocessing: auto | none | l2 | center-l2 | sqrt-l2 | sqrt-center-l2; auto = what the features\' backbone recommends (none for learned embeddings), else sqrt-l2'
 */
export function preprocessHelp(what: string): string {
  return `${what}: ${PREPROCESS_CHOICES.join(' | ')}; auto = what the features' backbone recommends (none for learned embeddings), else sqrt-l2`;
}
