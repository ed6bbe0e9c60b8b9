/**
 * Few-shot accuracy on alphabets never used in training (issue 7, BENCHMARKS.md "Learned
 * embedding"): N-way K-shot episodes with 15 queries per class, drawn from the test alphabets
 * (Omniglot's `images_background_small`: 8 alphabets, 242 characters), the same seeded episodes
 * for every feature source. Sources: learned embeddings (`--embedding DIR`, embedded here) and
 * precomputed feature files (`--features FILE.npy`, rows in the dataset's listing order).
 *
 *   node --import tsx bench/embedding-fewshot.ts --data ../shared/data/omniglot/images_background_small \
 *     --embedding /work/models/embedding-protonet --features /work/features/x.npy [--features y.npy:none] [--episodes 100]
 *
 * Classifiers fitted on each episode's support set: the paper's prototype model (J = 2 per
 * class for K > 1, 1 per class for K = 1; L2, α = 1e-3, τ = 0.1 × median pair distance / 2),
 * nearest class mean, 1-NN and L2 softmax regression. Prints a Markdown table.
 */
import { initTfNode } from '../src/features/backend.node.ts';
import { loadEmbeddingModel } from '../src/embedding/io.node.ts';
import { loadInkImages } from '../src/embedding/omniglot.node.ts';
import { groupOf } from '../src/embedding/split.ts';
import { indexByLabel, sampleEpisode, type ClassIndex, type Episode } from '../src/data/episodes.ts';
import { readFeatures } from '../src/data/features.node.ts';
import { rng, deriveSeed } from '../src/linalg/random.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../src/model/baselines.ts';
import { FeatureTransform, type PreprocessMethod } from '../src/model/preprocess.ts';
import type { Classifier } from '../src/model/types.ts';
import * as tf from '@tensorflow/tfjs';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const all = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const data = opt('--data') ?? '../shared/data/omniglot/images_background_small';
const nEpisodes = Number(opt('--episodes') ?? 100);
const prep = (opt('--preprocess-features') ?? 'sqrt-center-l2') as PreprocessMethod;

await initTfNode('wasm');
const ink = await loadInkImages(data, 28);
const labels = ink.labels;
const n = labels.length;

interface Source { name: string; X: Float32Array; dim: number; transform: PreprocessMethod }
const sources: Source[] = [];
for (const dir of all('--embedding')) {
  const t0 = performance.now();
  const model = await loadEmbeddingModel(dir);
  const X = tf.tidy(() => {
    const x = tf.tile(tf.sub(1, tf.tensor4d(ink.pixels, [n, 28, 28, 1])), [1, 1, 1, 3]);
    return (model.predict(x, { batchSize: 500 }) as tf.Tensor).dataSync() as Float32Array;
  });
  const dim = X.length / n;
  model.dispose();
  process.stderr.write(`${dir}: ${n} images embedded in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dim}-d)\n`);
  sources.push({ name: `learned: ${dir.split('/').filter(Boolean).pop()}`, X, dim, transform: 'none' });
}
for (const spec of all('--features')) {
  // FILE.npy or FILE.npy:METHOD (a FeatureTransform method; default --preprocess-features).
  const m = /^(.*\.npy)(?::([a-z0-9-]+))?$/.exec(spec);
  const file = m ? m[1] : spec;
  const method = (m?.[2] ?? prep) as PreprocessMethod;
  const fs = readFeatures(file);
  if (fs.X.rows !== n || fs.labels.some((l, i) => String(l) !== labels[i])) {
    throw new RangeError(`${file}: its ${fs.X.rows} rows do not match the ${n} images of ${data} in order`);
  }
  sources.push({ name: `${file.split('/').pop()} (${method})`, X: fs.X.data, dim: fs.X.cols, transform: method });
}
if (sources.length === 0) throw new Error('give at least one --embedding DIR or --features FILE.npy');

const pool = indexByLabel(labels);
/** Within-alphabet index: one class index per alphabet with at least 20 characters. */
const byAlphabet: ClassIndex[] = [...new Set(labels.map(groupOf))].map((g) => {
  const idx = indexByLabel(labels.filter((l) => groupOf(l) === g));
  const offset = labels.findIndex((l) => groupOf(l) === g);
  return { names: idx.names, members: idx.members.map((m) => Array.from(m, (i) => i + offset)) };
}).filter((ix) => ix.names.length >= 20);

interface Setting { name: string; nWay: number; kShot: number; within: boolean }
const settings: Setting[] = [
  { name: '5-shot 20-way', nWay: 20, kShot: 5, within: false },
  { name: '1-shot 20-way', nWay: 20, kShot: 1, within: false },
  { name: '5-shot 5-way', nWay: 5, kShot: 5, within: false },
  { name: '1-shot 20-way, within one alphabet', nWay: 20, kShot: 1, within: true },
];
const nQuery = 15;

function episodesFor(s: Setting): Episode[] {
  const r = rng(deriveSeed(2017, s.nWay * 100 + s.kShot * 10 + (s.within ? 1 : 0)));
  return Array.from({ length: nEpisodes }, () => {
    const ix = s.within ? byAlphabet[r.int(byAlphabet.length)] : pool;
    return sampleEpisode(ix, { nWay: s.nWay, kShot: s.kShot, nQuery }, r);
  });
}

const methods: Array<{ name: string; make: (s: Setting, seed: number) => Classifier }> = [
  { name: 'prototype model (paper)', make: (s, seed) => new PrototypeClassifier({ nPrototypes: (s.kShot > 1 ? 2 : 1) * s.nWay, regularization: 'l2', alpha: 1e-3, tau: 'auto', tauScale: 0.1, seed }) },
  { name: 'nearest class mean', make: () => new NearestClassMean() },
  { name: '1-NN', make: () => new KNearestNeighbors({ k: 1 }) },
  { name: 'softmax (L2)', make: () => new SoftmaxRegression({ l2: 1e-3 }) },
];

function rows(src: Source, idx: Int32Array, t: FeatureTransform | null): number[][] {
  const out: number[][] = [];
  for (const i of idx) out.push(Array.from(src.X.subarray(i * src.dim, (i + 1) * src.dim)));
  return t ? Array.from({ length: out.length }, (_, k) => Array.from(t.transform([out[k]]).data)) : out;
}

const lines: string[] = [];
lines.push(`| features | setting | ${methods.map((m) => m.name).join(' | ')} |`);
lines.push(`|---|---|${methods.map(() => '---|').join('')}`);
for (const s of settings) {
  const eps = episodesFor(s);
  for (const src of sources) {
    const t0 = performance.now();
    const acc = methods.map(() => [] as number[]);
    eps.forEach((ep, e) => {
      const ySup = Array.from(ep.support, (_, i) => Math.floor(i / s.kShot));
      const yQ = Array.from(ep.query, (_, i) => Math.floor(i / nQuery));
      const t = src.transform === 'none' ? null : new FeatureTransform(src.transform).fit(rows(src, ep.support, null));
      const Xs = rows(src, ep.support, t), Xq = rows(src, ep.query, t);
      methods.forEach((m, k) => {
        const pred = m.make(s, e).fit(Xs, ySup).predict(Xq);
        acc[k].push(pred.filter((p, i) => p === yQ[i]).length / yQ.length);
      });
    });
    const cell = (a: number[]) => {
      const mean = a.reduce((u, v) => u + v, 0) / a.length;
      const sd = Math.sqrt(a.reduce((u, v) => u + (v - mean) ** 2, 0) / Math.max(1, a.length - 1));
      return `${(100 * mean).toFixed(1)} ± ${(196 * sd / Math.sqrt(a.length)).toFixed(1)}`;
    };
    lines.push(`| ${src.name} | ${s.name} | ${acc.map(cell).join(' | ')} |`);
    process.stderr.write(`${src.name}, ${s.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
}
process.stdout.write(`Accuracy (%) ± 95% interval over ${nEpisodes} episodes, ${nQuery} queries per class; test alphabets of ${data}.\n\n${lines.join('\n')}\n`);
