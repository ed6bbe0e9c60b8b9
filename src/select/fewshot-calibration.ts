/**
 * Calibration for few-shot tasks (docs/openset.md, "Few-shot tasks: a centre from other tasks"):
 * a 5-shot task has too few held-out samples to fit a temperature on alone, so the calibration of
 * the same method on other tasks of the same kind, drawn from classes the task does not use, is
 * the centre its own fit is pulled towards ({@link fitMarginTemperatureAround}).
 *
 *   const others = otherTasks(byClass, task, 5, sizes);                     // 5 tasks, none of task's classes
 *   const centre = calibrationCentres({ X, labels }, others, { methods: ['proto-cv'], settings: { 'proto-cv': chosen } })['proto-cv'];
 *   const rule = fitMarginTemperatureAround(validationLogits, validationCodes, centre);
 *
 * Tasks are those of the paper's protocol ({@link sampleTask}); each method is chosen and fitted as
 * in Table 1's selection ({@link selectOnTask}). bench/calibration.ts measures the rule on the Table 1 tasks.
 *
 * Browser-safe: no I/O.
 */
import { toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed } from '../linalg/random.ts';
import { codesFor } from '../model/labels.ts';
import { PrototypeClassifier } from '../model/prototype.ts';
import { SoftmaxRegression } from '../model/baselines.ts';
import { fitMarginTemperature, type TemperatureCentre } from '../model/calibration.ts';
import type { Classifier, Label } from '../model/types.ts';
import { sampleTask, selectOnTask, type FewShotMethod, type FewShotOptions, type FewShotTask, type FittedModel } from './fewshot.ts';

/** The rows calibrated: prototype rows of Table 1 and softmax. */
export const CALIBRATION_METHODS = ['proto-metric', 'proto-cv', 'softmax'] as const satisfies readonly FewShotMethod[];
export type CalibrationMethod = typeof CALIBRATION_METHODS[number];

/**
 * Logits of the class layer (prototype model) or of the softmax: what a temperature divides.
 * @throws TypeError for a classifier without logits (nearest class mean, k-NN).
 * @example
 * fitMarginTemperatureAround(classLogits(model, validationX), validationCodes, centre)
 */
export function classLogits(model: Classifier, X: Matrix): Matrix {
  if (model instanceof PrototypeClassifier || model instanceof SoftmaxRegression) return model.decisionFunction(X);
  throw new TypeError(`calibration: ${model.kind} has no logits`);
}

/**
 * The key {@link evaluateTask} and {@link selectOnTask} give the model fitted with a method's
 * setting (its family and its parameters, as `FittedModel.key`): how to find that model among
 * those evaluateTask's `fitted` hook receives.
 * @example
 * settingKey('softmax', { l2: 0.001 }) // 'softmax {"l2":0.001}'
 */
export function settingKey(method: CalibrationMethod, params: Record<string, unknown>): string {
  return `${method === 'softmax' ? 'softmax' : 'prototype'} ${JSON.stringify(params)}`;
}

/**
 * The calibration a few-shot method carries to new tasks: on each of `tasks` (e.g. drawn from
 * classes of the user's own that the new tasks will not use, {@link otherTasks}), each method's
 * setting is chosen on the validation half and fitted on the fitting half as in Table 1
 * ({@link selectOnTask}: Table 1's selection, without its refit); the logits of its test fold
 * are pooled over the tasks, and the library's margin rule is fitted on them
 * ({@link fitMarginTemperature}, default priors). A new task then fits its own validation half
 * around it ({@link fitMarginTemperatureAround}).
 * @param options - Table 1's options (preprocess, grids …); `methods` are some of {@link CALIBRATION_METHODS}.
 * @returns per method, the centre and the number of held-out samples it was fitted on.
 * With `settings`, a method given one is not chosen on each task but fitted with that setting
 * (the setting a task of the user's chose): the centre is then the calibration of that very
 * setting on other tasks, not an average over whatever the other tasks chose.
 * @throws RangeError when the tasks do not all have the same N, for a setting the method cannot be fitted with, or for bad data or options (as runFewShot).
 * @example
 * const centres = calibrationCentres({ X, labels }, otherTasks(byClass, task, 5, sizes), { methods: ['proto-metric'] });
 * fitMarginTemperatureAround(Zv, yv, centres['proto-metric']!) // { temperature: 1.6, margin: { exponent: 0.1, … } }
 * calibrationCentres({ X, labels }, others, { methods: ['softmax'], settings: { softmax: { l2: 1e-5 } } }) // softmax with λ 1e-5 on every task
 */
export function calibrationCentres(data: { X: MatrixInput; labels: readonly Label[] }, tasks: readonly FewShotTask[],
  options: Omit<FewShotOptions, 'methods'> & { methods?: CalibrationMethod[]; settings?: Partial<Record<CalibrationMethod, Record<string, unknown>>> } = {}): Partial<Record<CalibrationMethod, TemperatureCentre & { heldOut: number }>> {
  const X = toMatrix(data.X, { name: 'features' });
  const { settings = {}, ...fewShot } = options;
  const methods = options.methods ?? [...CALIBRATION_METHODS];
  if (new Set(tasks.map((t) => t.ways)).size > 1) throw new RangeError(`calibrationCentres: the tasks have ${[...new Set(tasks.map((t) => t.ways))].join(', ')} classes; a centre pools tasks of one N`);
  const free = methods.filter((m) => settings[m] === undefined), fixed = methods.filter((m) => settings[m] !== undefined);
  const pools = new Map<CalibrationMethod, { z: number[]; y: number[]; L: number }>();
  for (const other of tasks) {
    const chosen = new Map<CalibrationMethod, FittedModel>();
    if (free.length) {
      const res = selectOnTask(X, data.labels, other, { ...fewShot, methods: free, onProgress: undefined });
      for (const m of free) chosen.set(m, res.methods[m]!.fitted);
    }
    for (const m of fixed) chosen.set(m, fitSetting(X, data.labels, other, m, settings[m]!, fewShot));
    for (const m of methods) {
      const f = chosen.get(m)!;
      const Z = classLogits(f.model, f.features(other.test));
      const p = pools.get(m) ?? { z: [], y: [], L: Z.cols };
      p.z.push(...Z.data);
      p.y.push(...codesFor(other.test.map((i) => data.labels[i]), f.model.classes_));
      pools.set(m, p);
    }
  }
  const out: Partial<Record<CalibrationMethod, TemperatureCentre & { heldOut: number }>> = {};
  for (const [m, p] of pools) {
    const f = fitMarginTemperature({ data: Float32Array.from(p.z), rows: p.y.length, cols: p.L }, p.y);
    out[m] = { temperature: f.temperature, margin: f.margin, heldOut: p.y.length };
  }
  return out;
}

/**
 * Fits `method` on a task's fitting half with one setting (`params`, as the method's selection
 * records it) instead of choosing among its grid: Table 1's method with singleton grids (one fit).
 * @throws RangeError when `params` is not a setting of the method's grid family.
 */
function fitSetting(X: Matrix, labels: readonly Label[], task: FewShotTask, method: CalibrationMethod, params: Record<string, unknown>,
  options: Omit<FewShotOptions, 'methods'>): FittedModel {
  const one = (k: string): number[] => {
    const v = params[k];
    if (typeof v !== 'number') throw new RangeError(`calibrationCentres: the ${method} setting ${JSON.stringify(params)} has no number "${k}"`);
    return [v];
  };
  const run: { method: FewShotMethod; grids: Partial<FewShotOptions['grids']> } = method === 'softmax' ? { method, grids: { l2: one('l2') } }
    : method === 'proto-metric' ? { method, grids: { prototypesPerClass: one('prototypesPerClass'), metricTauScale: one('tauScale'), shrinkage: one('shrinkage') } }
      : params.regularization === 'l1' ? { method: 'proto-l1-tau', grids: { prototypesPerClass: one('prototypesPerClass'), alphaL1: one('alpha'), tauScale: one('tauScale') } }
        : { method: 'proto-l2-tau', grids: { prototypesPerClass: one('prototypesPerClass'), alphaL2: one('alpha'), tauScale: one('tauScale') } };
  const got = selectOnTask(X, labels, task, { ...options, methods: [run.method], grids: { ...options.grids, ...run.grids }, onProgress: undefined }).methods[run.method]?.fitted;
  const want = settingKey(method, params);
  if (got?.key !== want) throw new RangeError(`calibrationCentres: ${method} cannot be fitted with the setting ${JSON.stringify(params)} (fitted ${got?.key ?? 'nothing'}, expected ${want})`);
  return got;
}

/** Seed stream of the other tasks behind the centred rule (deriveSeed(task seed, CENTRE_STREAM + k)). */
const CENTRE_STREAM = 7000;

/**
 * The `count` other tasks behind the centred rule for `task`: same N and sizes, drawn (seeds
 * deriveSeed(task seed, 7000 + k)) from the classes that are not the task's.
 * @throws RangeError when fewer than N classes with enough samples remain.
 * @example
 * otherTasks(byClass, task, 5, { fit: 5, validation: 5, test: 10 }).every((o) => o.classes.every((c) => !task.classes.includes(c))) // true
 */
export function otherTasks(byClass: ReadonlyMap<Label, readonly number[]>, task: FewShotTask, count: number, sizes: { fit: number; validation: number; test: number }): FewShotTask[] {
  const own = new Set(task.classes);
  const rest = new Map([...byClass].filter(([c]) => !own.has(c)));
  return Array.from({ length: count }, (_, k) => sampleTask(rest, task.ways, k, deriveSeed(task.seed, CENTRE_STREAM + k), sizes));
}
