// `--preprocess auto` (the default of fit, evaluate and the benchmarks): the feature preprocessing
// follows the features. A backbone's card names the one its features want (embedding.json of a
// trained embedding: none; the bundled ImageNet networks: sqrt-l2), extract records it in the
// sidecar (meta.backbone.recommendedPreprocess), and the consumers use it, falling back to sqrt-l2
// for files that name none. An explicit method always wins; every output records the method used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFeatures } from '../src/data/features.node.ts';
import { recommendedPreprocess, resolvePreprocess } from '../src/data/featurefile.ts';
import { readModelFile } from '../src/data/modelfile.node.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import { BUILTIN_BACKBONES, bundledEmbeddingDir, embeddingCardPreprocess } from '../src/features/load.node.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { checkPreprocessChoice } from '../src/model/preprocess.ts';
import { fitFile } from '../src/select/fit-file.node.ts';
import { runCli } from './helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'protolens-preprocess-auto-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// Positive features on a scale far from 1 (as a ReLU network's), so that √ and L2 change the geometry.
const d = twistedClasses({ seed: 3, nClasses: 3, dim: 5, singleton: false });
const X = { rows: d.X.rows, cols: d.X.cols, data: Float32Array.from(d.X.data, (v) => 4 * Math.abs(v) + 0.5) };
const MODEL = { nPrototypes: 6, maxIter: 15, seed: 1 };

/** A feature file whose sidecar's backbone recommends `rec` (or names none when undefined). */
function features(name: string, rec?: unknown): string {
  const file = join(work, `${name}.npy`);
  writeFeatures(file, { X, labels: d.y, meta: { backbone: { name: 'test_net', layer: 'out', dim: X.cols, ...(rec === undefined ? {} : { recommendedPreprocess: rec }) } } });
  return file;
}

/** Largest absolute difference of two models' probabilities on X. */
function probDiff(a: { predictProba(x: typeof X): { data: Float32Array } }, b: typeof a): number {
  const pa = a.predictProba(X).data, pb = b.predictProba(X).data;
  let w = 0;
  for (let i = 0; i < pa.length; i++) w = Math.max(w, Math.abs(pa[i] - pb[i]));
  return w;
}

test('resolvePreprocess: auto takes the sidecar\'s recommendation, else sqrt-l2; a method given wins; a bad value names the sidecar and field', () => {
  const rec = { backbone: { name: 'omniglot_conv4', recommendedPreprocess: 'none' } };
  assert.deepEqual(resolvePreprocess('auto', rec, 'f.npy'), { method: 'none', source: 'features' });
  assert.deepEqual(resolvePreprocess('sqrt-l2', rec, 'f.npy'), { method: 'sqrt-l2', source: 'given' });
  assert.deepEqual(resolvePreprocess('auto', { backbone: { name: 'mobilenet_v2' } }, 'f.npy'), { method: 'sqrt-l2', source: 'default' });
  assert.deepEqual(resolvePreprocess('auto', {}, 'f.csv'), { method: 'sqrt-l2', source: 'default' });
  const bad = { backbone: { name: 'x', recommendedPreprocess: 'zca' } };
  assert.throws(() => resolvePreprocess('auto', bad, 'dir/f.npy'),
    /^RangeError: dir\/f\.json: "meta\.backbone\.recommendedPreprocess" is "zca"; expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2$/);
  assert.throws(() => recommendedPreprocess({ backbone: { recommendedPreprocess: 3 } }, 'g.jsonl'), /^RangeError: g\.jsonl: "meta\.backbone\.recommendedPreprocess" is 3/);
  assert.deepEqual(resolvePreprocess('l2', bad, 'dir/f.npy'), { method: 'l2', source: 'given' }, 'an explicit method does not read the field');
  assert.equal(checkPreprocessChoice('auto'), 'auto');
  assert.throws(() => checkPreprocessChoice('zca'), /Should be one of: auto, none, l2, center-l2, sqrt-l2, sqrt-center-l2/);
});

test('the cards: trained embeddings recommend none (an old card without the field too), the bundled ImageNet networks sqrt-l2; a bad card is named', () => {
  assert.equal(embeddingCardPreprocess(bundledEmbeddingDir('omniglot_conv4')), 'none');
  assert.equal(embeddingCardPreprocess(bundledEmbeddingDir('omniglot_conv4x2')), 'none');
  assert.deepEqual(Object.values(BUILTIN_BACKBONES).map((b) => b.recommendedPreprocess), ['sqrt-l2', 'sqrt-l2']);
  const dir = join(work, 'card');
  mkdirSync(dir);
  assert.equal(embeddingCardPreprocess(dir), undefined, 'no card: a user\'s model names none');
  const card = (o: Record<string, unknown>): string => { writeFileSync(join(dir, 'embedding.json'), JSON.stringify(o)); return dir; };
  assert.equal(embeddingCardPreprocess(card({ format: 'protolens-embedding', dim: 64 })), 'none', 'a card from before the field');
  assert.equal(embeddingCardPreprocess(card({ format: 'protolens-embedding', recommendedPreprocess: 'l2' })), 'l2');
  assert.equal(embeddingCardPreprocess(card({ format: 'someone-else', recommendedPreprocess: 'zca' })), undefined, 'another tool\'s file is not read');
  assert.throws(() => embeddingCardPreprocess(card({ format: 'protolens-embedding', recommendedPreprocess: 'zca' })),
    /card\/embedding\.json: "recommendedPreprocess" is "zca"; expected one of: none, l2/);
});

test('fitFile (the library entry fit calls): auto on a sidecar recommending none fits on the raw features and saves no transform; sqrt-l2 given gives another model', async () => {
  const f = features('none', 'none');
  const auto = await fitFile({ features: f, out: join(work, 'auto.json'), preprocess: 'auto', model: MODEL });
  assert.deepEqual([auto.preprocess, auto.preprocessSource, auto.transform], ['none', 'features', null]);
  const saved = readModelFile(join(work, 'auto.json'));
  assert.equal(saved.kind, 'PrototypeClassifier', 'none: the model file holds the bare model (no Pipeline)');
  // Real numbers: the saved model is the one fitted on the raw features…
  const raw = new PrototypeClassifier(MODEL).fit(X, d.y);
  assert.ok(probDiff(saved, raw) < 1e-5, `the auto model differs from a fit on the raw features by ${probDiff(saved, raw)}`);
  // …and not the sqrt-l2 one, which an explicit flag still gives.
  const given = await fitFile({ features: f, out: join(work, 'given.json'), preprocess: 'sqrt-l2', model: MODEL });
  assert.deepEqual([given.preprocess, given.preprocessSource, given.transform?.method], ['sqrt-l2', 'given', 'sqrt-l2']);
  const pipeline = readModelFile(join(work, 'given.json'));
  assert.equal(pipeline.kind, 'Pipeline');
  assert.equal((JSON.parse(readFileSync(join(work, 'given.json'), 'utf8')) as { transform: { method: string } }).transform.method, 'sqrt-l2');
  assert.ok(probDiff(saved, pipeline) > 1e-3, `none and sqrt-l2 gave the same model (largest difference ${probDiff(saved, pipeline)}): the test could not tell them apart`);
  // An old sidecar (no recommendation): sqrt-l2, as before.
  const old = await fitFile({ features: features('old'), out: join(work, 'model-old.json'), preprocess: 'auto', model: MODEL });
  assert.deepEqual([old.preprocess, old.preprocessSource], ['sqrt-l2', 'default']);
  assert.ok(probDiff(readModelFile(join(work, 'model-old.json')), pipeline) < 1e-5, 'the default is the sqrt-l2 fit');
  // A recommendation that is not a method: refused, naming the sidecar and the field, and nothing written.
  await assert.rejects(fitFile({ features: features('bad', 'zca'), out: join(work, 'model-bad.json'), preprocess: 'auto', model: MODEL }),
    /bad\.json: "meta\.backbone\.recommendedPreprocess" is "zca"/);
});

test('CLI fit, evaluate and bench episodes: auto follows the sidecar and records the method used; --preprocess wins; a bad value exits 2 naming the file and field', async () => {
  const f = features('cli-none', 'none');
  const fit = async (...args: string[]) => {
    const r = await runCli(['fit', f, '-o', join(work, 'cli.json'), '-J', '6', '--max-iter', '10', '--json', '--no-progress', ...args]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as { preprocess: string; preprocessSource: string };
  };
  let j = await fit();
  assert.deepEqual([j.preprocess, j.preprocessSource], ['none', 'features']);
  assert.equal(readModelFile(join(work, 'cli.json')).kind, 'PrototypeClassifier');
  j = await fit('--preprocess', 'sqrt-l2');
  assert.deepEqual([j.preprocess, j.preprocessSource], ['sqrt-l2', 'given']);
  assert.equal(readModelFile(join(work, 'cli.json')).kind, 'Pipeline');
  let r = await runCli(['fit', features('cli-old'), '-o', join(work, 'model-cli-old.json'), '-J', '6', '--max-iter', '10', '--json', '--no-progress']);
  assert.equal(JSON.parse(r.out).preprocess, 'sqrt-l2');
  r = await runCli(['fit', f, '-o', join(work, 'cli.json'), '-J', '6', '--max-iter', '10', '--no-progress']);
  assert.match(r.out, /Features preprocessed: none, as the features' backbone recommends\./);

  const bad = features('cli-bad', 'zca');
  r = await runCli(['fit', bad, '-o', join(work, 'model-cli-bad.json'), '--no-progress']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^protolens: .*cli-bad\.json: "meta\.backbone\.recommendedPreprocess" is "zca"; expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2\n$/);
  r = await runCli(['fit', bad, '-o', join(work, 'model-cli-bad.json'), '--preprocess', 'none', '--max-iter', '5', '--no-progress']);
  assert.equal(r.code, 0, 'an explicit method does not need the field');
  r = await runCli(['fit', f, '-o', join(work, 'x.json'), '--preprocess', 'zca']);
  assert.equal(r.code, 2);
  assert.match(r.err, /Invalid value for --preprocess: "zca"\. Expected one of: auto, none, l2, center-l2, sqrt-l2, sqrt-center-l2\./);

  r = await runCli(['evaluate', f, '-o', join(work, 'ev'), '--classifiers', 'class-mean', '--folds', '2', '--json', '--no-progress']);
  assert.equal(r.code, 0, r.err);
  assert.equal((JSON.parse(readFileSync(join(work, 'ev', 'evaluation.json'), 'utf8')) as { preprocess: string }).preprocess, 'none');

  const episodes = async (file: string, ...args: string[]) => {
    const out = join(work, `ep-${args.length}`);
    const e = await runCli(['bench', 'episodes', '-f', file, '--ways', '2', '--shots', '1', '--queries', '2', '--episodes', '4', '--classifiers', 'class-mean', '-o', out, '--force', '--no-progress', '--json', ...args]);
    assert.equal(e.code, 0, e.err);
    return (JSON.parse(readFileSync(join(out, 'episodes.json'), 'utf8')) as { options: { preprocess: string } }).options.preprocess;
  };
  assert.deepEqual([await episodes(f), await episodes(f, '--preprocess', 'l2'), await episodes(features('ep-old'))], ['none', 'l2', 'sqrt-l2']);
  r = await runCli(['bench', 'episodes', '-f', bad, '--ways', '2', '--shots', '1', '--queries', '2', '--episodes', '4', '-o', join(work, 'ep-bad'), '--no-progress']);
  assert.equal(r.code, 2);
  assert.match(r.err, /cli-bad\.json: "meta\.backbone\.recommendedPreprocess" is "zca"/);
});

test('bench episodes --data --backbone DIR (features made on the fly): the folder\'s card decides; a folder without one gets sqrt-l2', async () => {
  const { tinyModelFolder, patternImages } = await import('./helpers/tiny-backbone.ts');
  const carded = join(work, 'carded'), plain = join(work, 'plain'), data = join(work, 'patterns');
  await tinyModelFolder(carded);
  await tinyModelFolder(plain);
  writeFileSync(join(carded, 'embedding.json'), JSON.stringify({ format: 'protolens-embedding', version: 1, dim: 5, recommendedPreprocess: 'none' }));
  await patternImages(data, 4);
  const run = async (model: string) => {
    const out = join(work, `fly-${model.length}-${Math.random().toString(36).slice(2)}`);
    const r = await runCli(['bench', 'episodes', '--data', data, '-b', model, '--cache-dir', join(work, 'cache'), '--ways', '2', '--shots', '1', '--queries', '2', '--episodes', '4', '--classifiers', 'class-mean', '-o', out, '--no-progress', '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(readFileSync(join(out, 'episodes.json'), 'utf8')) as { options: { preprocess: string }; features: { meta: { backbone: { recommendedPreprocess?: string } } } };
    return [j.options.preprocess, j.features.meta.backbone.recommendedPreprocess ?? null];
  };
  assert.deepEqual(await run(carded), ['none', 'none'], 'recorded in the features\' metadata and used');
  assert.deepEqual(await run(plain), ['sqrt-l2', null]);
});

test('a user ONNX model declares its preprocessing in metadata_props (protolens.recommended_preprocess): extract records it, fit --preprocess auto follows it; a bad value exits 2 naming the file, the key and the methods; no key: sqrt-l2 as before', async () => {
  const { readOnnx, writeOnnx } = await import('../src/features/onnx-graph.ts');
  const { ONNX_RECOMMENDED_PREPROCESS_KEY } = await import('../src/features/onnx-backbone.ts');
  const { tinyNetSpec } = await import('./helpers/onnx.ts');
  const { patternImages } = await import('./helpers/tiny-backbone.ts');
  const { readFeatures } = await import('../src/data/features.node.ts');
  assert.equal(ONNX_RECOMMENDED_PREPROCESS_KEY, 'protolens.recommended_preprocess', 'the documented key');
  const data = join(work, 'onnx-patterns');
  await patternImages(data, 4);
  /** The tiny ONNX network of test/helpers/onnx.ts, with these metadata_props. */
  const net = (name: string, metadata?: Record<string, string>): string => {
    const file = join(work, `${name}.onnx`);
    writeFileSync(file, writeOnnx({ ...tinyNetSpec(), ...(metadata ? { metadata } : {}) }));
    return file;
  };
  const declared = net('declared', { 'other.tool': 'x', 'protolens.recommended_preprocess': 'none' });
  assert.deepEqual([...readOnnx(readFileSync(declared), declared).metadata], [['other.tool', 'x'], ['protolens.recommended_preprocess', 'none']], 'metadata_props read back');
  /** extract with the model, then fit --json with --preprocess auto: [sidecar's recommendation, method used, where it came from]. */
  const extractFit = async (model: string): Promise<unknown[]> => {
    const out = model.replace(/\.onnx$/, '.npy');
    let r = await runCli(['extract', data, '-b', model, '--layer', 'relu2', '-o', out, '--no-cache', '--workers', '1', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    const rec = (readFeatures(out).meta.backbone as { recommendedPreprocess?: string }).recommendedPreprocess ?? null;
    r = await runCli(['fit', out, '-o', out.replace(/\.npy$/, '-model.json'), '-J', '3', '--max-iter', '5', '--json', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { preprocess: string; preprocessSource: string };
    return [rec, j.preprocess, j.preprocessSource];
  };
  assert.deepEqual(await extractFit(declared), ['none', 'none', 'features']);
  assert.deepEqual(await extractFit(net('plain')), [null, 'sqrt-l2', 'default'], 'without the key: unchanged');
  assert.deepEqual(await extractFit(net('other', { 'other.tool': 'none' })), [null, 'sqrt-l2', 'default'], 'another key is not read');
  const bad = net('bad', { 'protolens.recommended_preprocess': 'zca' });
  // protolens backbones MODEL shows what the model declares (and the default when it declares none);
  // a bad value is shown, not fatal: describing a model is how one finds out what is wrong with it.
  const shown = async (model: string): Promise<[string, unknown]> => {
    const t = await runCli(['backbones', model]);
    assert.equal(t.code, 0, t.err);
    const j = await runCli(['backbones', model, '--json']);
    assert.equal(j.code, 0, j.err);
    return [/\nimage input: .*\nfeature preprocessing: (.*)\n/.exec(t.out)?.[1] ?? t.out, (JSON.parse(j.out) as { recommendedPreprocess?: string }).recommendedPreprocess ?? null];
  };
  assert.deepEqual(await shown(declared), ['none (declared in metadata_props protolens.recommended_preprocess; --preprocess auto follows it)', 'none']);
  assert.deepEqual(await shown(net('plain')), ['none declared → sqrt-l2 by default (--preprocess auto; a model declares one with metadata_props protolens.recommended_preprocess)', null]);
  assert.deepEqual(await shown(bad), ['invalid, extract refuses this model: metadata_props key "protolens.recommended_preprocess" is "zca"; expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2', null]);
  // The library's Node entry exports the key and the reader.
  const lib = await import('../src/index.node.ts');
  assert.equal(lib.ONNX_RECOMMENDED_PREPROCESS_KEY, ONNX_RECOMMENDED_PREPROCESS_KEY);
  assert.deepEqual([declared, net('plain')].map((f) => lib.onnxRecommendedPreprocess(lib.readOnnx(readFileSync(f), f), f) ?? null), ['none', null]);
  assert.throws(() => lib.onnxRecommendedPreprocess(lib.readOnnx(readFileSync(bad), bad), bad), /bad\.onnx: metadata_props key "protolens\.recommended_preprocess" is "zca"/);
  const r = await runCli(['extract', data, '-b', bad, '--layer', 'relu2', '-o', join(work, 'bad.npy'), '--no-cache', '--workers', '1', '--no-progress']);
  assert.equal(r.code, 2);
  // (after the dataset's line) one line naming the model file, the key and the methods
  assert.match(r.err, /\nprotolens: .*bad\.onnx: metadata_props key "protolens\.recommended_preprocess" is "zca"; expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2\n$/);
});
