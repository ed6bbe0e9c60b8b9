/**
 * Few-shot accuracy of learned embeddings and feature files on Omniglot alphabets (BENCHMARKS.md,
 * "Learned embedding"): the episodic protocol of src/select/episodes.ts (`protolens bench
 * episodes`) on the same seeded episodes for every source, in four settings — 5-shot 20-way,
 * 1-shot 20-way, 5-shot 5-way, and 1-shot 20-way within one alphabet — with 15 queries per class.
 *
 *   node --import tsx bench/embedding-fewshot.ts --data ../shared/data/omniglot/images_background_small \
 *     --embedding /work/models/x [--embedding …] [--features F.npy[:METHOD] …] [--groups A,B,…]
 *     [--episodes 1000] [--seed 0] [--classifiers class-mean,prototype,knn,softmax] [--json out.json]
 *
 * `--embedding DIR` embeds the images here (a folder written by `protolens train-embedding`); `--features` takes a feature file of the same images in
 * the same order (preprocessed per episode by METHOD, default sqrt-center-l2). `--groups` keeps
 * only those alphabets (e.g. the validation alphabets of images_background, for choosing a
 * recipe without looking at the test alphabets).
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { loadEmbeddingModel } from '../src/embedding/io.node.ts';
import { loadInkImages } from '../src/embedding/omniglot.node.ts';
import { groupOf } from '../src/embedding/split.ts';
import { readFeatures } from '../src/data/features.node.ts';
import type { PreprocessMethod } from '../src/model/preprocess.ts';
import { episodeBenchMarkdown, runEpisodeBench, type EpisodeBenchResult, type EpisodeClassifier, type EpisodeSetting } from '../src/select/episodes.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const all = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const data = opt('--data') ?? '../shared/data/omniglot/images_background_small';
const groups = opt('--groups')?.split(',').map((g) => g.trim()).filter(Boolean);
const episodes = Number(opt('--episodes') ?? 1000);
const seed = Number(opt('--seed') ?? 0);
const classifiers = (opt('--classifiers')?.split(',') ?? ['prototype', 'prototype-metric', 'class-mean', 'knn', 'softmax']) as EpisodeClassifier[];
const settings: EpisodeSetting[] = [
  { nWay: 20, kShot: 5, groups: 'across' },
  { nWay: 20, kShot: 1, groups: 'across' },
  { nWay: 5, kShot: 5, groups: 'across' },
  { nWay: 20, kShot: 1, groups: 'within' },
];

await initTfNode('wasm');
const ink = await loadInkImages(data, 28, undefined, groups ? (l) => groups.includes(groupOf(l)) : undefined);
const n = ink.labels.length;

const sources: Array<{ name: string; X: Float32Array; dim: number; preprocess: PreprocessMethod }> = [];
for (const dir of all('--embedding')) {
  const model = await loadEmbeddingModel(dir);
  // The backbone pipeline's input: grey replicated to three channels, white paper = 1.
  const X = tf.tidy(() => (model.predict(tf.tile(tf.sub(1, tf.tensor4d(ink.pixels, [n, 28, 28, 1])), [1, 1, 1, 3]), { batchSize: 500 }) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  sources.push({ name: `learned: ${dir.split('/').filter(Boolean).pop()}`, X, dim: X.length / n, preprocess: 'none' });
}
for (const spec of all('--features')) {
  const m = /^(.*\.npy)(?::([a-z0-9-]+))?$/.exec(spec);
  const file = m ? m[1] : spec;
  const fs = readFeatures(file);
  const keep = fs.labels.map((l, i) => (!groups || groups.includes(groupOf(String(l))) ? i : -1)).filter((i) => i >= 0);
  if (keep.length !== n || keep.some((r, k) => String(fs.labels[r]) !== ink.labels[k])) throw new RangeError(`${file}: its rows do not match the ${n} images of ${data} in order`);
  const X = new Float32Array(n * fs.X.cols);
  keep.forEach((r, k) => X.set(fs.X.data.subarray(r * fs.X.cols, (r + 1) * fs.X.cols), k * fs.X.cols));
  sources.push({ name: `${file.split('/').pop()} (${m?.[2] ?? 'sqrt-center-l2'})`, X, dim: fs.X.cols, preprocess: (m?.[2] ?? 'sqrt-center-l2') as PreprocessMethod });
}
if (sources.length === 0) throw new Error('give at least one --embedding DIR or --features FILE.npy');

const results: Array<{ name: string; result: EpisodeBenchResult }> = [];
for (const s of sources) {
  const result = runEpisodeBench({ X: { data: s.X, rows: n, cols: s.dim }, labels: ink.labels }, { settings, queries: 15, episodes, seed, classifiers, preprocess: s.preprocess });
  process.stderr.write(`${s.name}: ${result.seconds.toFixed(1)} s\n`);
  results.push({ name: s.name, result });
}
const alphabets = groups ? groups.join(', ') : 'all alphabets';
process.stdout.write(`Accuracy (%) ± 95 % interval over ${episodes} episodes, 15 queries per class, seed ${seed}; ${data} (${alphabets}, ${new Set(ink.labels).size} characters).\n\n${episodeBenchMarkdown(results)}\n`);
const json = opt('--json');
if (json) writeFileSync(json, JSON.stringify({ data, groups: groups ?? null, episodes, seed, results: results.map((r) => ({ name: r.name, settings: r.result.settings.map((s) => ({ setting: s.setting, scores: Object.fromEntries(Object.entries(s.scores).map(([k, v]) => [k, { mean: v!.mean, ci95: v!.ci95 }])) })) })) }, null, 1));
