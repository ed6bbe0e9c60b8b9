/**
 * The default penalty weight α of the prototype model (L2), chosen on validation alphabets and
 * confirmed on others (BENCHMARKS.md, "The default α"). `protolens fit` without `--cv` uses the
 * model's defaults; this scores those defaults with each α of a grid on three kinds of task, on
 * one group of alphabets of a labelled feature file (labels `Alphabet/characterNN`):
 *
 *   all      every character of the group, `--train` drawings each to fit, the rest to test;
 *   20-way   5-shot 20-way tasks of the group (`--tasks` of them), 15 test drawings per class;
 *   5-way    the same with 5 classes.
 *
 * Features are preprocessed by the default (`sqrt-l2`) fitted on the training rows. Prints test
 * accuracy and test NLL per α and task kind, and the mean accuracy over kinds.
 *
 *   node --import tsx bench/default-alpha.ts --features F.npy --alphabets A,B,C [--alphas 0,1e-6,1e-5,1e-4,1e-3]
 *     [--penalty l2|l1] [--tasks 10] [--train 10] [--seed 0] [--kinds all,20-way,5-way]
 */
import { parseArgs } from 'node:util';
import { takeRows } from '../src/linalg/matrix.ts';
import { enableNodeGemm } from '../src/linalg/gemm-native.node.ts';
import { DEFAULT_PREPROCESS, FeatureTransform } from '../src/model/preprocess.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { SpanProjection } from '../src/select/span.ts';
import { rng, shuffled } from '../src/linalg/random.ts';
import { alphabetGroup, heldOutScore } from './alphabets.ts';

const { values } = parseArgs({
  options: {
    features: { type: 'string' }, alphabets: { type: 'string' },
    alphas: { type: 'string', default: '0,1e-6,1e-5,1e-4,1e-3' }, penalty: { type: 'string', default: 'l2' },
    tasks: { type: 'string', default: '10' }, train: { type: 'string', default: '10' },
    seed: { type: 'string', default: '0' }, kinds: { type: 'string', default: 'all,20-way,5-way' },
  },
});
if (!values.features || !values.alphabets) throw new Error('usage: --features F.npy --alphabets A,B,…');
const gemm = enableNodeGemm();
const { X, labels, group, rowsOf, classes } = alphabetGroup(values.features, values.alphabets);
const alphas = values.alphas.split(',').map(Number);
const seed = Number(values.seed);
const r = rng(seed);
const shuffle = <T>(a: readonly T[]): T[] => shuffled(a, r);

interface Task { kind: string; fit: number[]; test: number[] }
const tasks: Task[] = [];
for (const kind of values.kinds.split(',')) {
  if (kind === 'all') {
    const fit: number[] = [], test: number[] = [];
    for (const c of classes) { const r = shuffle(rowsOf.get(c)!); fit.push(...r.slice(0, Number(values.train))); test.push(...r.slice(Number(values.train))); }
    tasks.push({ kind, fit, test });
  } else {
    const n = Number(kind.split('-')[0]);
    for (let t = 0; t < Number(values.tasks); t++) {
      const fit: number[] = [], test: number[] = [];
      for (const c of shuffle(classes).slice(0, n)) { const r = shuffle(rowsOf.get(c)!); fit.push(...r.slice(0, 5)); test.push(...r.slice(5)); }
      tasks.push({ kind, fit, test });
    }
  }
}

const kinds = [...new Set(tasks.map((t) => t.kind))];
const acc = new Map<string, number[]>(), nll = new Map<string, number[]>(), secs = new Map<string, number>();
for (const task of tasks) {
  const t = new FeatureTransform(DEFAULT_PREPROCESS);
  const F = t.fitTransform(takeRows(X, task.fit));
  const sp = new SpanProjection().fit(F);
  const Ftr = sp.transform(F), Fte = sp.transform(t.transform(takeRows(X, task.test)));
  const ytr = task.fit.map((i) => labels[i]), yte = task.test.map((i) => labels[i]);
  for (const alpha of alphas) {
    const t0 = performance.now();
    const m = new PrototypeClassifier({ alpha, regularization: values.penalty as 'l1' | 'l2', seed }).fit(Ftr, ytr);
    const key = `${alpha}|${task.kind}`;
    secs.set(key, (secs.get(key) ?? 0) + (performance.now() - t0) / 1000);
    const score = heldOutScore(m.predictProba(Fte), m.classes_, yte);
    acc.set(key, [...(acc.get(key) ?? []), score.accuracy]);
    nll.set(key, [...(nll.get(key) ?? []), score.nll]);
  }
}
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
console.log(`${values.features}, alphabets ${[...group].join(', ')} (${classes.length} classes), penalty ${values.penalty}, seed ${seed}, GEMM ${gemm.backend}, ${new Date().toISOString()}`);
console.log(`| α | ${kinds.map((k) => `${k}: accuracy | ${k}: NLL | ${k}: fit s`).join(' | ')} | mean accuracy |`);
console.log(`|---|${kinds.map(() => '---:|---:|---:').join('|')}|---:|`);
for (const alpha of alphas) {
  const cells = kinds.map((k) => { const key = `${alpha}|${k}`; return `${mean(acc.get(key)!).toFixed(3)} | ${mean(nll.get(key)!).toFixed(3)} | ${secs.get(key)!.toFixed(1)}`; });
  console.log(`| ${alpha} | ${cells.join(' | ')} | ${mean(kinds.map((k) => mean(acc.get(`${alpha}|${k}`)!))).toFixed(3)} |`);
}
