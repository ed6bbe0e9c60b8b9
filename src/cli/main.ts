/**
 * The `protolens` command. Each sub-command lives in `commands/<name>.ts` and exports
 * `register(program)`; commands are thin wrappers over library functions. Only this file
 * decides exit codes: a {@link CLIError} prints its message (no stack), anything else its stack.
 */
import { Command, CommanderError } from 'commander';
import { CLIError } from './errors.ts';
import { OutputRefusedError } from '../data/outputs.node.ts';
import { OutputWriteError, isSystemError } from '../data/atomic.node.ts';
import { VERSION } from '../version.ts';
import { enableNodeGemm } from '../linalg/gemm-native.node.ts';
import * as demo from './commands/demo.ts';
import * as extract from './commands/extract.ts';
import * as fit from './commands/fit.ts';
import * as predict from './commands/predict.ts';
import * as explain from './commands/explain.ts';
import * as serve from './commands/serve.ts';
import * as bench from './commands/bench.ts';
import * as trainEmbedding from './commands/train-embedding.ts';
import * as backbones from './commands/backbones.ts';

const commands: Array<{ register(program: Command): void }> = [demo, extract, fit, predict, explain, bench, trainEmbedding, serve, backbones];

/** Runs the CLI on `argv` (as in `process.argv`) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('protolens')
    .description('Prototype-based interpretation of CNN feature spaces')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  for (const c of commands) c.register(program);
  try {
    // Products run in the native addon on every core, or, when it is not built, in the
    // WebAssembly kernel on worker threads (PROTOLENS_GEMM=native|wasm|js forces one,
    // PROTOLENS_GEMM_THREADS=1 keeps one thread).
    try {
      enableNodeGemm();
    } catch (e) {
      throw new CLIError((e as Error).message);
    }
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode;
    }
    if (err instanceof CLIError) {
      process.stderr.write(`protolens: ${err.message}\n`);
      return err.code;
    }
    if (err instanceof OutputRefusedError || err instanceof OutputWriteError || isSystemError(err)) {
      // A refused output, a write the file system refused, or any other refusal of the file
      // system (its message names the path): one line, not a stack.
      process.stderr.write(`protolens: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`protolens: unexpected error\n${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
