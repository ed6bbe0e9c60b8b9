/**
 * The bundled backbones `omniglot_conv4` and `omniglot_conv4x2` (models/<name>/): each loads from the repository's
 * own files with no network and no training, embeds the example image shipped beside it to the
 * vector recorded there (1e-5), works as `protolens extract --backbone <name>`, and
 * `npm pack` would ship it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { initTfNode } from '../src/features/backend.node.ts';
import { BUILTIN_NAMES, BUNDLED_EMBEDDINGS, bundledEmbeddingDir, loadBackboneNode, type BundledEmbedding } from '../src/features/load.node.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { readFeatures } from '../src/data/features.node.ts';
import { featureOrigin } from '../src/data/origin.ts';
import { originBackbone } from '../src/features/for-model.node.ts';
import { main } from '../src/cli/main.ts';
import { repoRoot } from './helpers/data.ts';

await initTfNode('wasm');

for (const name of Object.keys(BUNDLED_EMBEDDINGS) as BundledEmbedding[]) {
const dir = bundledEmbeddingDir(name);
const example = JSON.parse(readFileSync(join(dir, 'example.json'), 'utf8')) as { image: string; embedding: number[] };
const dim = BUNDLED_EMBEDDINGS[name].dim;

test(`${name} is a bundled name, and its files are inside the repository, small`, () => {
  assert.ok(BUILTIN_NAMES.includes(name));
  assert.equal(relative(repoRoot, dir), join('models', name));
  for (const f of ['model.json', 'weights.bin', 'embedding.json', 'example.png', 'example.json']) assert.ok(existsSync(join(dir, f)), f);
  const card = JSON.parse(readFileSync(join(dir, 'embedding.json'), 'utf8'));
  assert.equal(card.dim, dim);
  // One Conv-4 (64-d, 448 KB of float32 weights), or an ensemble of them (`combine-embeddings`): 448 KB per network.
  const seeds: unknown[] = card.seeds ?? [card.seed];
  assert.ok(seeds.length >= 1 && seeds.every(Number.isInteger), 'the card records the seed of every network');
  assert.equal(dim, 64 * seeds.length);
  const kb = statSync(join(dir, 'weights.bin')).size / 1024;
  assert.ok(kb > 400 * seeds.length && kb < 500 * seeds.length, `weights.bin is ${kb.toFixed(0)} KB for ${seeds.length} network(s)`);
  assert.deepEqual(card.training.split.val, [], 'trained on every background alphabet: no validation alphabets');
});

test(`${name} loads with no network and embeds the example image to the recorded vector`, async () => {
  const fetchBefore = globalThis.fetch;
  globalThis.fetch = (() => { throw new Error('no network, please'); }) as typeof fetch;
  try {
    const { backbone, from } = await loadBackboneNode(name, { cacheDir: false });
    assert.equal(from, 'bundle');
    assert.equal(backbone.info.dim, dim);
    assert.deepEqual([backbone.preprocessing.height, backbone.preprocessing.width], [28, 28]);
    const img = await decodeImage(new Uint8Array(readFileSync(join(dir, example.image))), example.image);
    const v = await backbone.embed([img]);
    backbone.dispose();
    assert.equal(v.length, dim);
    let worst = 0;
    for (let i = 0; i < dim; i++) worst = Math.max(worst, Math.abs(v[i] - example.embedding[i]));
    assert.ok(worst <= 1e-5, `differs from the recorded vector by ${worst}`);
  } finally {
    globalThis.fetch = fetchBefore;
  }
});

test(`protolens extract --backbone ${name} writes the recorded vector for the example image`, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'protolens-conv4-'));
  try {
    mkdirSync(join(tmp, 'data', 'Greek', 'character01'), { recursive: true });
    copyFileSync(join(dir, example.image), join(tmp, 'data', 'Greek', 'character01', 'a.png'));
    copyFileSync(join(dir, example.image), join(tmp, 'data', 'Greek', 'character01', 'b.png'));
    const out = join(tmp, 'f.npy');
    const code = await main(['node', 'protolens', 'extract', join(tmp, 'data'), '--backbone', name, '--out', out, '--cache-dir', join(tmp, 'cache'), '--no-progress']);
    assert.equal(code, 0);
    const fs = readFeatures(out);
    assert.equal(fs.X.cols, dim);
    for (let i = 0; i < dim; i++) assert.ok(Math.abs(fs.X.data[i] - example.embedding[i]) <= 1e-5, `column ${i}`);
    // A model fitted on these features finds its backbone again by name (predict --images, explain --reconstruct).
    const origin = featureOrigin(fs.meta);
    assert.equal(origin?.backbone, name);
    assert.equal(originBackbone(origin!), name);
    // The card's recommended feature preprocessing reaches the sidecar (what --preprocess auto reads).
    assert.equal((fs.meta.backbone as { recommendedPreprocess?: string }).recommendedPreprocess, 'none');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
}

test('npm pack would ship the bundled weights', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { files?: string[] };
  if (pkg.files) assert.ok(pkg.files.some((f) => /^(\.\/)?models(\/|$)/.test(f)), `package.json "files" leaves out models/: ${pkg.files.join(', ')}`);
  for (const ignore of ['.npmignore', '.gitignore']) {
    const p = join(repoRoot, ignore);
    if (!existsSync(p)) continue;
    const lines = readFileSync(p, 'utf8').split('\n').map((l) => l.trim());
    assert.ok(!lines.some((l) => /^\/?models\/?(\*.*)?$/.test(l) || l === '*.bin'), `${ignore} excludes the bundled weights`);
  }
});
