// The open-set benchmark (issue 18): its two measures by hand, the splits it draws, and a run on
// synthetic grouped data through the library and the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from '../src/linalg/random.ts';
import type { Matrix } from '../src/linalg/matrix.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { auroc, fprAtTpr, runOpenSet } from '../src/select/openset.ts';
import { hiddenDirections } from '../src/data/synthetic.ts';
import { runCli } from './helpers/cli.ts';

/** `groups` groups of `classes` classes, `n` samples each, in 12-d: a group centre, a class offset, unit noise. Labels "g<k>/c<m>". */
function grouped(groups: number, classes: number, n: number, seed: number): { X: Matrix; labels: string[] } {
  const r = rng(seed), D = 12;
  const data: number[] = [], labels: string[] = [];
  for (let g = 0; g < groups; g++) {
    const gc = Array.from({ length: D }, () => 6 * r.normal());
    for (let c = 0; c < classes; c++) {
      const cc = gc.map((v) => v + 4 * r.normal());
      for (let i = 0; i < n; i++) { data.push(...cc.map((v) => v + r.normal())); labels.push(`g${g}/c${c}`); }
    }
  }
  return { X: { data: Float32Array.from(data), rows: labels.length, cols: D }, labels };
}

test('AUROC and FPR at 95 % TPR on hand-counted scores', () => {
  assert.equal(auroc([0.1, 0.4], [0.35, 0.8]), 0.75);
  assert.equal(auroc([1, 2], [3, 4]), 1);
  assert.equal(auroc([1, 1], [1, 1]), 0.5); // ties count half
  assert.equal(fprAtTpr([1, 2, 3, 4], [2.5, 9], 0.5), 0);
  // Threshold accepting 95 % of 20 known scores 1..20 is 19; unknowns 5 and 19 are accepted, 25 is not.
  assert.equal(fprAtTpr(Array.from({ length: 20 }, (_, i) => i + 1), [5, 19, 25]), 2 / 3);
});

test('runOpenSet: disjoint seeded splits, unknowns of both kinds, calibration changes no label, separated blobs score high', () => {
  const d = grouped(4, 8, 25, 3);
  const o = { known: 4, unknownClasses: 4, unseenGroups: 1, splits: 2, seed: 5, preprocess: 'none' as const };
  const r = runOpenSet(d, o);
  assert.equal(r.grouped, true);
  for (const s of r.splits) {
    const { split } = s;
    const group = (i: number) => d.labels[i].split('/')[0];
    const knownSet = new Set(split.known);
    const all = [...split.fit, ...split.validation, ...split.queries, ...split.unknownSame, ...split.unknownNew];
    assert.equal(new Set(all).size, all.length, 'no row in two roles');
    assert.deepEqual([split.fit.length, split.validation.length, split.queries.length], [20, 20, 40]);
    assert.ok(split.unknownSame.every((i) => !knownSet.has(d.labels[i]) && !split.unseenGroups.includes(group(i))));
    assert.ok(split.unknownNew.length === 40 && split.unknownNew.every((i) => split.unseenGroups.includes(group(i))));
    assert.deepEqual(s.labelsChanged, { metric: 0, euclidean: 0 });
    for (const m of ['metric', 'euclidean'] as const) assert.ok(s.thresholds[m]!.falseRejection <= 0.25, `${m}: ${s.thresholds[m]!.falseRejection}`);
  }
  // Classes 4 noise units apart: every distance score separates them almost perfectly.
  for (const key of ['metric/spread', 'euclidean/spread', 'ncm/distance']) {
    assert.ok(r.summary.rows[key].same.auroc.mean > 0.9, `${key}: ${r.summary.rows[key].same.auroc.mean}`);
    assert.ok(r.summary.rows[key].unseen!.auroc.mean > 0.9, `${key} unseen: ${r.summary.rows[key].unseen!.auroc.mean}`);
  }
  // Same seed, same splits and figures.
  assert.deepEqual(runOpenSet(d, { ...o, models: ['ncm'] }).splits.map((s) => s.split), r.splits.map((s) => s.split));
  assert.throws(() => runOpenSet(d, { ...o, known: 30 }), /classes have 20 samples .*30 known classes are needed/);
});

test('protolens bench openset writes the report and its JSON into --out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-openset-bench-'));
  try {
    const d = grouped(4, 8, 25, 4);
    const file = join(dir, 'f.npy'), out = join(dir, 'out');
    writeFeatures(file, { X: d.X, labels: d.labels });
    const r = await runCli(['bench', 'openset', '-f', file, '--known', '4', '--unknown-classes', '4', '--unseen-groups', '1', '--splits', '2', '--models', 'metric,softmax,ncm', '-o', out, '--no-progress']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\| ours, learned metric: distance in spreads — \*\*default\*\* \|/);
    assert.match(r.out, /\| max\. softmax probability \(softmax, L2\) \| [+−]\d\.\d{3} \(p = /);
    const json = JSON.parse(readFileSync(join(out, 'openset.json'), 'utf8'));
    assert.equal(json.format, 'protolens-openset');
    assert.equal(json.options.seed, 0);
    assert.equal(json.splits.length, 2);
    assert.equal(readFileSync(join(out, 'openset.md'), 'utf8'), r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('protolens bench calibration: the library\'s figures, written into --out; a folder it did not write is refused, bad methods are named', async () => {
  const { runCalibrationBench } = await import('../src/select/calibration-bench.ts');
  const dir = mkdtempSync(join(tmpdir(), 'protolens-calibration-bench-'));
  try {
    const d = grouped(2, 5, 20, 6);
    const file = join(dir, 'f.npy'), out = join(dir, 'out');
    writeFeatures(file, { X: d.X, labels: d.labels });
    const args = ['bench', 'calibration', '-f', file, '--ways', '5', '--subsets', '2', '--seed', '3', '--methods', 'softmax,proto-metric', '--preprocess', 'none', '--centre-tasks', '2', '--no-progress'];
    const r = await runCli([...args, '-o', out]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(join(out, 'calibration.md'), 'utf8'), r.out);
    assert.match(r.out, /ECE after, centred on 2 other tasks/);
    const json = JSON.parse(readFileSync(join(out, 'calibration.json'), 'utf8'));
    assert.equal(json.format, 'protolens-calibration');
    assert.equal(json.seed, 3);
    // The same run through the library: the same tasks, the same figures.
    const lib = runCalibrationBench(d, { ways: [5], subsets: 2, seed: 3, methods: ['softmax', 'proto-metric'], preprocess: 'none', centreTasks: 2 });
    for (const m of ['softmax', 'proto-metric'] as const) {
      assert.deepEqual(json.pooled[5][m].ece, lib.pooled[5][m]!.ece, m);
      assert.equal(json.pooled[5][m].centred.ece, lib.pooled[5][m]!.centred!.ece, m);
    }
    // Its own folder is replaced; another folder is not touched.
    assert.equal((await runCli([...args, '-o', out, '--json'])).code, 0);
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep');
    const refused = await runCli([...args, '-o', mine]);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /was not written by protolens .*--force/);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep');
    const bad = await runCli([...args.filter((a) => a !== 'softmax,proto-metric' && a !== '--methods'), '--methods', 'ncm', '-o', out]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--methods.*"ncm".*proto-metric, proto-cv, softmax/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runCalibrationBench: T from the validation half, ECE on the test fold before and after, accuracy untouched', async () => {
  const { runCalibrationBench } = await import('../src/select/calibration-bench.ts');
  const { DEFAULT_MARGIN_PRIOR, DEFAULT_SOFTENING_PRIOR, DEFAULT_TEMPERATURE_PRIOR } = await import('../src/model/calibration.ts');
  const d = grouped(2, 5, 20, 6);
  const told: number[] = [];
  const r = runCalibrationBench(d, { ways: [5], subsets: 2, seed: 3, methods: ['softmax', 'proto-metric'], preprocess: 'none', onProgress: (p) => { told.push(p.done, p.total); } });
  assert.equal(r.tasks.length, 2);
  assert.deepEqual(told, [1, 2, 2, 2]); // after each task: done, total
  for (const m of ['softmax', 'proto-metric'] as const) {
    const p = r.pooled[5][m]!;
    assert.equal(p.n, 100); // 2 tasks × 5 classes × 10 test samples
    assert.ok(p.ece.before >= 0 && p.ece.after >= 0 && p.ece.before <= 1 && p.ece.after <= 1);
    // The reliability bins count every test sample once, before and after.
    assert.equal(p.reliability.before.reduce((a, b) => a + b.count, 0), 100);
    assert.equal(p.reliability.after.reduce((a, b) => a + b.count, 0), 100);
    for (const t of r.tasks) {
      const c = t.methods[m]!;
      assert.ok(c.temperature > 0 && c.single.temperature > 0 && c.mle.temperature > 0);
      assert.ok(Math.abs(c.exponent) <= 0.9);
      // The priors only ever pull T towards 1 (strongly from below, weakly from above): between the maximum-likelihood T and 1.
      assert.ok(c.single.temperature >= Math.min(1, c.mle.temperature) - 1e-9 && c.single.temperature <= Math.max(1, c.mle.temperature) + 1e-9, `T ${c.single.temperature} vs ${c.mle.temperature}`);
      assert.ok(c.oracle.temperature > 0 && c.oracle.ece >= 0 && c.oracle.ece <= 1);
    }
    // The sampling floor: a calibrated predictor's ECE at these confidences (near 1 on these blobs, so near 0).
    assert.ok(p.floor.mean >= 0 && p.floor.p95 >= p.floor.mean - 1e-12 && p.floor.p95 < 0.5, JSON.stringify(p.floor));
    assert.ok(p.floor.shareAbove >= 0 && p.floor.shareAbove <= (p.floor.p95 > 0.03 ? 1 : 0.05), JSON.stringify(p.floor));
  }
  // Seeded per row from the bench seed: the same run gives the same floor.
  const again = runCalibrationBench(d, { ways: [5], subsets: 2, seed: 3, methods: ['softmax', 'proto-metric'], preprocess: 'none' });
  assert.deepEqual(again.pooled[5].softmax!.floor, r.pooled[5].softmax!.floor);
  assert.equal(r.prior, DEFAULT_TEMPERATURE_PRIOR);
  assert.equal(r.marginPrior, DEFAULT_MARGIN_PRIOR);
  assert.equal(r.softPrior, DEFAULT_SOFTENING_PRIOR);
  // The margin rule off: "after" is the single T exactly.
  const single = runCalibrationBench(d, { ways: [5], subsets: 2, seed: 3, methods: ['softmax', 'proto-metric'], preprocess: 'none', marginPrior: false });
  for (const m of ['softmax', 'proto-metric'] as const) {
    assert.equal(single.pooled[5][m]!.ece.after, r.pooled[5][m]!.single.ece);
    for (const t of single.tasks) assert.equal(t.methods[m]!.exponent, 0);
  }
  // Without the priors and with one T the fits are the same rule: same T, same ECE.
  const flat = runCalibrationBench(d, { ways: [5], subsets: 2, seed: 3, methods: ['softmax'], preprocess: 'none', prior: 0, softPrior: 0, marginPrior: false });
  const p0 = flat.pooled[5].softmax!;
  assert.equal(p0.ece.after, p0.mle.ece);
  for (const t of flat.tasks) assert.equal(t.methods.softmax!.temperature, t.methods.softmax!.mle.temperature);
  assert.equal(p0.ece.before, r.pooled[5].softmax!.ece.before);
});

test('runCalibrationBench centred on other tasks: their classes are not the task\'s, their test folds make the centre, an infinite prior returns it', async () => {
  const { runCalibrationBench, otherTasks } = await import('../src/select/calibration-bench.ts');
  const { sampleTask } = await import('../src/select/fewshot.ts');
  const d = grouped(2, 5, 20, 6);
  const byClass = new Map<string, number[]>();
  d.labels.forEach((l: string, i: number) => { const a = byClass.get(l); if (a) a.push(i); else byClass.set(l, [i]); });
  const sizes = { fit: 5, validation: 5, test: 10 };
  const task = sampleTask(byClass, 5, 0, 11, sizes);
  const others = otherTasks(byClass, task, 3, sizes);
  assert.equal(others.length, 3);
  for (const o of others) {
    assert.equal(o.classes.length, 5);
    for (const c of o.classes) assert.ok(!task.classes.includes(c), `${c} is one of the task's classes`);
  }
  assert.deepEqual(otherTasks(byClass, task, 3, sizes), others); // seeded from the task
  assert.notDeepEqual(others[0].classes, others[1].classes);
  const opts = { ways: [5], subsets: 2, seed: 3, methods: ['softmax' as const, 'proto-metric' as const], preprocess: 'none' as const };
  const plain = runCalibrationBench(d, opts);
  const r = runCalibrationBench(d, { ...opts, centreTasks: 2 });
  assert.equal(plain.centreTasks, 0);
  assert.equal(plain.pooled[5].softmax!.centred, undefined);
  for (const m of ['softmax', 'proto-metric'] as const) {
    // The other rules are untouched by the extra tasks.
    assert.equal(r.pooled[5][m]!.ece.after, plain.pooled[5][m]!.ece.after);
    for (const t of r.tasks) assert.equal(t.methods[m]!.centred!.centre.heldOut, 2 * 5 * 10); // 2 tasks × 5 classes × 10 test samples
    assert.ok(r.pooled[5][m]!.centred!.ece >= 0 && r.pooled[5][m]!.centred!.ece <= 1);
  }
  const pinned = runCalibrationBench(d, { ...opts, centreTasks: 2, centrePrior: 1e9, centreExponentPrior: 1e9 });
  for (const t of pinned.tasks) {
    for (const m of ['softmax', 'proto-metric'] as const) {
      const c = t.methods[m]!.centred!;
      assert.ok(Math.abs(c.temperature / c.centre.temperature - 1) < 1e-3 && Math.abs(c.exponent - c.centre.exponent) < 1e-6, JSON.stringify(c));
    }
  }
  assert.throws(() => runCalibrationBench(d, { ...opts, centreTasks: -1 }), /centreTasks must be an integer ≥ 0, got -1/);
  // κ per validation sample by default (1.6 × 25 = 40 for these 5-way tasks), or fixed when given.
  assert.equal(r.centrePriorPerSample, 1.6);
  assert.equal(r.centrePrior, undefined);
  assert.equal(pinned.centrePrior, 1e9);
  assert.equal(pinned.centrePriorPerSample, undefined);
  // Given as it is by default (it once leaked into Table 1's options and was refused there): the same run.
  const given = runCalibrationBench(d, { ...opts, centreTasks: 2, centrePriorPerSample: 1.6 });
  assert.deepEqual({ ...given, seconds: 0 }, { ...r, seconds: 0 });
  const stronger = runCalibrationBench(d, { ...opts, centreTasks: 2, centrePriorPerSample: 4 });
  assert.equal(stronger.centrePriorPerSample, 4);
  assert.notDeepEqual(stronger.tasks.map((t) => t.methods.softmax!.centred!.temperature), r.tasks.map((t) => t.methods.softmax!.centred!.temperature));
  assert.throws(() => runCalibrationBench(d, { ...opts, centreTasks: 2, centrePrior: 4, centrePriorPerSample: 0.4 }), /centrePrior \(κ\) or centrePriorPerSample/);
  // Bad strengths are refused before any task is fitted (as the bench's flags arrive: Number('abc') is NaN).
  let fitted = 0;
  const watch = { onOutputs: () => { fitted++; } };
  assert.throws(() => runCalibrationBench(d, { ...opts, ...watch, centreTasks: 2, centrePriorPerSample: Number('abc') }), /centrePriorPerSample must be a finite number ≥ 0, got NaN/);
  assert.throws(() => runCalibrationBench(d, { ...opts, ...watch, centreTasks: 2, centrePrior: -1 }), /centrePrior must be a finite number ≥ 0, got -1/);
  assert.throws(() => runCalibrationBench(d, { ...opts, ...watch, centreTasks: 2, centreExponentPrior: Infinity }), /centreExponentPrior must be a finite number ≥ 0, got Infinity/);
  assert.equal(fitted, 0, 'refused before any model was fitted');
});

test('calibrationCentres with settings: each other task is fitted with the given setting, not its own choice', async () => {
  const { calibrationCentres, otherTasks, runCalibrationBench } = await import('../src/select/calibration-bench.ts');
  const { sampleTask } = await import('../src/select/fewshot.ts');
  const d = grouped(2, 5, 20, 7);
  const byClass = new Map<string, number[]>();
  d.labels.forEach((l: string, i: number) => { const a = byClass.get(l); if (a) a.push(i); else byClass.set(l, [i]); });
  const sizes = { fit: 5, validation: 5, test: 10 };
  const others = otherTasks(byClass, sampleTask(byClass, 5, 0, 12, sizes), 2, sizes);
  const base = { preprocess: 'none' as const, methods: ['softmax' as const] };
  // A grid of one λ chooses that λ on every task: the same centre as the setting given over the full grid.
  const gridOfOne = calibrationCentres(d, others, { ...base, grids: { l2: [1e-1] } }).softmax!;
  const given = calibrationCentres(d, others, { ...base, settings: { softmax: { l2: 1e-1 } } }).softmax!;
  assert.deepEqual(given, gridOfOne);
  const chosen = calibrationCentres(d, others, base).softmax!;
  assert.notDeepEqual(chosen, given, 'the default grid chooses another λ than 0.1 on these tasks');
  assert.equal(given.heldOut, 2 * 5 * 10);
  // The Euclidean cross-validated row is fitted with the given penalty family (L1 or L2), whatever its grids hold.
  const setting = (regularization: string, alpha: number) => ({ regularization, prototypesPerClass: 1, alpha, tau: 'auto', tauScale: 0.3 });
  const cv = (s: Record<string, unknown>) => calibrationCentres(d, others, { preprocess: 'none', methods: ['proto-cv'], grids: { alphaL1: [1e-2], alphaL2: [1e-6] }, settings: { 'proto-cv': s } })['proto-cv']!;
  assert.notDeepEqual(cv(setting('l1', 1e-3)), cv(setting('l2', 1e-3)));
  assert.deepEqual(cv(setting('l1', 1e-3)), calibrationCentres(d, others, { preprocess: 'none', methods: ['proto-cv'], settings: { 'proto-cv': setting('l1', 1e-3) } })['proto-cv']);
  assert.throws(() => calibrationCentres(d, others, { ...base, settings: { softmax: {} } }), /softmax setting \{\} has no number "l2"/);
  // In the bench: with grids of one setting per method, the task's own setting is every task's choice, so the centres agree.
  const opts = { ways: [5], subsets: 2, seed: 4, methods: ['softmax' as const, 'proto-metric' as const], preprocess: 'none' as const, centreTasks: 2,
    grids: { l2: [1e-3], prototypesPerClass: [1], metricTauScale: [1], shrinkage: [0.2] } };
  const same = runCalibrationBench(d, opts), own = runCalibrationBench(d, { ...opts, centreSameSetting: false });
  assert.equal(same.centreSameSetting, true);
  assert.equal(own.centreSameSetting, false);
  for (const m of ['softmax', 'proto-metric'] as const) assert.equal(same.pooled[5][m]!.centred!.ece, own.pooled[5][m]!.centred!.ece);
});

test('the few-shot calibration flow the docs give, through the package\'s own entry, is the bench\'s centred rule', async () => {
  // docs/openset.md, "Few-shot tasks": other tasks from classes the task does not use, fitted with the task's chosen
  // setting, make the centre; the task's validation logits are fitted around it. Done by hand with what the package exports,
  // it must give the T0 and β runCalibrationBench reports for the same task.
  const lib = await import('../src/index.ts');
  const { runCalibrationBench } = await import('../src/select/calibration-bench.ts');
  const d = grouped(2, 5, 20, 8);
  const sizes = { fit: 5, validation: 5, test: 10 }, seed = 5, preprocess = 'none' as const, methods = ['softmax' as const, 'proto-metric' as const];
  const bench = runCalibrationBench(d, { ways: [5], subsets: 1, seed, methods, preprocess, centreTasks: 2 });
  const byClass = new Map<string, number[]>();
  d.labels.forEach((l: string, i: number) => { const a = byClass.get(l); if (a) a.push(i); else byClass.set(l, [i]); });
  const task = lib.sampleTask(byClass, 5, 0, lib.taskSeed(seed, 5, 0), sizes);
  const res = lib.selectOnTask(d.X, d.labels, task, { methods, preprocess });
  // The same choices and models as the whole protocol's selection step (evaluateTask), which also refits and tests.
  const chosen = new Map<string, import('../src/index.ts').FittedModel>();
  const full = lib.evaluateTask(d.X, d.labels, task, { methods, preprocess }, { fitted: (f) => { if (f.stage === 'select' && f.on === 'fit') chosen.set(f.key, f); } });
  const others = lib.otherTasks(byClass, task, 2, sizes);
  for (const m of methods) {
    const { params, fitted: f } = res.methods[m]!;
    assert.deepEqual(params, full.methods[m]!.params);
    assert.deepEqual(res.methods[m]!.validation, full.methods[m]!.validation);
    assert.deepEqual(Array.from(lib.classLogits(f.model, f.features(task.test)).data), Array.from(lib.classLogits(chosen.get(lib.settingKey(m, params))!.model, f.features(task.test)).data));
    const centre = lib.calibrationCentres(d, others, { methods: [m], preprocess, settings: { [m]: params } })[m]!;
    const Zv = lib.classLogits(f.model, f.features(task.validation));
    const yv = task.validation.map((i) => f.model.classes_.indexOf(d.labels[i]));
    const rule = lib.fitMarginTemperatureAround(Zv, yv, centre);
    const want = bench.tasks[0].methods[m]!.centred!;
    assert.equal(rule.temperature, want.temperature, m);
    assert.equal(rule.margin.exponent, want.exponent, m);
    assert.equal(centre.heldOut, want.centre.heldOut);
  }
  assert.deepEqual([...lib.CALIBRATION_METHODS], ['proto-metric', 'proto-cv', 'softmax']);
});

test('runOpenSet: the learned metric\'s shrinkage is chosen per split on the validation NLL, and a grid of one is used as given', () => {
  // Classes differ only along 2 low-variance directions hidden among 4 noisy ones: whitening (small shrinkage) is what
  // separates them (AUROC .80 against .59 for shrinkage 1 here, closed-set accuracy .93 against .74).
  const h = hiddenDirections({ nClasses: 10, samplesPerClass: 20, seed: 4, informative: 2, noise: 4 });
  const d = { X: h.X, labels: h.y };
  const o = { known: 5, unknownClasses: 5, unseenGroups: 0, splits: 3, seed: 1, preprocess: 'none' as const, models: ['metric' as const] };
  const chosen = runOpenSet(d, { ...o, shrinkages: [0.1, 1] });
  assert.deepEqual(chosen.splits.map((s) => s.shrinkage), [0.1, 0.1, 0.1]);
  const fixed = runOpenSet(d, { ...o, shrinkages: [1] });
  assert.deepEqual(fixed.splits.map((s) => s.shrinkage), [1, 1, 1]);
  const same = (r: typeof chosen) => r.summary.rows['metric/spread'].same.auroc.mean;
  assert.ok(same(chosen) > same(fixed), `chosen ${same(chosen)} against shrinkage 1 alone ${same(fixed)}`);
  assert.throws(() => runOpenSet(d, { ...o, shrinkages: [0] }), /shrinkages: 0 is not in \(0, 1\]/);
});
