/**
 * `protolens fit FEATURES --out MODEL.json` (or `--features FEATURES`): fits the paper's prototype classifier on a labelled
 * feature file and saves it (atomically) for `predict` and `explain`.
 */
import type { Command } from 'commander';
import { DEFAULT_ALPHA, PrototypeClassifier, type MetricKind, type PrototypeOptions } from '../../model/prototype.ts';
import { checkPreprocessChoice } from '../../model/preprocess.ts';
import { DEFAULT_SEARCH_GRID, type SearchGrid } from '../../select/cv.ts';
import { describeSetting, fitFile, type FitFileResult } from '../../select/fit-file.node.ts';
import { DEFAULT_FALSE_REJECTION, DEFAULT_NOVELTY_SCORE, NOVELTY_SCORES, checkNoveltyScore } from '../../model/novelty.ts';
import type { CalibrationRecord } from '../../model/calibration.ts';
import { CLIError, toCliError } from '../errors.ts';
import { anyInt, featureFile, int, libraryChoice, numberList, positive, preprocessHelp } from '../flags.ts';
import { progressBar } from '../progress.ts';

/** The prototype model's flags, shared by `fit` and `evaluate`. */
export interface ModelFlags {
  prototypes?: string;
  regularization: string;
  alpha?: string;
  tau: string;
  tauScale?: string;
  maxIter?: string;
  metric: string;
  metricRank?: string;
  shrinkage?: string;
  seed: string;
  prune: boolean;
}

interface FitFlags extends ModelFlags {
  features?: string;
  json?: boolean;
  out: string;
  preprocess: string;
  progress: boolean;
  force: boolean;
  cv?: string | boolean;
  calibrate?: string | boolean;
  targetRejection?: string;
  noveltyScore?: string;
  gridJ?: string; gridRegularization?: string; gridAlphaL1?: string; gridAlphaL2?: string; gridTauScale?: string;
  gridMetric?: string; gridRank?: string; gridShrinkage?: string;
}

/** Parses the CLI flags into model options. @throws CLIError naming the flag and what was expected. */
export function fitOptions(f: ModelFlags): PrototypeOptions {
  const o: PrototypeOptions = {};
  if (f.prototypes !== undefined) o.nPrototypes = int('--prototypes', f.prototypes, 1);
  o.regularization = libraryChoice('--regularization', f.regularization,
    (r) => new PrototypeClassifier({ regularization: r as 'l1' | 'l2' }).getParams().regularization as 'l1' | 'l2');
  if (f.alpha !== undefined) o.alpha = positive('--alpha', f.alpha, true);
  o.tau = f.tau === 'auto' ? 'auto' : positive('--tau', f.tau);
  if (f.tauScale !== undefined) o.tauScale = positive('--tau-scale', f.tauScale);
  if (f.maxIter !== undefined) o.maxIter = int('--max-iter', f.maxIter, 0);
  o.metric = libraryChoice('--metric', f.metric, (m) => new PrototypeClassifier({ metric: m as MetricKind }).getParams().metric as MetricKind);
  if (f.metricRank !== undefined) o.metricRank = int('--metric-rank', f.metricRank, 1);
  if (f.shrinkage !== undefined) o.shrinkage = libraryChoice('--shrinkage', f.shrinkage, (v) => new PrototypeClassifier({ shrinkage: Number(v) }).getParams().shrinkage as number);
  o.seed = anyInt('--seed', f.seed);
  o.prune = f.prune;
  return o;
}

/** The search grid given by the --grid-* flags (the rest take the library's defaults). */
export function searchGrid(f: FitFlags): Partial<SearchGrid> {
  const g: Partial<SearchGrid> = {};
  if (f.gridJ) g.prototypesPerClass = numberList('--grid-j', f.gridJ, (x) => Number.isInteger(x) && x >= 1, 'positive integers');
  if (f.gridRegularization) g.regularization = f.gridRegularization.split(',').map((r) => libraryChoice('--grid-regularization', r.trim(), (v) => new PrototypeClassifier({ regularization: v as 'l1' | 'l2' }).getParams().regularization as 'l1' | 'l2'));
  if (f.gridAlphaL1) g.alphaL1 = numberList('--grid-alpha-l1', f.gridAlphaL1, (x) => x >= 0, 'non-negative numbers');
  if (f.gridAlphaL2) g.alphaL2 = numberList('--grid-alpha-l2', f.gridAlphaL2, (x) => x >= 0, 'non-negative numbers');
  if (f.gridTauScale) g.tauScale = numberList('--grid-tau-scale', f.gridTauScale, (x) => x > 0, 'positive numbers');
  if (f.gridMetric) g.metric = f.gridMetric.split(',').map((m) => libraryChoice('--grid-metric', m.trim(), (v) => new PrototypeClassifier({ metric: v as MetricKind }).getParams().metric as MetricKind));
  if (f.gridRank) g.metricRank = numberList('--grid-rank', f.gridRank, (x) => Number.isInteger(x) && x >= 1, 'positive integers');
  if (f.gridShrinkage) g.shrinkage = numberList('--grid-shrinkage', f.gridShrinkage, (x) => x > 0 && x <= 1, 'numbers in (0, 1]');
  return g;
}

/** The calibration asked for by --calibrate/--no-calibrate (on by default with --cv), or null. @throws CLIError for a bad value. */
export function calibrationFlags(f: Pick<FitFlags, 'calibrate' | 'targetRejection' | 'noveltyScore'>, cv: boolean): { folds?: number; targetFalseRejection: number; score: ReturnType<typeof checkNoveltyScore> } | null {
  const on = f.calibrate === undefined ? cv : f.calibrate !== false;
  if (!on) return null;
  const folds = typeof f.calibrate === 'string' ? int('--calibrate', f.calibrate, 2) : undefined;
  const rate = f.targetRejection ?? String(DEFAULT_FALSE_REJECTION);
  const targetFalseRejection = positive('--target-rejection', rate, true);
  if (targetFalseRejection >= 1) throw new CLIError(`Invalid value for --target-rejection: "${rate}". Expected a share below 1, e.g. 0.05.`);
  return { folds, targetFalseRejection, score: libraryChoice('--novelty-score', f.noveltyScore ?? DEFAULT_NOVELTY_SCORE, checkNoveltyScore) };
}

/** The calibration in words for the summary. */
export function calibrationLines(c: CalibrationRecord): string[] {
  const r = c.rejection;
  return [
    `Calibrated on ${c.source}: temperature T = ${c.temperature.toPrecision(3)}${c.margin ? ` · (margin / ${c.margin.reference.toPrecision(3)})^${c.margin.exponent.toFixed(3)}` : ''}; held-out ECE ${c.ece.before.toFixed(3)} → ${c.ece.after.toFixed(3)}, NLL ${c.nll.before.toFixed(3)} → ${c.nll.after.toFixed(3)}.`,
    `Rejection: ${r.score} novelty above ${r.threshold.toPrecision(4)} is answered "unknown" (${(100 * r.heldOutFalseRejection).toFixed(1)} % of held-out known samples; target ${(100 * r.targetFalseRejection).toFixed(1)} %).`,
  ];
}

/** What `fit --json` prints: the model file and what the fit did (the search too, with --cv). */
function fitSummary(r: FitFileResult, out: string): Record<string, unknown> {
  const m = r.model, h = m.history_, s = r.search;
  return {
    model: out, rows: r.rows, cols: r.cols, classes: m.classes_.length, prototypes: m.W_!.rows, seconds: r.seconds,
    iterations: m.nIter_, converged: m.converged_, loss: [h[0].loss, h.at(-1)!.loss], trainingAccuracy: h.at(-1)!.accuracy,
    metric: m.metric_.kind, tau: m.tau_, tauRule: m.tauRule_, preprocess: r.preprocess, preprocessSource: r.preprocessSource, seed: m.getParams().seed,
    search: s ? { folds: s.folds, seed: s.seed, settings: s.candidates.length, seconds: s.seconds, chosen: s.candidates[s.chosen], runnerUp: s.runnerUp === null ? null : s.candidates[s.runnerUp] } : null,
    calibration: r.calibration ? { source: r.calibration.source, temperature: r.calibration.temperature, ece: r.calibration.ece, nll: r.calibration.nll, rejection: r.calibration.rejection } : null,
  };
}

/** The preprocessing used, and why when --preprocess was left to auto. */
export function preprocessLine(r: Pick<FitFileResult, 'preprocess' | 'preprocessSource' | 'transform'>): string {
  const why = r.preprocessSource === 'features' ? ', as the features\' backbone recommends' : r.preprocessSource === 'default' ? ', the default for features that recommend none' : '';
  return `Features preprocessed: ${r.preprocess}${why}${r.transform ? ' (saved with the model)' : ''}.`;
}

/** What `fit` prints: the search (with --cv), then the fit. */
function fitText(r: FitFileResult, out: string): string {
  const { model } = r;
  const h = model.history_;
  const lines: string[] = [];
  if (r.search) {
    const s = r.search, c = s.candidates[s.chosen];
    lines.push(`Cross-validation (${s.folds} stratified folds, seed ${s.seed}, ${s.candidates.length} settings, ${s.seconds.toFixed(1)} s):`);
    lines.push(`  chosen:    ${c.mean.toFixed(3)} ± ${c.std.toFixed(3)}  ${describeSetting(c.params)}`);
    if (s.runnerUp !== null) {
      const u = s.candidates[s.runnerUp];
      lines.push(`  runner-up: ${u.mean.toFixed(3)} ± ${u.std.toFixed(3)}  ${describeSetting(u.params)}`);
    }
    lines.push('Refitted on all the samples; the search is recorded in the model file ("selection").');
  }
  lines.push(`Fitted ${model.W_!.rows} prototypes on ${r.rows} samples × ${r.cols} features, ${model.classes_.length} classes ` +
    `in ${r.seconds.toFixed(1)} s: ${model.nIter_} iterations${model.converged_ ? ' (converged)' : ''}, ` +
    `loss ${h[0].loss.toFixed(4)} → ${h.at(-1)!.loss.toFixed(4)}, training accuracy ${h.at(-1)!.accuracy.toFixed(3)}.`);
  lines.push(`Metric: ${model.metric_.kind}. τ = ${model.tau_.toPrecision(4)} (${model.tauRule_}). ${preprocessLine(r)}`);
  if (r.calibration) lines.push(...calibrationLines(r.calibration));
  lines.push(`Saved ${out}`);
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  const d = DEFAULT_SEARCH_GRID;
  program
    .command('fit')
    .argument('[features]', 'feature file (.npy with its .json sidecar, .csv or .jsonl), with labels')
    .option('-f, --features <file>', 'the feature file, as a flag instead of the first argument')
    .requiredOption('-o, --out <model.json>', 'where to save the model (an existing file only if protolens wrote it, see --force)')
    .option('--force', 'replace --out even if it is not a protolens model (never an input or a feature sidecar)')
    .option('--cv [folds]', 'choose prototypes per class, penalty, α, τ scale, metric, rank and shrinkage by stratified K-fold cross-validation on both cores, then refit on everything (default 5 folds)')
    .option('--calibrate [folds]', 'fit the class layer\'s temperature and the rejection threshold on out-of-fold outputs of K-fold cross-fitting (default 5 folds; with --cv, on by default and on its folds)')
    .option('--no-calibrate', 'with --cv: no temperature, no rejection threshold')
    .option('--target-rejection <rate>', 'share of held-out known samples the rejection threshold answers "unknown"', String(DEFAULT_FALSE_REJECTION))
    .option('--novelty-score <name>', `novelty score of the rejection rule: ${NOVELTY_SCORES.join(' | ')}`, DEFAULT_NOVELTY_SCORE)
    .option('-J, --prototypes <J>', 'number of prototypes (default: 2 per class; with --cv: from --grid-j)')
    .option('--regularization <l1|l2>', 'penalty on W', 'l2')
    .option('--alpha <a>', `penalty weight α (default: ${DEFAULT_ALPHA.l2} with l2, ${DEFAULT_ALPHA.l1} with l1)`)
    .option('--tau <auto|number>', 'scale τ of the prototype layer; auto = tau-scale × the data scale (docs/model.md)', 'auto')
    .option('--tau-scale <s>', 'multiplier of the data scale when --tau auto (default 0.1 Euclidean, 1 under a learned metric)')
    .option('--metric <name>', 'distance under the prototypes: euclidean (the paper\'s) | diagonal | lowrank (learned, from shrinkage-LDA whitening)', 'euclidean')
    .option('--metric-rank <r>', 'rows of the learned map Ω for --metric lowrank (default: the feature dimension, up to 128)')
    .option('--shrinkage <s>', 'shrinkage in (0, 1] of the within-class scatter in the metric\'s start (default 0.2)')
    .option('--max-iter <n>', 'outer iterations (default 100)')
    .option('--seed <s>', 'seed of every random choice (folds included)', '0')
    .option('--preprocess <method>', preprocessHelp('feature transform learned on these features and saved with the model'), 'auto')
    .option('--grid-j <list>', 'with --cv: prototypes per class to try', d.prototypesPerClass.join(','))
    .option('--grid-regularization <list>', 'with --cv: penalties to try', d.regularization.join(','))
    .option('--grid-alpha-l1 <list>', 'with --cv: α to try with L1', d.alphaL1.join(','))
    .option('--grid-alpha-l2 <list>', 'with --cv: α to try with L2', d.alphaL2.join(','))
    .option('--grid-tau-scale <list>', 'with --cv: τ scales to try (τ auto)', d.tauScale.join(','))
    .option('--grid-metric <list>', 'with --cv: metrics to try', d.metric.join(','))
    .option('--grid-rank <list>', 'with --cv: ranks of the low-rank metric to try', d.metricRank.join(','))
    .option('--grid-shrinkage <list>', 'with --cv: shrinkages of the metric\'s start to try', d.shrinkage.join(','))
    .option('--no-prune', 'keep prototypes that end up the best match of no training sample (by default they are removed)')
    .option('--json', 'print the fit\'s summary as JSON', false)
    .option('--no-progress', 'no progress bar')
    .action(async (positional: string | undefined, flags: FitFlags) => {
      const features = featureFile(positional, flags.features);
      if (!/\.json$/i.test(flags.out)) throw new CLIError(`Invalid value for --out: "${flags.out}". Expected a path ending in .json.`);
      const options = fitOptions(flags);
      const folds = flags.cv === undefined ? null : flags.cv === true ? 5 : int('--cv', String(flags.cv), 2);
      const preprocess = libraryChoice('--preprocess', flags.preprocess, checkPreprocessChoice);
      const grid = searchGrid(flags);
      const calibrate = calibrationFlags(flags, folds !== null);
      if (folds !== null) {
        // The grid decides these; the fixed values would be ignored.
        delete options.nPrototypes; delete options.regularization; delete options.alpha; delete options.tau; delete options.tauScale;
        delete options.metric; delete options.metricRank; delete options.shrinkage;
      }
      const bar = flags.progress && folds === null ? progressBar('fit', Number(new PrototypeClassifier(options).getParams().maxIter), 'iterations') : null;
      // With --cv, a bar over the search's fits (candidates × folds, on every core), then a line for the refit.
      const cvBar = folds !== null && flags.progress ? progressBar(`cross-validating ${folds} folds`, 0, 'fits') : null;
      const onJob = (done: number, total: number) => {
        if (!cvBar) return;
        if (done === 0) cvBar.setTotal(total);
        cvBar.update(done);
        if (done === total) { cvBar.stop(); process.stderr.write('refitting the chosen setting on all rows…\n'); }
      };
      let r;
      try {
        r = await fitFile({
          features, out: flags.out, preprocess, model: options, check: { force: flags.force },
          cv: folds === null ? undefined : { folds, grid, onJob },
          calibrate: calibrate ? { ...calibrate, onFold: (k, n) => { if (flags.progress) process.stderr.write(`calibration: fold ${k}/${n} fitted\n`); } } : undefined,
          onProgress: (rec) => bar?.update(rec.iter, `loss ${rec.loss.toFixed(4)} acc ${rec.accuracy.toFixed(3)}`),
        });
      } catch (e) {
        throw toCliError(e);
      } finally {
        bar?.stop();
      }
      process.stdout.write(flags.json ? JSON.stringify(fitSummary(r, flags.out), null, 1) + '\n' : fitText(r, flags.out));
    });
}
