/**
 * The learned embedding (issue 7): training kernels against TF.js's own gradients, episode
 * sampling and its errors, a CI-sized training run (the loss goes down; the saved model loads
 * back and gives the same embeddings), resume, and unreadable checkpoints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { conv2dBackpropFilter, registerWasmTrainingKernels } from '../src/embedding/kernels.ts';
import { batchNormTrain, conv3x3, reluMaxPool2 } from '../src/embedding/ops.ts';
import { checkEpisodeShape, indexByLabel, sampleEpisode } from '../src/data/episodes.ts';
import { rng } from '../src/linalg/random.ts';
import { NO_JITTER, rotate90, SMALL_JITTER } from '../src/embedding/augment.ts';
import { splitByGroup } from '../src/embedding/split.ts';
import { EmbeddingTrainer } from '../src/embedding/train.ts';
import { CheckpointError, loadEmbeddingModel, readCheckpoint, saveEmbedding, writeCheckpoint } from '../src/embedding/io.node.ts';
import { loadInkImages } from '../src/embedding/omniglot.node.ts';
import { runTraining } from '../src/embedding/run.node.ts';
import { writeOutputMarker } from '../src/data/outputs.node.ts';
import { packState, unpackState } from '../src/embedding/state.ts';
import { main } from '../src/cli/main.ts';
import { omniglotDir } from './helpers/data.ts';

await initTfNode('wasm');
registerWasmTrainingKernels();

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** TF.js's stock gradients, computed on the pure-JS cpu backend (which has every kernel). */
async function onCpu<T>(f: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try { return f(); } finally { await tf.setBackend('wasm'); }
}

test('Conv2DBackpropFilter from slices and products equals TF.js cpu gradient (same, valid, stride 2)', async () => {
  const x = tf.randomNormal([2, 7, 7, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
  for (const [s, pad] of [[1, 'same'], [1, 'valid'], [2, 'same']] as const) {
    const dy = tf.tidy(() => tf.mul(tf.conv2d(x, w, s, pad), 2) as tf.Tensor4D);
    const ref = await onCpu(() => tf.grad((ww: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, ww as tf.Tensor4D, s, pad))))(w));
    const mine = conv2dBackpropFilter(x, dy, { strides: s, pad, dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] });
    assert.ok(maxAbsDiff(ref, mine) < 1e-3, `stride ${s} ${pad}: ${maxAbsDiff(ref, mine)}`);
    // …and registered for wasm, the stock conv2d gradient now runs there too.
    const viaKernel = tf.grad((ww: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, ww as tf.Tensor4D, s, pad))))(w);
    assert.ok(maxAbsDiff(ref, viaKernel) < 1e-3);
    tf.dispose([dy, ref, mine, viaKernel]);
  }
  tf.dispose([x, w]);
});

test('Conv-4 block with hand-written gradients equals TF.js stock conv → batch norm → ReLU → max-pool', async () => {
  const x = tf.randomNormal([3, 7, 7, 4], 0, 1, 'float32', 3);
  const w = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 4);
  const g = tf.randomNormal([5], 1, 0.3, 'float32', 5), b = tf.randomNormal([5], 0, 1, 'float32', 6);
  const proj = tf.randomNormal([3, 3, 3, 5], 0, 1, 'float32', 7);
  const mine = (xx: tf.Tensor, ww: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(proj,
    reluMaxPool2(batchNormTrain(conv3x3(xx as tf.Tensor4D, ww as tf.Tensor4D), gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-3) as tf.Tensor4D)));
  const ref = (xx: tf.Tensor, ww: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
    const z = tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same');
    const { mean, variance } = tf.moments(z, [0, 1, 2]);
    return tf.sum(tf.mul(proj, tf.maxPool(tf.relu(tf.batchNorm(z, mean, variance, bb, gg, 1e-3)) as tf.Tensor4D, 2, 2, 'valid')));
  };
  const gRef = await onCpu(() => tf.grads(ref)([x, w, g, b]));
  tf.dispose(tf.grads(mine)([x, w, g, b])); // warm-up: fills the cache of ones rows (ops.ts)
  const before = tf.memory().numTensors;
  const gMine = tf.grads(mine)([x, w, g, b]);
  assert.equal(tf.memory().numTensors, before + 4, 'no tensors leak beyond the four gradients');
  for (let i = 0; i < 4; i++) {
    const scale = tf.tidy(() => tf.max(tf.abs(gRef[i])).dataSync()[0]);
    assert.ok(maxAbsDiff(gRef[i], gMine[i]) < 1e-3 * Math.max(1, scale), `gradient ${i}`);
  }
  tf.dispose([...gRef, ...gMine, x, w, g, b, proj]);
});

test('episodes: seeded, distinct classes, class-major support and query', () => {
  const labels = Array.from({ length: 60 }, (_, i) => `A/c${Math.floor(i / 6)}`); // 10 classes × 6
  const idx = indexByLabel(labels);
  const shape = { nWay: 4, kShot: 2, nQuery: 3 };
  const e1 = sampleEpisode(idx, shape, rng(7)), e2 = sampleEpisode(idx, shape, rng(7));
  assert.deepEqual(e1, e2);
  assert.equal(new Set(e1.classes).size, 4);
  for (let i = 0; i < 4; i++) {
    const imgs = [...e1.support.slice(i * 2, i * 2 + 2), ...e1.query.slice(i * 3, i * 3 + 3)];
    assert.equal(new Set(imgs).size, 5, 'no image twice');
    for (const m of imgs) assert.equal(labels[m], idx.names[e1.classes[i]]);
  }
});

test('episodes: fewer classes than N, and fewer images than K + query size, are named errors', () => {
  const idx = indexByLabel(['A/x', 'A/x', 'A/x', 'A/y', 'A/y', 'A/y', 'A/z', 'A/z']);
  assert.throws(() => checkEpisodeShape(idx, { nWay: 5, kShot: 1, nQuery: 1 }, 'the training classes'),
    { name: 'RangeError', message: 'the training classes has 3 classes; a 5-way episode needs at least 5' });
  assert.throws(() => checkEpisodeShape(idx, { nWay: 3, kShot: 2, nQuery: 1 }, 'the training classes'),
    { name: 'RangeError', message: 'the training classes: class "A/z" has 2 images; 2-shot episodes with 1 queries per class need at least 3 (K + query size)' });
  assert.doesNotThrow(() => checkEpisodeShape(idx, { nWay: 3, kShot: 1, nQuery: 1 }));
});

test('rotate90 turns a marked corner around the image', () => {
  const src = new Float32Array(9); src[2] = 1; // top-right of a 3×3
  const out = new Float32Array(9);
  rotate90(src, 3, 1, out); assert.equal(out.indexOf(1), 0); // → top-left (counter-clockwise)
  rotate90(src, 3, 2, out); assert.equal(out.indexOf(1), 6); // → bottom-left
  rotate90(src, 3, 4, out); assert.equal(out.indexOf(1), 2);
});

test('splitByGroup holds out whole alphabets and names unknown ones', () => {
  const labels = ['A/1', 'A/2', 'B/1', 'C/1', 'C/1'];
  const s = splitByGroup(labels, ['B'], ['C']);
  assert.deepEqual(s.train.names, ['A/1', 'A/2']);
  assert.deepEqual(s.test.members, [[3, 4]]);
  assert.throws(() => splitByGroup(labels, ['Q'], []), /validation alphabet not in the data: Q\. Present: A, B, C/);
});

test('packState round-trips typed arrays and non-finite numbers', () => {
  const v = { a: new Float32Array([1.5, -2]), b: { c: new Int32Array([3]), d: NaN }, e: new Uint8Array([1, 2, 3]) };
  const { json, bytes } = packState(v);
  assert.deepEqual(unpackState(json, bytes), v);
});

const om = omniglotDir();

test('CI-sized training: loss goes down; saved model loads back and gives the same embeddings; resume continues', { skip: om.skip }, om.guard(async () => {
  // 5 Greek characters for training (5-way episodes always draw the same classes), 5 Latin for validation.
  const keep = (l: string) => /^(Greek|Latin)\/character0[1-5]$/.test(l);
  const d = await loadInkImages(om.path, 28, undefined, keep);
  const split = splitByGroup(d.labels, ['Latin'], []);
  const data = { pixels: d.pixels, size: 28, train: split.train, val: split.val };
  const opts = {
    episode: { nWay: 5, kShot: 2, nQuery: 3 }, valEpisode: { nWay: 5, kShot: 1, nQuery: 3 }, valEpisodes: 5,
    rotations: false, jitter: NO_JITTER, learningRate: 3e-3, net: { inputSize: 28, blocks: 4, filters: 16, bnEpsilon: 1e-3, bnMomentum: 0.5 }, seed: 3,
  };
  const tr = new EmbeddingTrainer(data, opts);
  const losses: number[] = [];
  for (let i = 0; i < 16; i++) losses.push(tr.step().loss);
  const first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[13] + losses[14] + losses[15]) / 3;
  assert.ok(last < 0.6 * first, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);

  const dir = mkdtempSync(join(tmpdir(), 'protolens-emb-'));
  try {
    const state = tr.net.state();
    await saveEmbedding(dir, state, { note: 'test' }, [], 'test');
    const model = await loadEmbeddingModel(dir);
    const n = 6;
    const ink = d.pixels.subarray(0, n * 784);
    const ours = tr.net.embed(ink);
    // The loaded model takes the backbone pipeline's input: 3 channels, white paper = 1.
    const theirs = tf.tidy(() => (model.predict(tf.tile(tf.sub(1, tf.tensor4d(ink, [n, 28, 28, 1])), [1, 1, 1, 3])) as tf.Tensor).dataSync());
    model.dispose();
    assert.equal(theirs.length, n * 16);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
    assert.ok(worst < 1e-4, `embeddings differ by ${worst}`);

    // Resume: a checkpoint at episode 16 continues to episode 18 exactly like the original trainer.
    writeCheckpoint(dir, tr.state());
    const back = readCheckpoint(dir)!;
    assert.equal(back.episode, 16);
    const resumed = new EmbeddingTrainer(data, {}, back);
    const a = tr.step().loss, b = resumed.step().loss;
    assert.ok(Math.abs(a - b) < 1e-4, `resumed loss ${b} vs ${a}`);
    resumed.dispose();
  } finally {
    tr.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}));

test('unreadable checkpoints are named errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-ckpt-'));
  try {
    assert.equal(readCheckpoint(dir), null);
    writeFileSync(join(dir, 'checkpoint.json'), '{"format": "protolens-embedding-checkpoint", "vers');
    assert.throws(() => readCheckpoint(dir), (e: Error) => e instanceof CheckpointError && /checkpoint\.json: unreadable checkpoint \(not valid JSON/.test(e.message));
    const { json, bytes } = packState({ x: new Float32Array(4) });
    writeFileSync(join(dir, 'checkpoint.bin'), bytes.subarray(0, 8));
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ format: 'protolens-embedding-checkpoint', version: 1, bytes: bytes.length, checksum: '0', state: JSON.parse(json) }));
    assert.throws(() => readCheckpoint(dir), /checkpoint\.bin has 8 bytes, expected 16 \(truncated or from another run\)/);
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ format: 'something-else' }));
    assert.throws(() => readCheckpoint(dir), /expected "format": "protolens-embedding-checkpoint"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the CLI, capturing stderr. */
async function cli(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'protolens', ...args]);
    return { code, err };
  } finally {
    process.stderr.write = orig;
  }
}

test('train-embedding CLI: unreadable checkpoint, too few classes, too few images are clear errors; jitter is on unless --no-jitter; the same command and seed print the same curve', { skip: om.skip }, om.guard(async () => {
  // A tiny tree of links into Omniglot: 3 training, 5 validation and 1 test character.
  const root = mkdtempSync(join(tmpdir(), 'protolens-tree-'));
  const link = (alphabet: string, from: string, n: number) => {
    mkdirSync(join(root, alphabet));
    for (let i = 1; i <= n; i++) symlinkSync(join(om.path, from, `character0${i}`), join(root, alphabet, `character0${i}`));
  };
  link('Train', 'Greek', 3); link('Val', 'Latin', 5); link('Test', 'Korean', 1);
  const outs = mkdtempSync(join(tmpdir(), 'protolens-outs-')); // outside the data tree, which is scanned
  const dir = join(root, 'out');
  const base = ['train-embedding', root, '--out', dir, '--val-alphabets', 'Val', '--test-alphabets', 'Test', '--no-progress'];
  try {
    mkdirSync(dir);
    writeOutputMarker(dir, 'embedding'); // a run's folder, as protolens makes it
    writeFileSync(join(dir, 'checkpoint.json'), 'not json');
    let r = await cli(base);
    assert.equal(r.code, 2);
    assert.match(r.err, /checkpoint\.json: unreadable checkpoint \(not valid JSON.*Delete checkpoint\.json and its \.bin data file/);
    rmSync(join(dir, 'checkpoint.json'));
    r = await cli([...base, '--way', '20']); // 3 characters × 4 rotations
    assert.equal(r.code, 2);
    assert.match(r.err, /^protolens: the training classes has 12 classes; a 20-way episode needs at least 20$/m);
    r = await cli([...base, '--way', '5', '--shot', '15', '--query', '10']);
    assert.equal(r.code, 2);
    assert.match(r.err, /the training classes: class "Train\/character01" has 20 images; 15-shot episodes with 10 queries per class need at least 25 \(K \+ query size\)/);
    r = await cli([...base, '--way', '5', '--val-way', '6']);
    assert.equal(r.code, 2);
    assert.match(r.err, /the validation classes has 5 classes; a 6-way episode needs at least 6/);

    // Affine jitter is on by default (it measured better, BENCHMARKS.md) and --no-jitter turns it off;
    // embedding.json records which.
    const tiny = ['--way', '5', '--shot', '2', '--query', '2', '--val-way', '5', '--val-shot', '1', '--val-query', '2',
      '--val-episodes', '2', '--max-episodes', '2', '--eval-every', '1', '--filters', '8', '--seed', '4'];
    const jitterOf = async (out: string, extra: string[]) => {
      const res = await cli(['train-embedding', root, '--out', out, '--val-alphabets', 'Val', '--test-alphabets', 'Test', '--no-progress', ...tiny, ...extra]);
      assert.equal(res.code, 0, res.err);
      return JSON.parse(readFileSync(join(out, 'embedding.json'), 'utf8')).training.jitter;
    };
    assert.deepEqual(await jitterOf(join(outs, 'on'), []), { ...SMALL_JITTER });
    // Re-running onto its own folder resumes without --force (the folder's marker says it is ours),
    // takes the new stopping rule, and says which other options it ignores (the checkpoint's win).
    const again = await cli(['train-embedding', root, '--out', join(outs, 'on'), '--val-alphabets', 'Val', '--test-alphabets', 'Test', '--no-progress', ...tiny, '--max-episodes', '3', '--lr', '0.5']);
    assert.equal(again.code, 0, again.err);
    assert.match(again.err, /resuming from the checkpoint at episode 2/);
    assert.match(again.err, /note: --lr ignored: a resumed run keeps its checkpoint's learningRate \(0\.001\)/);
    assert.doesNotMatch(again.err, /--max-episodes ignored|--seed ignored/);
    assert.match(again.err, /stopped \(max-episodes\) after 3 episodes/);
    assert.deepEqual(await jitterOf(join(outs, 'off'), ['--no-jitter']), { ...NO_JITTER });

    // The training command, run again with its seed, prints the same curve: every evaluation's
    // training loss, training accuracy and validation accuracy to the printed digits (only the
    // times and the rate may differ).
    const curveOf = async (out: string) => {
      const res = await cli(['train-embedding', root, '--out', out, '--val-alphabets', 'Val', '--test-alphabets', 'Test', '--no-progress', ...tiny, '--max-episodes', '3']);
      assert.equal(res.code, 0, res.err);
      return res.err.split('\n').filter((l) => /^episode \d+:/.test(l))
        .map((l) => l.replace(/^(episode \d+): [\d.]+ min \([\d.]+ CPU min\)/, '$1').replace(/, [\d.]+ img\/s$/, ''));
    };
    const first = await curveOf(join(outs, 'again-1'));
    assert.equal(first.length, 3);
    assert.match(first[2], /^episode 3, train loss \d\.\d{3} acc \d\.\d{3}, val \d\.\d{4}/);
    assert.deepEqual(await curveOf(join(outs, 'again-2')), first);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(outs, { recursive: true, force: true });
  }
}));
