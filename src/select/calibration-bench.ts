/**
 * Calibration on the Table 1 tasks (docs/openset.md, "Calibration"): for every task of the paper's
 * protocol (src/select/fewshot.ts), each method's setting is chosen on the validation half as in
 * Table 1, the chosen model fitted on the 5 fitting samples per class gets a temperature fitted on
 * the validation half, and its expected calibration error is measured on the test fold before
 * (T = 1) and after. The test fold is read only after the temperature is fitted.
 *
 * ECE is reported pooled (all test predictions of the tasks with the same N, 15 equal-width
 * confidence bins) and as the mean over tasks; with 20–200 test samples a task's own ECE is
 * dominated by binning noise, so the pooled figure is the one to read.
 *
 * Browser-safe: no I/O.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { codesFor } from '../model/labels.ts';
import { PrototypeClassifier } from '../model/prototype.ts';
import { SoftmaxRegression } from '../model/baselines.ts';
import { expectedCalibrationError, fitTemperature, temperedSoftmax, type ReliabilityBin } from '../model/calibration.ts';
import type { Classifier, Label } from '../model/types.ts';
import { evaluateTask, sampleTask, taskSeed, type FewShotMethod, type FewShotOptions, type FittedModel } from './fewshot.ts';
import { meanStd } from './stats.ts';

/** The rows calibrated: prototype rows of Table 1 and softmax. */
export const CALIBRATION_METHODS = ['proto-metric', 'proto-cv', 'softmax'] as const satisfies readonly FewShotMethod[];
export type CalibrationMethod = typeof CALIBRATION_METHODS[number];

/** One method on one task. */
export interface TaskCalibration {
  temperature: number;
  accuracy: number;
  ece: { before: number; after: number };
}

/** Pooled over the tasks of one N. */
export interface PooledCalibration {
  ece: { before: number; after: number };
  /** Mean and std over tasks of each task's ECE. */
  perTask: { before: { mean: number; std: number }; after: { mean: number; std: number } };
  temperature: { mean: number; std: number };
  accuracy: { mean: number; std: number };
  n: number;
  reliability: { before: ReliabilityBin[]; after: ReliabilityBin[] };
}

/** Result of {@link runCalibrationBench}. */
export interface CalibrationBenchResult {
  ways: number[];
  subsets: number;
  seed: number;
  methods: CalibrationMethod[];
  tasks: Array<{ ways: number; index: number; seed: number; methods: Partial<Record<CalibrationMethod, TaskCalibration>> }>;
  pooled: Record<number, Partial<Record<CalibrationMethod, PooledCalibration>>>;
  seconds: number;
}

/** Logits of the class layer (prototype model) or the softmax. */
function logitsOf(model: Classifier, X: Matrix): Matrix {
  if (model instanceof PrototypeClassifier || model instanceof SoftmaxRegression) return model.decisionFunction(X);
  throw new TypeError(`calibration: ${model.kind} has no logits`);
}

/** The key evaluateTask gives a fitted setting (its family and its parameters). */
function settingKey(method: CalibrationMethod, params: Record<string, unknown>): string {
  return `${method === 'softmax' ? 'softmax' : 'prototype'} ${JSON.stringify(params)}`;
}

/**
 * Runs the Table 1 tasks and calibrates each chosen model (see the module comment).
 * @param options - Table 1's options (ways, subsets, seed, preprocess, grids …); `methods` are some of {@link CALIBRATION_METHODS}.
 * @throws RangeError/TypeError for bad options or data (as runFewShot).
 * @example
 * runCalibrationBench({ X, labels }, { ways: [20], subsets: 10 }).pooled[20].softmax!.ece // { before: 0.12, after: 0.03 }
 */
export function runCalibrationBench(data: { X: MatrixInput; labels: readonly Label[] }, options: Omit<FewShotOptions, 'methods'> & { methods?: CalibrationMethod[] } = {}): CalibrationBenchResult {
  const t0 = performance.now();
  const X = toMatrix(data.X, { name: 'features' });
  const methods = options.methods ?? [...CALIBRATION_METHODS];
  const ways = options.ways ?? [2, 5, 20], subsets = options.subsets ?? 10, seed = options.seed ?? 0;
  const byClass = new Map<Label, number[]>();
  data.labels.forEach((l, i) => { const a = byClass.get(l); if (a) a.push(i); else byClass.set(l, [i]); });
  const sizes = { fit: options.fitPerClass ?? 5, validation: options.validationPerClass ?? 5, test: options.testPerClass ?? 10 };
  const result: CalibrationBenchResult = { ways, subsets, seed, methods, tasks: [], pooled: {}, seconds: 0 };
  const pooledProbs: Record<string, { before: number[][]; after: number[][]; codes: number[]; L: number }> = {};
  for (const n of ways) {
    for (let s = 0; s < subsets; s++) {
      const task = sampleTask(byClass, n, s, taskSeed(seed, n, s), sizes);
      const fitted = new Map<string, FittedModel>();
      const res = evaluateTask(X, data.labels, task, { ...options, methods, onProgress: undefined }, {
        fitted: (f) => { if (f.stage === 'select' && f.on === 'fit') fitted.set(f.key, f); },
      });
      const entry: CalibrationBenchResult['tasks'][number] = { ways: n, index: s, seed: task.seed, methods: {} };
      for (const m of methods) {
        const f = fitted.get(settingKey(m, res.methods[m]!.params))!;
        const classes = f.model.classes_;
        // Temperature from the validation half; the test fold is read after.
        const T = fitTemperature(logitsOf(f.model, f.features(task.validation)), codesFor(task.validation.map((i) => data.labels[i]), classes)).temperature;
        const codes = codesFor(task.test.map((i) => data.labels[i]), classes);
        const Z = logitsOf(f.model, f.features(task.test));
        const before = temperedSoftmax(Z, 1), after = temperedSoftmax(Z, T);
        const eb = expectedCalibrationError(before, codes), ea = expectedCalibrationError(after, codes);
        let ok = 0;
        for (let i = 0; i < Z.rows; i++) {
          let b = 0;
          for (let l = 1; l < Z.cols; l++) if (Z.data[i * Z.cols + l] > Z.data[i * Z.cols + b]) b = l;
          if (b === codes[i]) ok++;
        }
        entry.methods[m] = { temperature: T, accuracy: ok / Z.rows, ece: { before: eb.ece, after: ea.ece } };
        const key = `${n}/${m}`;
        const p = pooledProbs[key] ??= { before: [], after: [], codes: [], L: Z.cols };
        for (let i = 0; i < Z.rows; i++) {
          p.before.push(Array.from(before.data.subarray(i * Z.cols, (i + 1) * Z.cols)));
          p.after.push(Array.from(after.data.subarray(i * Z.cols, (i + 1) * Z.cols)));
          p.codes.push(codes[i]);
        }
      }
      result.tasks.push(entry);
    }
  }
  for (const n of ways) {
    result.pooled[n] = {};
    for (const m of methods) {
      const p = pooledProbs[`${n}/${m}`];
      const mat = (rows: number[][]): Matrix => ({ data: Float32Array.from(rows.flat()), rows: rows.length, cols: p.L });
      const eb = expectedCalibrationError(mat(p.before), p.codes), ea = expectedCalibrationError(mat(p.after), p.codes);
      const tasks = result.tasks.filter((t) => t.ways === n).map((t) => t.methods[m]!);
      const ms = (v: number[]) => { const r = meanStd(v); return { mean: r.mean, std: r.std }; };
      result.pooled[n][m] = {
        ece: { before: eb.ece, after: ea.ece }, n: p.codes.length,
        perTask: { before: ms(tasks.map((t) => t.ece.before)), after: ms(tasks.map((t) => t.ece.after)) },
        temperature: ms(tasks.map((t) => t.temperature)), accuracy: ms(tasks.map((t) => t.accuracy)),
        reliability: { before: eb.bins, after: ea.bins },
      };
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
  const lines = ['| method | N | test samples | accuracy | T (mean ± std) | ECE before | ECE after | per-task ECE before | per-task ECE after |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const f = (v: number) => v.toFixed(3);
  for (const m of r.methods) {
    for (const n of r.ways) {
      const p = r.pooled[n][m]!;
      lines.push(`| ${names[m] ?? m} | ${n} | ${p.n} | ${f(p.accuracy.mean)} | ${p.temperature.mean.toFixed(2)} ± ${p.temperature.std.toFixed(2)} | ${f(p.ece.before)} | **${f(p.ece.after)}** | ${f(p.perTask.before.mean)} ± ${f(p.perTask.before.std)} | ${f(p.perTask.after.mean)} ± ${f(p.perTask.after.std)} |`);
    }
  }
  return lines.join('\n');
}
