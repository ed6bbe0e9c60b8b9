/**
 * Calibration on the Table 1 tasks (docs/openset.md, "Calibration"): for every task of the paper's
 * protocol (src/select/fewshot.ts), each method's setting is chosen on the validation half as in
 * Table 1, the chosen model fitted on the 5 fitting samples per class gets a temperature fitted on
 * the validation half, and its expected calibration error is measured on the test fold before
 * (T = 1) and after. The test fold is read only after the temperature is fitted. The "after"
 * figures use the library's rule: a margin-dependent temperature T(x) = T0 · r(x)^β
 * ({@link fitMarginTemperature}, priors `prior` on log T0 and `marginPrior` on β; `marginPrior:
 * false` for one T). On the same outputs the bench also fits one T with the prior on log T
 * (`single`, the rule before the margin) and one T by plain maximum likelihood (`mle`, the rule
 * before the prior), so the three are compared on the same tasks.
 *
 * With `centreTasks` C > 0 (few-shot tasks' own rule, docs/openset.md): for each task, C other
 * tasks of the same N are drawn from the classes that are not its own ({@link otherTasks}), each
 * method is fitted on them with the setting the task chose (`centreSameSetting`, the default since
 * the eighth session's exploration, BENCHMARKS.md; false: each other task chooses its own as in
 * Table 1, the sixth session's rule), the margin rule fitted on their pooled test folds is the
 * centre ({@link calibrationCentres}), and the task's validation half is fitted around it
 * ({@link fitMarginTemperatureAround}): `centred`.
 *
 * A diagnostic, never a result: `oracle` is the ECE with T fitted (by maximum likelihood) on the
 * test fold itself, about what temperature scaling could reach if T were known; where even it
 * stays above the target, a better estimate of T is not what is missing.
 *
 * ECE is reported pooled (all test predictions of the tasks with the same N, 15 equal-width
 * confidence bins) and as the mean over tasks; with 20–200 test samples a task's own ECE is
 * dominated by binning noise, so the pooled figure is the one to read. Even pooled, 200–2000
 * samples leave sampling noise: `floor` is the pooled ECE a perfectly calibrated predictor with the
 * same confidences (after scaling) would show by chance (mean and 95th percentile of 1000 seeded
 * draws), context for reading the target, not a second target.
 *
 * Browser-safe: no I/O.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { codesFor } from '../model/labels.ts';
import { deriveSeed } from '../linalg/random.ts';
import {
  DEFAULT_CENTRE_EXPONENT_PRIOR, DEFAULT_CENTRE_PRIOR_PER_SAMPLE, DEFAULT_MARGIN_PRIOR, DEFAULT_SOFTENING_PRIOR, DEFAULT_TEMPERATURE_PRIOR, eceSamplingFloor, expectedCalibrationError, fitMarginTemperature, fitMarginTemperatureAround, fitTemperature,
  sampleTemperatures, temperedSoftmax, type ReliabilityBin, type TemperatureCentre,
} from '../model/calibration.ts';
import type { Label } from '../model/types.ts';
import { sampleTask, selectOnTask, taskSeed, type FewShotOptions, type FewShotTask, type FittedModel } from './fewshot.ts';
import { CALIBRATION_METHODS, calibrationCentres, classLogits, otherTasks, type CalibrationMethod } from './fewshot-calibration.ts';

export { CALIBRATION_METHODS, calibrationCentres, otherTasks, type CalibrationMethod };
import { meanStd } from './stats.ts';


/** One method on one task. */
export interface TaskCalibration {
  /** T (T0 of the margin rule) fitted with the priors. */
  temperature: number;
  /** β of the margin rule (0: one T). */
  exponent: number;
  accuracy: number;
  ece: { before: number; after: number };
  /** One T fitted with the prior on log T (the rule before the margin), and the test ECE with it. */
  single: { temperature: number; ece: number };
  /** T fitted by maximum likelihood alone, and the test ECE with it. */
  mle: { temperature: number; ece: number };
  /** Diagnostic: T fitted on the test fold itself, and the test ECE with it. */
  oracle: { temperature: number; ece: number };
  /**
   * With `centreTasks`: the margin rule centred on the calibration of other tasks (the centre,
   * fitted on their pooled test folds), fitted on this task's validation half around it, and the
   * test ECE with it.
   */
  centred?: { temperature: number; exponent: number; ece: number; centre: { temperature: number; exponent: number; heldOut: number } };
}

/** Pooled over the tasks of one N. */
export interface PooledCalibration {
  ece: { before: number; after: number };
  /** Mean and std over tasks of each task's ECE. */
  perTask: { before: { mean: number; std: number }; after: { mean: number; std: number } };
  temperature: { mean: number; std: number };
  /** β of the margin rule over tasks. */
  exponent: { mean: number; std: number };
  /** One T with the prior on log T: pooled test ECE and T over tasks. */
  single: { ece: number; temperature: { mean: number; std: number } };
  /** Maximum likelihood alone (no prior): pooled test ECE and T over tasks. */
  mle: { ece: number; temperature: { mean: number; std: number } };
  /** Diagnostic: T fitted on each task's test fold (pooled test ECE, T over tasks). */
  oracle: { ece: number; temperature: { mean: number; std: number } };
  /** With `centreTasks`: the rule centred on other tasks (pooled test ECE, T0 and β over tasks, and the share of draws of a calibrated predictor with its confidences above the target). */
  centred?: { ece: number; temperature: { mean: number; std: number }; exponent: { mean: number; std: number }; floor: { mean: number; p95: number; shareAbove: number } };
  accuracy: { mean: number; std: number };
  n: number;
  /**
   * Context, not a target: the pooled ECE a perfectly calibrated predictor with the same
   * confidences (after scaling) and as many test samples would show by chance ({@link eceSamplingFloor},
   * 1000 draws seeded by deriveSeed(bench seed, N · 100 + method index)).
   */
  floor: { mean: number; p95: number; seed: number; /** Share of the draws above the target ECE .03. */ shareAbove: number };
  reliability: { before: ReliabilityBin[]; after: ReliabilityBin[] };
}

/** Result of {@link runCalibrationBench}. */
export interface CalibrationBenchResult {
  ways: number[];
  subsets: number;
  seed: number;
  /** Strength of the prior on log T behind the "after" figures. */
  prior: number;
  /** Strength of the prior on log T above 0 behind them. */
  softPrior: number;
  /** Strength of the prior on β behind them (false: one T). */
  marginPrior: number | false;
  /** Other tasks drawn per task for the centred rule (0: not run), and the strengths of its priors around their centre: κ fixed (`centrePrior`) or per held-out sample (`centrePriorPerSample`), and γ. */
  centreTasks: number;
  centrePrior?: number;
  centrePriorPerSample?: number;
  centreExponentPrior: number;
  /** Whether the other tasks were fitted with the task's own chosen setting (true) or chose their own (false). */
  centreSameSetting: boolean;
  methods: CalibrationMethod[];
  tasks: Array<{ ways: number; index: number; seed: number; methods: Partial<Record<CalibrationMethod, TaskCalibration>> }>;
  pooled: Record<number, Partial<Record<CalibrationMethod, PooledCalibration>>>;
  seconds: number;
}

/** One chosen model's held-out outputs on one task, given to the `onOutputs` hook of {@link runCalibrationBench}. */
export interface CalibrationOutputs {
  ways: number;
  index: number;
  method: CalibrationMethod;
  /** Logits and true classes of the validation half (what T is fitted on) and of the test fold. */
  validation: { logits: Matrix; codes: Int32Array };
  test: { logits: Matrix; codes: Int32Array };
  /** The chosen model (fitted on the fitting half) with its feature map, and the task: for rules that read more than logits (novelty scores, a model fitted on the other half). */
  fitted: FittedModel;
  task: FewShotTask;
}

/** Test probabilities of one method on one task, kept to pool over the tasks of one N. */
interface PooledProbs { before: number[]; after: number[]; single: number[]; mle: number[]; oracle: number[]; centred: number[]; codes: number[]; L: number }

const argmaxAccuracy = (Z: Matrix, codes: ArrayLike<number>): number => {
  let ok = 0;
  for (let i = 0; i < Z.rows; i++) {
    let b = 0;
    for (let l = 1; l < Z.cols; l++) if (Z.data[i * Z.cols + l] > Z.data[i * Z.cols + b]) b = l;
    if (b === codes[i]) ok++;
  }
  return ok / Z.rows;
};

/**
 * One chosen model: T fitted on the validation half (with the prior, and by maximum likelihood
 * alone), then the test fold's ECE at T = 1 and at each T; the test probabilities join `pool`.
 */
function calibrateChosen(f: FittedModel, task: FewShotTask, labels: readonly Label[], rule: { prior: number; softPrior: number; marginPrior: number | false; centre?: TemperatureCentre & { heldOut: number }; centrePrior?: number; centrePriorPerSample?: number; centreExponentPrior: number }, pool: PooledProbs,
  onOutputs: (v: CalibrationOutputs['validation'], t: CalibrationOutputs['test']) => void): TaskCalibration {
  const classes = f.model.classes_;
  // Temperature from the validation half; the test fold is read after.
  const Zv = classLogits(f.model, f.features(task.validation));
  const yv = codesFor(task.validation.map((i) => labels[i]), classes);
  const { prior, softPrior, marginPrior } = rule;
  const fitted = marginPrior === false ? { ...fitTemperature(Zv, yv, { prior, softPrior }), margin: undefined } : fitMarginTemperature(Zv, yv, { prior, softPrior, exponentPrior: marginPrior });
  const Tsingle = fitTemperature(Zv, yv, { prior, softPrior }).temperature;
  const Tmle = fitTemperature(Zv, yv, { prior: 0, softPrior: 0 }).temperature;
  const around = rule.centre && fitMarginTemperatureAround(Zv, yv, rule.centre, { prior: rule.centrePrior, priorPerSample: rule.centrePriorPerSample, exponentPrior: rule.centreExponentPrior });
  const codes = codesFor(task.test.map((i) => labels[i]), classes);
  const Z = classLogits(f.model, f.features(task.test));
  onOutputs({ logits: Zv, codes: yv }, { logits: Z, codes });
  // Diagnostic only: the best T for the test fold itself.
  const Toracle = fitTemperature(Z, codes, { prior: 0, softPrior: 0 }).temperature;
  const before = temperedSoftmax(Z, 1), after = temperedSoftmax(Z, sampleTemperatures(Z, fitted.temperature, fitted.margin));
  const single = temperedSoftmax(Z, Tsingle), mle = temperedSoftmax(Z, Tmle), oracle = temperedSoftmax(Z, Toracle);
  pool.before.push(...before.data);
  pool.after.push(...after.data);
  pool.single.push(...single.data);
  pool.mle.push(...mle.data);
  pool.oracle.push(...oracle.data);
  const centred = around && temperedSoftmax(Z, sampleTemperatures(Z, around.temperature, around.margin));
  if (centred) pool.centred.push(...centred.data);
  pool.codes.push(...codes);
  return {
    temperature: fitted.temperature, exponent: fitted.margin?.exponent ?? 0, accuracy: argmaxAccuracy(Z, codes),
    ece: { before: expectedCalibrationError(before, codes).ece, after: expectedCalibrationError(after, codes).ece },
    single: { temperature: Tsingle, ece: expectedCalibrationError(single, codes).ece },
    mle: { temperature: Tmle, ece: expectedCalibrationError(mle, codes).ece },
    oracle: { temperature: Toracle, ece: expectedCalibrationError(oracle, codes).ece },
    ...(around && centred && rule.centre ? {
      centred: {
        temperature: around.temperature, exponent: around.margin.exponent, ece: expectedCalibrationError(centred, codes).ece,
        centre: { temperature: rule.centre.temperature, exponent: rule.centre.margin?.exponent ?? 0, heldOut: rule.centre.heldOut },
      },
    } : {}),
  };
}

/** Issue 18's target for the ECE after scaling; the sampling floor reports how often a calibrated predictor exceeds it. */
export const ECE_TARGET = 0.03;

/** The largest probability of each row. */
function confidences(P: Matrix): Float64Array {
  const c = new Float64Array(P.rows);
  for (let i = 0; i < P.rows; i++) {
    let m = 0;
    for (let l = 0; l < P.cols; l++) m = Math.max(m, P.data[i * P.cols + l]);
    c[i] = Math.min(1, m);
  }
  return c;
}

/** The centred rule's pooled figures (its floor drawn from the same seed as the main rule's). */
function centredPooled(P: Matrix, codes: number[], tasks: TaskCalibration[], floorSeed: number): NonNullable<PooledCalibration['centred']> {
  const f = eceSamplingFloor(confidences(P), { seed: floorSeed, above: ECE_TARGET });
  const ms = (v: number[]) => { const r = meanStd(v); return { mean: r.mean, std: r.std }; };
  return {
    ece: expectedCalibrationError(P, codes).ece, temperature: ms(tasks.map((t) => t.centred!.temperature)), exponent: ms(tasks.map((t) => t.centred!.exponent)),
    floor: { mean: f.mean, p95: f.p95, shareAbove: f.shareAbove! },
  };
}

/** Pools one method's test probabilities over the tasks of one N; `floorSeed` seeds the sampling floor. */
function pooled(p: PooledProbs, tasks: TaskCalibration[], floorSeed: number): PooledCalibration {
  const mat = (v: number[]): Matrix => ({ data: Float32Array.from(v), rows: p.codes.length, cols: p.L });
  const floor = eceSamplingFloor(confidences(mat(p.after)), { seed: floorSeed, above: ECE_TARGET });
  const eb = expectedCalibrationError(mat(p.before), p.codes), ea = expectedCalibrationError(mat(p.after), p.codes);
  const ms = (v: number[]) => { const r = meanStd(v); return { mean: r.mean, std: r.std }; };
  return {
    ece: { before: eb.ece, after: ea.ece }, n: p.codes.length,
    perTask: { before: ms(tasks.map((t) => t.ece.before)), after: ms(tasks.map((t) => t.ece.after)) },
    temperature: ms(tasks.map((t) => t.temperature)), exponent: ms(tasks.map((t) => t.exponent)), accuracy: ms(tasks.map((t) => t.accuracy)),
    single: { ece: expectedCalibrationError(mat(p.single), p.codes).ece, temperature: ms(tasks.map((t) => t.single.temperature)) },
    mle: { ece: expectedCalibrationError(mat(p.mle), p.codes).ece, temperature: ms(tasks.map((t) => t.mle.temperature)) },
    oracle: { ece: expectedCalibrationError(mat(p.oracle), p.codes).ece, temperature: ms(tasks.map((t) => t.oracle.temperature)) },
    ...(p.centred.length ? { centred: centredPooled(mat(p.centred), p.codes, tasks, floorSeed) } : {}),
    floor: { mean: floor.mean, p95: floor.p95, seed: floorSeed, shareAbove: floor.shareAbove! },
    reliability: { before: eb.bins, after: ea.bins },
  };
}

/**
 * Runs the Table 1 tasks and calibrates each chosen model (see the module comment).
 * @param options - Table 1's options (ways, subsets, seed, preprocess, grids …); `methods` are some of {@link CALIBRATION_METHODS}; `prior` the strength of the prior on log T (default {@link DEFAULT_TEMPERATURE_PRIOR}); `softPrior` that of the prior on log T above 0 (default {@link DEFAULT_SOFTENING_PRIOR}); `marginPrior` that of the prior on the margin exponent β (default {@link DEFAULT_MARGIN_PRIOR}; false: one T); `centreTasks` the other tasks per task for the centred rule (default 0: not run), fitted with the task's own setting unless `centreSameSetting` is false, with `centrePrior` κ (fixed) or `centrePriorPerSample` (κ per validation sample) and `centreExponentPrior` γ around their calibration (defaults {@link DEFAULT_CENTRE_PRIOR_PER_SAMPLE} per sample, {@link DEFAULT_CENTRE_EXPONENT_PRIOR}); `onOutputs` is given each chosen model's validation and test logits (bench/calibration-prior-grid.ts compares rules for T on them); `onProgress` is told after each task (tasks done of all).
 * @throws RangeError/TypeError for bad options or data (as runFewShot).
 * @example
 * runCalibrationBench({ X, labels }, { ways: [20], subsets: 10 }).pooled[20].softmax!.ece // { before: 0.12, after: 0.03 }
 */
export function runCalibrationBench(data: { X: MatrixInput; labels: readonly Label[] },
  options: Omit<FewShotOptions, 'methods'> & {
    methods?: CalibrationMethod[]; prior?: number; softPrior?: number; marginPrior?: number | false;
    centreTasks?: number; centrePrior?: number; centrePriorPerSample?: number; centreExponentPrior?: number; centreSameSetting?: boolean; onOutputs?: (o: CalibrationOutputs) => void;
  } = {}): CalibrationBenchResult {
  const t0 = performance.now();
  const X = toMatrix(data.X, { name: 'features' });
  const {
    prior = DEFAULT_TEMPERATURE_PRIOR, softPrior = DEFAULT_SOFTENING_PRIOR, marginPrior = DEFAULT_MARGIN_PRIOR,
    centreTasks = 0, centrePrior, centrePriorPerSample: perSample, centreExponentPrior = DEFAULT_CENTRE_EXPONENT_PRIOR, centreSameSetting = true, onOutputs, onProgress, ...fewShot
  } = options;
  if (!Number.isInteger(centreTasks) || centreTasks < 0) throw new RangeError(`centreTasks must be an integer ≥ 0, got ${centreTasks}`);
  if (centrePrior !== undefined && perSample !== undefined) throw new RangeError('give centrePrior (κ) or centrePriorPerSample (κ per validation sample), not both');
  const centrePriorPerSample = centrePrior === undefined ? perSample ?? DEFAULT_CENTRE_PRIOR_PER_SAMPLE : undefined;
  // Checked before any task is fitted (a bad value would otherwise fail only at the first task's calibration).
  for (const [name, v] of [['centrePrior', centrePrior], ['centrePriorPerSample', centrePriorPerSample], ['centreExponentPrior', centreExponentPrior]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a finite number ≥ 0, got ${v}`);
  }
  const methods = options.methods ?? [...CALIBRATION_METHODS];
  const ways = options.ways ?? [2, 5, 20], subsets = options.subsets ?? 10, seed = options.seed ?? 0;
  const byClass = new Map<Label, number[]>();
  data.labels.forEach((l, i) => { const a = byClass.get(l); if (a) a.push(i); else byClass.set(l, [i]); });
  const sizes = { fit: options.fitPerClass ?? 5, validation: options.validationPerClass ?? 5, test: options.testPerClass ?? 10 };
  const result: CalibrationBenchResult = { ways, subsets, seed, prior, softPrior, marginPrior, centreTasks, ...(centrePrior !== undefined ? { centrePrior } : { centrePriorPerSample }), centreExponentPrior, centreSameSetting, methods, tasks: [], pooled: {}, seconds: 0 };
  const pools: Record<string, PooledProbs> = {};
  let done = 0;
  for (const n of ways) {
    for (let s = 0; s < subsets; s++) {
      const task = sampleTask(byClass, n, s, taskSeed(seed, n, s), sizes);
      const res = selectOnTask(X, data.labels, task, { ...fewShot, methods, onProgress: undefined });
      const entry: CalibrationBenchResult['tasks'][number] = { ways: n, index: s, seed: task.seed, methods: {} };
      const settings = centreSameSetting ? Object.fromEntries(methods.map((m) => [m, res.methods[m]!.params])) : undefined;
      const centres = centreTasks > 0 ? calibrationCentres({ X, labels: data.labels }, otherTasks(byClass, task, centreTasks, sizes), { ...fewShot, methods, settings }) : {};
      for (const m of methods) {
        const f = res.methods[m]!.fitted;
        const pool = pools[`${n}/${m}`] ??= { before: [], after: [], single: [], mle: [], oracle: [], centred: [], codes: [], L: f.model.classes_.length };
        entry.methods[m] = calibrateChosen(f, task, data.labels, { prior, softPrior, marginPrior, centre: centres[m], centrePrior, centrePriorPerSample, centreExponentPrior }, pool, (validation, test) => onOutputs?.({ ways: n, index: s, method: m, validation, test, fitted: f, task }));
      }
      result.tasks.push(entry);
      onProgress?.({ done: ++done, total: ways.length * subsets, ways: n, subset: s });
    }
  }
  for (const n of ways) {
    result.pooled[n] = {};
    for (const m of methods) {
      const floorSeed = deriveSeed(seed, n * 100 + CALIBRATION_METHODS.indexOf(m));
      result.pooled[n][m] = pooled(pools[`${n}/${m}`], result.tasks.filter((t) => t.ways === n).map((t) => t.methods[m]!), floorSeed);
    }
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/**
 * The pooled ECE as a Markdown table: one row per method and N.
 * @example
 * calibrationMarkdown(result) // '| method | N | ECE before | ECE after | …'
 */
export function calibrationMarkdown(r: CalibrationBenchResult, names: Record<string, string>): string {
  const centred = r.centreTasks > 0;
  const extra = centred ? ` ECE after, centred on ${r.centreTasks} other tasks | its T0, β (mean ± std) | its calibrated predictor above .03 |` : '';
  const lines = [`| method | N | test samples | accuracy | T (mean ± std) | β (mean ± std) | ECE before | ECE after | ECE after, one T | per-task ECE before | per-task ECE after | T, no prior | ECE after, no prior | ECE, T fitted on the test fold | ECE of a calibrated predictor (mean, 95th pct.) | calibrated predictor above .03 |${extra}`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${centred ? '---:|---:|---:|' : ''}`];
  const f = (v: number) => v.toFixed(3);
  const t = (v: { mean: number; std: number }) => `${v.mean.toFixed(2)} ± ${v.std.toFixed(2)}`;
  for (const m of r.methods) {
    for (const n of r.ways) {
      const p = r.pooled[n][m]!;
      // The rule to read in bold: the centred one when it was run (the few-shot rule), else the validation half alone.
      const c = p.centred ? ` **${f(p.centred.ece)}** | ${t(p.centred.temperature)}, ${t(p.centred.exponent)} | ${(100 * p.centred.floor.shareAbove).toFixed(0)} % |` : '';
      const after = p.centred ? f(p.ece.after) : `**${f(p.ece.after)}**`;
      lines.push(`| ${names[m] ?? m} | ${n} | ${p.n} | ${f(p.accuracy.mean)} | ${t(p.temperature)} | ${t(p.exponent)} | ${f(p.ece.before)} | ${after} | ${f(p.single.ece)} | ${f(p.perTask.before.mean)} ± ${f(p.perTask.before.std)} | ${f(p.perTask.after.mean)} ± ${f(p.perTask.after.std)} | ${t(p.mle.temperature)} | ${f(p.mle.ece)} | ${f(p.oracle.ece)} | ${f(p.floor.mean)}, ${f(p.floor.p95)} | ${(100 * p.floor.shareAbove).toFixed(0)} % |${c}`);
    }
  }
  return lines.join('\n');
}
