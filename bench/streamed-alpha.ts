/**
 * The streamed fit's α (STREAMED_ALPHA) on real features (BENCHMARKS.md, "The streamed fit's α"):
 * `fitStreamed` over `memoryChunks` on all characters of a group of alphabets of a labelled feature
 * file (labels `Alphabet/characterNN`), `--train` drawings each to fit and the rest to test, as
 * bench/default-alpha.ts's "all" task; features preprocessed by the default (`sqrt-l2`) fitted
 * on the training rows, then projected on their span. J = 2 per class (fixed, as the streamed fit
 * is), chunks of `--chunk` rows, the default 3 epochs. For each α and seed: test accuracy and NLL,
 * the objective over all training rows at the start and after each epoch (undone epochs marked),
 * and the fit's seconds.
 *
 *   node --import tsx bench/streamed-alpha.ts --features F.npy --alphabets A,B,C [--alphas 1e-5,1e-3]
 *     [--seeds 0,1,2] [--train 10] [--chunk 256] [--epochs 3]
 */
import { parseArgs } from 'node:util';
import { takeRows } from '../src/linalg/matrix.ts';
import { enableNodeGemm } from '../src/linalg/gemm-native.node.ts';
import { DEFAULT_PREPROCESS, FeatureTransform } from '../src/model/preprocess.ts';
import { fitStreamed, memoryChunks } from '../src/model/streamed.ts';
import { SpanProjection } from '../src/select/span.ts';
import { rng, shuffled } from '../src/linalg/random.ts';
import { alphabetGroup, heldOutScore } from './alphabets.ts';

const { values } = parseArgs({
  options: {
    features: { type: 'string' }, alphabets: { type: 'string' },
    alphas: { type: 'string', default: '1e-5,1e-3' }, seeds: { type: 'string', default: '0,1,2' },
    train: { type: 'string', default: '10' }, chunk: { type: 'string', default: '256' }, epochs: { type: 'string', default: '3' },
  },
});
if (!values.features || !values.alphabets) throw new Error('usage: --features F.npy --alphabets A,B,…');
const gemm = enableNodeGemm();
const { X, labels, group, rowsOf, classes } = alphabetGroup(values.features, values.alphabets);
const alphas = values.alphas.split(',').map(Number), seeds = values.seeds.split(',').map(Number);
const nTrain = Number(values.train), chunk = Number(values.chunk), epochs = Number(values.epochs);

console.log(`${values.features}, alphabets ${[...group].join(', ')} (${classes.length} classes), ${nTrain} drawings each to fit, chunks of ${chunk} rows, ${epochs} epochs, J = ${2 * classes.length}, GEMM ${gemm.backend}, ${new Date().toISOString()}`);
console.log('| α | seed | test accuracy | test NLL | objective over the training rows: start → epochs (undone: the value it would have had) | fit s |');
console.log('|---|---:|---:|---:|---|---:|');
const acc = new Map<number, number[]>();
for (const seed of seeds) {
  const r = rng(seed);
  const fit: number[] = [], test: number[] = [];
  for (const c of classes) { const rows = shuffled(rowsOf.get(c)!, r); fit.push(...rows.slice(0, nTrain)); test.push(...rows.slice(nTrain)); }
  const t = new FeatureTransform(DEFAULT_PREPROCESS);
  const F = t.fitTransform(takeRows(X, fit));
  const sp = new SpanProjection().fit(F);
  const Ftr = sp.transform(F), Fte = sp.transform(t.transform(takeRows(X, test)));
  const ytr = fit.map((i) => labels[i]), yte = test.map((i) => labels[i]);
  for (const alpha of alphas) {
    const t0 = performance.now();
    const m = await fitStreamed(memoryChunks(Ftr, ytr, chunk), { alpha, seed, epochs, nPrototypes: 2 * classes.length });
    const secs = (performance.now() - t0) / 1000;
    const score = heldOutScore(m.predictProba(Fte), m.classes_, yte);
    acc.set(alpha, [...(acc.get(alpha) ?? []), score.accuracy]);
    const h = m.history_.filter((x) => x.step === 'init' || x.step === 'epoch');
    const path = [h.filter((x) => x.step === 'init').at(-1)!, ...h.filter((x) => x.step === 'epoch')]
      .map((x) => `${x.loss.toFixed(3)}${x.undone === undefined ? '' : ` (undone: ${x.undone.toFixed(3)})`}`).join(' → ');
    console.log(`| ${alpha} | ${seed} | ${score.accuracy.toFixed(3)} | ${score.nll.toFixed(3)} | ${path} | ${secs.toFixed(1)} |`);
  }
}
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
console.log(`mean test accuracy: ${alphas.map((a) => `α ${a}: ${mean(acc.get(a)!).toFixed(3)}`).join(', ')}`);
