/**
 * Ensembles of trained embeddings (src/embedding/ensemble.ts, `protolens combine-embeddings`):
 * the combined network's feature is exactly the concatenation of its networks' features, through
 * TF.js and through the backbone pipeline (with test-time shifts too); the card records every
 * network; bad inputs and foreign output folders are refused, naming them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { rng } from '../src/linalg/random.ts';
import { Conv4 } from '../src/embedding/conv4.ts';
import { concatEmbeddings } from '../src/embedding/ensemble.ts';
import { combineEmbeddings, loadEmbeddingModel, saveEmbedding } from '../src/embedding/io.node.ts';
import { loadBackboneNode } from '../src/features/load.node.ts';
import { main } from '../src/cli/main.ts';

await initTfNode('wasm');

/** A random (untrained) Conv-4 saved as train-embedding would, with a card naming its seed. */
async function saveRandomNet(dir: string, seed: number, filters = 8): Promise<void> {
  const net = Conv4.create({ inputSize: 28, blocks: 4, filters }, rng(seed));
  try {
    // BN statistics away from (0, 1), so that a layer applied with the wrong weights shows.
    const state = net.state();
    state.blocks.forEach((b, i) => { b.movingMean.fill(-0.05 * (i + 1)); b.movingVariance.fill(0.5 + 0.2 * i); });
    await saveEmbedding(dir, state, { seed, training: { split: { train: ['A'], val: [], test: [] } } }, [], 'test');
  } finally {
    net.dispose();
  }
}

/** n random 28×28×3 images in [0, 1]. */
function images(n: number, seed: number): tf.Tensor4D {
  const r = rng(seed);
  const v = new Float32Array(n * 28 * 28 * 3);
  for (let i = 0; i < v.length; i++) v[i] = r.next();
  return tf.tensor4d(v, [n, 28, 28, 3]);
}

test('the combined network embeds to the concatenation of its networks (TF.js and the backbone pipeline, with shifts)', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'protolens-ens-'));
  try {
    const a = join(tmp, 'a'), b = join(tmp, 'b'), ab = join(tmp, 'ab');
    mkdirSync(a); mkdirSync(b);
    await saveRandomNet(a, 1);
    await saveRandomNet(b, 2, 12);
    const r = combineEmbeddings([a, b], ab, {}, 'test command');
    assert.deepEqual([r.dim, r.members.map((m) => m.dim), r.members.map((m) => m.seed)], [20, [8, 12], [1, 2]]);

    const x = images(5, 9);
    const [ma, mb, mab] = await Promise.all([a, b, ab].map(loadEmbeddingModel));
    const fa = (ma.predict(x) as tf.Tensor).arraySync() as number[][];
    const fb = (mb.predict(x) as tf.Tensor).arraySync() as number[][];
    const fab = (mab.predict(x) as tf.Tensor).arraySync() as number[][];
    for (const m of [ma, mb, mab]) m.dispose();
    assert.equal(fab[0].length, 20);
    let worst = 0;
    for (let i = 0; i < 5; i++) [...fa[i], ...fb[i]].forEach((v, j) => { worst = Math.max(worst, Math.abs(v - fab[i][j])); });
    assert.ok(worst < 1e-6, `ensemble differs from the concatenation by ${worst}`);
    const nonzero = (f: number[][]): number => f.flat().filter((v) => v !== 0).length;
    assert.ok(nonzero(fa) > 10 && nonzero(fb) > 10, `too few non-zero features: ${nonzero(fa)}, ${nonzero(fb)} (the comparison would be empty)`);

    // As a backbone folder, with test-time shifts: the same concatenation.
    const pixels = x.slice([0, 0, 0, 0], [2, 28, 28, 3]);
    const img = Array.from({ length: 2 }, (_, i) => ({
      width: 28, height: 28, channels: 3 as const,
      data: Uint8Array.from(pixels.slice([i, 0, 0, 0], [1, 28, 28, 3]).dataSync(), (v) => Math.round(v * 255)),
    }));
    const emb = async (dir: string): Promise<Float32Array> => {
      const { backbone } = await loadBackboneNode(dir, { tta: 1, cacheDir: false });
      // The card's recommended feature preprocessing reaches the backbone (and so extract's sidecar).
      assert.equal(backbone.info.recommendedPreprocess, 'none', dir);
      try { return await backbone.embed(img); } finally { backbone.dispose(); }
    };
    const [ea, eb, eab] = [await emb(a), await emb(b), await emb(ab)];
    worst = 0;
    for (let i = 0; i < 2; i++) {
      const want = [...ea.subarray(i * 8, i * 8 + 8), ...eb.subarray(i * 12, i * 12 + 12)];
      want.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - eab[i * 20 + j])); });
    }
    assert.ok(worst < 1e-5, `backbone features differ by ${worst}`);

    const card = JSON.parse(readFileSync(join(ab, 'embedding.json'), 'utf8'));
    assert.equal(card.dim, 20);
    assert.deepEqual(card.seeds, [1, 2]);
    assert.equal(card.ensemble.members.length, 2);
    assert.deepEqual(card.training.split.val, []);
    assert.equal(card.command, 'test command');
    assert.equal(card.recommendedPreprocess, 'none', 'the ensemble recommends what its networks do');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('combine-embeddings refuses bad networks and foreign folders, naming them, and writes nothing', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'protolens-ens-'));
  try {
    const a = join(tmp, 'a'), b = join(tmp, 'b'), foreign = join(tmp, 'mine');
    mkdirSync(a); mkdirSync(b); mkdirSync(foreign);
    await saveRandomNet(a, 1);
    await saveRandomNet(b, 2);
    writeFileSync(join(foreign, 'notes.txt'), 'keep me');
    assert.throws(() => combineEmbeddings([a], join(tmp, 'x')), /two or more networks, got 1/);
    assert.throws(() => combineEmbeddings([a, join(tmp, 'nope')], join(tmp, 'x')), /nope: no such model folder/);
    assert.throws(() => combineEmbeddings([a, b], foreign), /--force/);
    assert.equal(readFileSync(join(foreign, 'notes.txt'), 'utf8'), 'keep me');
    assert.throws(() => combineEmbeddings([a, b], a), /input/i, 'an input is never the output');
    // A card of another kind, or one without a dimension: named, with what was expected.
    const c = join(tmp, 'c');
    mkdirSync(c);
    await saveRandomNet(c, 3);
    const cardPath = join(c, 'embedding.json');
    const card = JSON.parse(readFileSync(cardPath, 'utf8'));
    writeFileSync(cardPath, JSON.stringify({ ...card, format: 'protolens-model' }));
    assert.throws(() => combineEmbeddings([a, c], join(tmp, 'x')), /c\/embedding\.json: expected "format": "protolens-embedding"/);
    writeFileSync(cardPath, JSON.stringify({ ...card, dim: '8' }));
    assert.throws(() => combineEmbeddings([a, c], join(tmp, 'x')), /c\/embedding\.json: "dim" must be a positive integer, got "8"/);
    writeFileSync(cardPath, '{"format": ');
    assert.throws(() => combineEmbeddings([a, c], join(tmp, 'x')), /c\/embedding\.json: invalid JSON/);
    // A recommended feature preprocessing that is not a method, or differs from the other network's.
    writeFileSync(cardPath, JSON.stringify({ ...card, recommendedPreprocess: 'zca' }));
    assert.throws(() => combineEmbeddings([a, c], join(tmp, 'x')), /c\/embedding\.json: "recommendedPreprocess" is "zca"; expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2/);
    writeFileSync(cardPath, JSON.stringify({ ...card, recommendedPreprocess: 'sqrt-l2' }));
    assert.throws(() => combineEmbeddings([a, c], join(tmp, 'x')), /c: its card recommends the feature preprocessing sqrt-l2, .*a's none/);
    assert.ok(!existsSync(join(tmp, 'x')), 'a refused run writes nothing');

    const pa = JSON.parse(readFileSync(join(a, 'model.json'), 'utf8'));
    const wa = new Uint8Array(readFileSync(join(a, 'weights.bin')));
    assert.throws(() => concatEmbeddings([{ json: pa, weights: wa, label: 'A' }, { json: pa, weights: wa.subarray(4), label: 'B' }]), /B: its manifest describes \d+ weight bytes, the weights hold \d+/);
    const small = structuredClone(pa);
    small.modelTopology.config.layers[0].config.batch_input_shape = [null, 14, 14, 3];
    assert.throws(() => concatEmbeddings([{ json: pa, weights: wa, label: 'A' }, { json: small, weights: wa, label: 'B' }]), /B: input shape \[null,14,14,3\] differs from A's/);

    // The CLI: exit 2 with the message, then a working run.
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['node', 'protolens', 'combine-embeddings', a, b, '--out', foreign]);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 2);
    assert.match(err.join(''), /mine.*--force/);
    assert.equal(await main(['node', 'protolens', 'combine-embeddings', a, b, '--out', join(tmp, 'ab')]), 0);
    assert.equal(JSON.parse(readFileSync(join(tmp, 'ab', 'embedding.json'), 'utf8')).dim, 16);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
