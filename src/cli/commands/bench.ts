/**
 * `protolens bench fewshot`: the paper's Table 1 protocol (src/select/fewshot.ts) on a feature
 * file, or on an image dataset whose features are extracted through the cache first. Writes
 * fewshot.md (tables in the paper's form), fewshot.json (every per-subset figure) and fewshot.svg
 * (chart) into --out, atomically; prints the Markdown on stdout.
 */
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import type { Command } from 'commander';
import { CLIError, toCliError } from '../errors.ts';
import { int, libraryChoice, names, numberList, oneOf, positive, featureSourceOptions, ttaFlag, preprocessHelp, type OptionsWithChoice } from '../flags.ts';
import { progressBar, type Progress } from '../progress.ts';
import { labelledFeatures, type LabelledFeatures } from '../../features/input.node.ts';
import { checkOutputFolder, writeOutputFolder } from '../../data/outputs.node.ts';
import { checkPreprocessChoice, type PreprocessChoice } from '../../model/preprocess.ts';
import {
  DEFAULT_GRIDS, DEFAULT_PROTOTYPE_OPTIONS, FEWSHOT_METHODS, runFewShot, type FewShotGrids, type FewShotOptions,
} from '../../select/fewshot.ts';
import { fewShotMarkdown } from '../../select/fewshot-report.ts';
import { fewShotChartSpec } from '../../viz/fewshot-chart.ts';
import { renderSvg } from '../../viz/render.ts';
import { VERSION } from '../../version.ts';
import { gemmBackendName } from '../../linalg/gemm.ts';
import { describeNodeGemm, nodeGemmChoice } from '../../linalg/gemm-native.node.ts';
import { registerEpisodes } from './bench-episodes.ts';
import { registerOpenSet } from './bench-openset.ts';
import { registerCalibration } from './bench-calibration.ts';

interface FewShotFlags {
  json: boolean;
  features?: string;
  data?: string;
  backbone: string;
  cacheDir?: string;
  tta?: string;
  ways: string;
  subsets: string;
  seed: string;
  preprocess: string;
  methods?: string;
  gridJ?: string;
  gridAlphaL1?: string;
  gridAlphaL2?: string;
  gridTauScale?: string;
  gridL2?: string;
  gridMetricTauScale?: string;
  gridShrinkage?: string;
  maxIter?: string;
  tol?: string;
  classIter?: string;
  reduce: boolean;
  selection: string;
  out: string;
  title?: string;
  progress: boolean;
  chart: boolean;
  force: boolean;
}

/** Turns the flags into benchmark options (exported for tests). */
export function fewShotOptions(f: FewShotFlags): OptionsWithChoice<FewShotOptions> {
  const grids: Partial<FewShotGrids> = {};
  if (f.gridJ) grids.prototypesPerClass = numberList('--grid-j', f.gridJ, (x) => Number.isInteger(x) && x >= 1, 'positive integers');
  if (f.gridAlphaL1) grids.alphaL1 = numberList('--grid-alpha-l1', f.gridAlphaL1, (x) => x >= 0, 'non-negative numbers');
  if (f.gridAlphaL2) grids.alphaL2 = numberList('--grid-alpha-l2', f.gridAlphaL2, (x) => x >= 0, 'non-negative numbers');
  if (f.gridTauScale) grids.tauScale = numberList('--grid-tau-scale', f.gridTauScale, (x) => x > 0, 'positive numbers');
  if (f.gridL2) grids.l2 = numberList('--grid-l2', f.gridL2, (x) => x >= 0, 'non-negative numbers');
  if (f.gridMetricTauScale) grids.metricTauScale = numberList('--grid-metric-tau-scale', f.gridMetricTauScale, (x) => x > 0, 'positive numbers');
  if (f.gridShrinkage) grids.shrinkage = numberList('--grid-shrinkage', f.gridShrinkage, (x) => x > 0 && x <= 1, 'numbers in (0, 1]');
  // src/select does not export its check of methods and selection (it runs inside runFewShot,
  // after the features are loaded): these two choices are checked here, against its list.
  const methods = f.methods ? names(f.methods).map((m) => oneOf('--methods', m, FEWSHOT_METHODS, true)) : undefined;
  const prototypeOptions: Record<string, number> = {};
  if (f.maxIter !== undefined) prototypeOptions.maxIter = int('--max-iter', f.maxIter, 1);
  if (f.tol !== undefined) prototypeOptions.tol = positive('--tol', f.tol, true);
  if (f.classIter !== undefined) prototypeOptions.classIter = int('--class-iter', f.classIter, 1);
  return {
    selection: oneOf('--selection', f.selection, ['holdout', 'swap'] as const),
    ways: numberList('--ways', f.ways, (x) => Number.isInteger(x) && x >= 2, 'integers ≥ 2'),
    subsets: int('--subsets', f.subsets, 2),
    seed: int('--seed', f.seed, 0),
    preprocess: libraryChoice('--preprocess', f.preprocess, checkPreprocessChoice),
    methods,
    grids,
    reduce: f.reduce,
    prototypeOptions,
  };
}

/**
 * The features a benchmark runs on and the preprocessing to use on them, `auto` resolved
 * (src/features/input.node.ts), with a progress bar while extracting (also used by `bench
 * episodes` and `bench openset`).
 */
async function loadFeatures(f: Pick<FewShotFlags, 'features' | 'data' | 'backbone' | 'cacheDir' | 'tta' | 'progress'>, preprocess: PreprocessChoice, say: (s: string) => void): Promise<LabelledFeatures> {
  if (f.features && f.data) throw new CLIError('Give either --features FILE or --data DIR (with --backbone), not both.');
  if (!f.features && !f.data) throw new CLIError('Missing input: give --features FILE, or --data DIR with --backbone NAME.');
  if (f.features && ttaFlag(f.tta) > 0) throw new CLIError(`--tta applies to --data (features extracted here); ${f.features} holds features already made: give --tta to protolens extract instead.`);
  let bar: Progress | undefined;
  try {
    return await labelledFeatures(f.features ? { features: f.features } : { data: f.data!, backbone: f.backbone, cacheDir: f.cacheDir, tta: ttaFlag(f.tta) }, {
      log: say, preprocess,
      onProgress: (p) => { if (f.progress) { bar ??= progressBar('extract', p.total, 'images'); bar.update(p.done); } },
    });
  } finally {
    bar?.stop();
  }
}

/** The command line that reproduces a run, for the report. */
function commandLine(argv: readonly string[]): string {
  const i = argv.findIndex((a) => a === 'bench');
  const args = i >= 0 ? argv.slice(i) : argv.slice(2);
  return ['protolens', ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** `protolens bench …`: benchmarks. */
export function register(program: Command): void {
  const bench = program.command('bench');
  registerEpisodes(bench, loadFeatures);
  registerOpenSet(bench, loadFeatures);
  registerCalibration(bench, loadFeatures);
  registerFewShot(bench);
}

/** `protolens bench fewshot`: the paper's Table 1. */
function registerFewShot(bench: Command): void {
  featureSourceOptions(bench
    .command('fewshot')
    .description('The paper\'s Table 1: 5-shot N-way tasks, hyper-parameters chosen on a validation half, paired t-tests'))
    .option('--ways <list>', 'numbers of classes per task', '2,5,20')
    .option('--subsets <n>', 'random subsets per N', '10')
    .option('--seed <n>', 'seed of every random choice', '0')
    .option('--preprocess <name>', preprocessHelp('feature preprocessing for every method'), 'auto')
    .option('--methods <list>', `rows to run (default all): ${FEWSHOT_METHODS.join(', ')}`)
    .option('--grid-j <list>', 'prototypes per class to try', DEFAULT_GRIDS.prototypesPerClass.join(','))
    .option('--grid-alpha-l1 <list>', 'penalty weights α to try with the L1 penalty', DEFAULT_GRIDS.alphaL1.join(','))
    .option('--grid-alpha-l2 <list>', 'penalty weights α to try with the L2 penalty', DEFAULT_GRIDS.alphaL2.join(','))
    .option('--grid-tau-scale <list>', 'τ scales (× median squared distance / 2) for the data-scaled rows', DEFAULT_GRIDS.tauScale.join(','))
    .option('--grid-l2 <list>', 'softmax L2 weights to try', DEFAULT_GRIDS.l2.join(','))
    .option('--grid-metric-tau-scale <list>', 'τ scales of the learned-metric row (in its whitened units)', DEFAULT_GRIDS.metricTauScale.join(','))
    .option('--grid-shrinkage <list>', 'shrinkages of the LDA whitening (learned-metric row and LDA references)', DEFAULT_GRIDS.shrinkage.join(','))
    .option('--max-iter <n>', `prototype model: outer iterations (default ${DEFAULT_PROTOTYPE_OPTIONS.maxIter})`)
    .option('--tol <x>', 'prototype model: relative loss decrease that stops training (default: the model\'s)')
    .option('--class-iter <n>', `prototype model: inner iterations of each class step (default ${DEFAULT_PROTOTYPE_OPTIONS.classIter})`)
    .option('--selection <how>', 'holdout: fit on 5, score on the other 5 (the paper); swap: also the other way round, averaged', 'holdout')
    .option('--no-reduce', 'fit on all feature columns instead of the fitting samples\' row space (same results, slower)')
    .option('-o, --out <dir>', 'output folder for fewshot.md, fewshot.json, fewshot.svg (replaced as a whole; only a folder protolens wrote, see --force)', 'bench-out')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--title <text>', 'heading of the report')
    .option('--no-chart', 'skip the SVG chart')
    .option('--json', 'print the results as JSON (what fewshot.json holds) instead of Markdown', false)
    .option('--no-progress', 'no progress bar')
    .action(async (flags: FewShotFlags) => {
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const options = fewShotOptions(flags);
      const check = { inputs: [flags.features, flags.data], force: flags.force };
      checkOutputFolder(flags.out, 'bench', check);
      let loaded;
      try {
        loaded = await loadFeatures(flags, options.preprocess, say);
      } catch (e) {
        throw toCliError(e);
      }
      const { fs, source, preprocess } = loaded;
      const bar = flags.progress ? progressBar('fewshot', 1, 'fits') : undefined;
      const cpu0 = process.cpuUsage();
      let result;
      try {
        result = runFewShot({ X: fs.X, labels: fs.labels }, {
          ...options, preprocess,
          onProgress: (p) => { bar?.setTotal(p.total); bar?.update(p.done, `N=${p.ways} subset ${p.subset + 1}`); },
        });
      } catch (e) {
        bar?.stop();
        throw toCliError(e, flags.features ?? flags.data);
      }
      bar?.stop();
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const command = commandLine(process.argv);
      const gemmChoice = nodeGemmChoice() ?? { backend: gemmBackendName() };
      const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, gemm: describeNodeGemm(gemmChoice) };
      const md = fewShotMarkdown(result, {
        title: flags.title ?? 'Few-shot benchmark (Table 1 protocol)', source, command, cpuSeconds,
        machine: `${machine.nproc} × ${machine.cpu}, Node ${machine.node}, ${machine.gemm}`,
      });
      const out = resolve(flags.out);
      const json = {
        format: 'protolens-fewshot', version: 1, library: `protolens ${VERSION}`, created: new Date().toISOString(),
        command, source, features: { path: flags.features ?? null, data: flags.data ?? null, rows: fs.X.rows, cols: fs.X.cols, meta: fs.meta },
        machine, cpuSeconds, ...result,
      };
      // Everything is rendered before the folder is replaced, so a failure leaves earlier outputs intact.
      const svg = flags.chart ? await renderSvg(fewShotChartSpec(result, flags.title ?? 'Few-shot benchmark')) : null;
      writeOutputFolder(out, { 'fewshot.json': JSON.stringify(json, null, 1) + '\n', 'fewshot.md': md + '\n', ...(svg ? { 'fewshot.svg': svg } : {}) }, 'bench', check);
      process.stdout.write(flags.json ? JSON.stringify(json, null, 1) + '\n' : md + '\n');
      say(`wrote ${join(out, 'fewshot.md')}, fewshot.json${svg ? ', fewshot.svg' : ''} in ${result.seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU; ${machine.nproc} × ${machine.cpu}; ${machine.gemm})`);
    });
}
