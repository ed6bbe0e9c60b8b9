/**
 * The `protolens` command. Each sub-command lives in `commands/<name>.ts` and exports
 * `register(program)`; commands are thin wrappers over library functions. Only this file
 * decides exit codes: a {@link CLIError} prints its message (no stack), anything else its stack.
 *
 * Exit codes ({@link EXIT_CODES}): 0 success; 1 an internal error (a bug: printed with its stack);
 * 2 a usage error or bad input: a one-line message naming the flag, file, row or field, or
 * commander's own usage errors (unknown option or command, missing argument).
 *
 * Start-up stays fast: a command's module, and with it the heavy packages it needs (TF.js, sharp,
 * Vega), is imported only when that command runs, so `--help` loads the parser alone, and
 * `--version` not even that (BENCHMARKS.md, "Start-up").
 */
import type { Command } from 'commander';
import { CLIError } from './cli-error.ts';
import { VERSION } from '../version.ts';

/** A sub-command: its name, its one-line summary (the help's, here only), and its module. */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<{ register(program: Command): void }>;
}

/** Every sub-command, in the order of the help. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'demo', summary: 'Fit the prototype model and its baselines on the embedded default data, and summarise', load: () => import('./commands/demo.ts') },
  { name: 'extract', summary: 'Extract CNN features of images (a class-per-folder tree, a .zip, a list file, or unlabelled images)', load: () => import('./commands/extract.ts') },
  { name: 'fit', summary: 'Fit the prototype classifier on a labelled feature file and save it as JSON (--cv chooses its settings by cross-validation)', load: () => import('./commands/fit.ts') },
  { name: 'predict', summary: 'Predict the class of every row of a feature file; --explain says why', load: () => import('./commands/predict.ts') },
  { name: 'evaluate', summary: 'Score the prototype model beside its baselines on held-out data: accuracy, per-class precision/recall/F1, confusion matrices (a report folder)', load: () => import('./commands/evaluate.ts') },
  { name: 'explain', summary: 'Write the interpretation report (HTML + figures) of a prototype model on labelled features', load: () => import('./commands/explain.ts') },
  { name: 'bench', summary: 'Benchmarks: the paper\'s Table 1 (fewshot) and N-way K-shot episodes', load: () => import('./commands/bench.ts') },
  { name: 'train-embedding', summary: 'Train a Conv-4 embedding end to end with a prototype layer, episodically (Omniglot-style data: Alphabet/character/*.png)', load: () => import('./commands/train-embedding.ts') },
  { name: 'combine-embeddings', summary: 'Join trained embeddings into one network whose feature concatenates theirs (an ensemble, usable as --backbone)', load: () => import('./commands/combine-embeddings.ts') },
  { name: 'serve', summary: 'Open the web explorer: the feature-space map, the prototypes, the images, and classification of new images', load: () => import('./commands/serve.ts') },
  { name: 'doctor', summary: 'Say what runs protolens here and why: the GEMM backend and native addon, TF.js\'s backend, onnxruntime, sharp, the cache, the explorer page', load: () => import('./commands/doctor.ts') },
  { name: 'backbones', summary: 'List the bundled backbones; for a model (.onnx file, TF.js folder or bundled name), its inputs, outputs and candidate feature layers', load: () => import('./commands/backbones.ts') },
];

/** Exit codes, as the help and README state them. */
export const EXIT_CODES = { ok: 0, internal: 1, usage: 2 } as const;

const EXIT_HELP = '\nExit codes: 0 success, 1 internal error (a bug; printed with its stack), 2 usage error or bad input (a one-line message).';

/** The sub-command `argv` asks for (also through `help <command>`), if any. */
function requested(argv: readonly string[]): CommandEntry | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === name);
}

/** Runs the CLI on `argv` (as in `process.argv`) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
    // The one answer that needs no parser: the command's start costs Node's own and no more.
    process.stdout.write(`${VERSION}\n`);
    return EXIT_CODES.ok;
  }
  const { Command, CommanderError } = await import('commander');
  const program = new Command();
  program
    .name('protolens')
    .description('Prototype-based interpretation of CNN feature spaces')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError()
    .addHelpText('after', EXIT_HELP);
  try {
    const wanted = requested(argv);
    if (wanted) {
      (await wanted.load()).register(program);
      program.commands.find((c) => c.name() === wanted.name)?.description(wanted.summary);
      // Products run in the native addon on every core, or, when it is not built, in the
      // WebAssembly kernel on worker threads (PROTOLENS_GEMM=native|wasm|js forces one,
      // PROTOLENS_GEMM_THREADS=1 keeps one thread).
      const { enableNodeGemm } = await import('../linalg/gemm-native.node.ts');
      try {
        enableNodeGemm();
      } catch (e) {
        throw new CLIError((e as Error).message);
      }
    } else {
      // Help, --version or an unknown command: the summaries are enough, no module is loaded.
      for (const c of COMMANDS) program.command(c.name).description(c.summary);
    }
    await program.parseAsync(argv);
    return EXIT_CODES.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version exit with 0; commander's usage errors (unknown option, missing argument) with 2.
      return err.exitCode === 0 ? 0 : EXIT_CODES.usage;
    }
    if (err instanceof CLIError) {
      process.stderr.write(`protolens: ${err.message}\n`);
      return err.code;
    }
    const { OutputRefusedError } = await import('../data/outputs.node.ts');
    const { OutputWriteError, isSystemError } = await import('../data/atomic.node.ts');
    if (err instanceof OutputRefusedError || err instanceof OutputWriteError || isSystemError(err)) {
      // A refused output, a write the file system refused, or any other refusal of the file
      // system (its message names the path): one line, not a stack.
      process.stderr.write(`protolens: ${err.message}\n`);
      return EXIT_CODES.usage;
    }
    process.stderr.write(`protolens: unexpected error\n${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT_CODES.internal;
  }
}
