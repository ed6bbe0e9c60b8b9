import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fields, Writer } from '../src/features/onnx-proto.ts';
import { readOnnx, rewriteOnnx, writeOnnx } from '../src/features/onnx-graph.ts';
import { loadOnnxBackboneNode } from '../src/features/onnx.node.ts';
import { loadBackboneNode } from '../src/features/load.node.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { initTfNode } from '../src/features/backend.node.ts';
import { preprocessBatch } from '../src/features/preprocess.ts';
import { nsfwjsPreprocessing, pixelBatch, presetPreprocessing, resizeImage, resizePlan, type PixelImage } from '../src/features/pixels.ts';
import { readFeatures } from '../src/data/features.node.ts';
import { readModelFile } from '../src/data/modelfile.node.ts';
import { colourPng, greyPng, makeTree } from './helpers/images.ts';
import { maxDiff, relu2Of, tinyNet, type Map3 } from './helpers/onnx.ts';
import { runCli } from './helpers/cli.ts';
import { saveLayersFolder } from './helpers/models.ts';

const work = mkdtempSync(join(tmpdir(), 'protolens-onnx-'));
const tiny = join(work, 'tiny.onnx');
let img: PixelImage;

before(async () => {
  writeFileSync(tiny, tinyNet());
  img = await decodeImage(await colourPng(12, 12), 'colour.png');
});
after(() => rmSync(work, { recursive: true, force: true }));

/** The network input of a 12×12 RGB image with the keras preset (no resize): v / 127.5 − 1, channels first. */
function kerasInput(im: PixelImage): Map3 {
  const v = new Float64Array(3 * 144);
  for (let c = 0; c < 3; c++) for (let i = 0; i < 144; i++) v[c * 144 + i] = im.data[i * 3 + c] / 127.5 - 1;
  return { c: 3, h: 12, w: 12, v };
}

test('protobuf wire format: varints (negative int64 too), floats, packed and unpacked repeated fields round-trip', () => {
  const b = new Writer().varint(1, 150).varint(2, -1).float(3, 0.5).packedInts(4, [1, 300, 2 ** 40]).string(5, 'é').finish();
  assert.deepEqual([...b.subarray(0, 3)], [8, 150, 1]); // the protobuf documentation's example: field 1 = 150
  const f = [...fields(b)];
  assert.deepEqual(f.map((x) => [x.no, x.wire]), [[1, 0], [2, 0], [3, 5], [4, 2], [5, 2]]);
  assert.equal(f[1].value, -1);
  assert.equal(f[1].end - f[1].start, 11); // key + ten bytes
  assert.equal(f[2].value, 0.5);
  assert.equal(new TextDecoder().decode(f[4].bytes), 'é');
  assert.throws(() => [...fields(Uint8Array.of(0x0f, 1))], /unknown wire type 7/);
  assert.throws(() => [...fields(Uint8Array.of(0x0a, 5, 1))], /runs past the end/);
});

test('an ONNX model written by protolens reads back: inputs, outputs, nodes, initializer shapes', () => {
  const m = readOnnx(tinyNet(), 'tiny.onnx');
  assert.equal(m.irVersion, 8);
  assert.deepEqual(m.opsets, [{ domain: '', version: 13 }]);
  assert.deepEqual(m.feeds, [{ name: 'image', type: { elemType: 1, shape: ['N', 3, 12, 12] } }]);
  assert.deepEqual(m.nodes.map((n) => n.opType), ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm']);
  assert.deepEqual(m.initializers.get('W2')?.dims, [5, 6, 3, 3]);
  const cut = readOnnx(rewriteOnnx(m, { outputs: ['pool1'] }), 'cut');
  assert.deepEqual(cut.nodes.map((n) => n.opType), ['Conv', 'Relu', 'MaxPool']);
  assert.deepEqual([...cut.initializers.keys()], ['W1', 'B1']); // the weights only later nodes used are dropped
  assert.deepEqual(cut.outputs.map((o) => o.name), ['pool1']);
});

test('an intermediate layer of the tiny ONNX net equals an independent computation (1e-5); --pool avg and max are the mean and max of its map', async () => {
  const none = await loadOnnxBackboneNode(tiny, { layer: 'relu2', pool: 'none', preset: 'keras' });
  const avg = await loadOnnxBackboneNode(tiny, { layer: 'relu2', pool: 'avg', preset: 'keras' });
  const max = await loadOnnxBackboneNode(tiny, { layer: 'relu2', pool: 'max', preset: 'keras' });
  try {
    assert.deepEqual([none.info.dim, none.info.pooling, avg.info.dim, avg.info.pooling, max.info.pooling], [80, 'flatten', 5, 'global-average', 'global-max']);
    const ref = relu2Of(kerasInput(img));
    assert.ok(ref.v.some((x) => x > 0.05), 'the reference map is not all zero');
    const map = await none.embed([img]);
    assert.ok(maxDiff(map, ref.v) < 1e-5, `relu2: ${maxDiff(map, ref.v)}`);
    const mean = Array.from({ length: 5 }, (_, c) => map.subarray(c * 16, c * 16 + 16).reduce((a, b) => a + b, 0) / 16);
    const top = Array.from({ length: 5 }, (_, c) => Math.max(...map.subarray(c * 16, c * 16 + 16)));
    assert.ok(maxDiff(await avg.embed([img]), mean) < 1e-6);
    assert.ok(maxDiff(await max.embed([img]), top) < 1e-6);
    // A batch gives each image its own row.
    const flipped: PixelImage = { ...img, data: img.data.slice().reverse() };
    const two = await avg.embed([flipped, img]);
    assert.ok(maxDiff(two.subarray(5), mean) < 1e-6);
    assert.ok(maxDiff(two.subarray(0, 5), mean) > 1e-3);
  } finally {
    none.dispose(); avg.dispose(); max.dispose();
  }
});

test('the default layer is the graph output; a fixed batch of 1 is fed one image at a time', async () => {
  const out = await loadOnnxBackboneNode(tiny, { preset: 'keras' });
  const one = join(work, 'batch1.onnx');
  writeFileSync(one, tinyNet([1, 3, 12, 12]));
  const b1 = await loadOnnxBackboneNode(one, { preset: 'keras' });
  try {
    assert.deepEqual([out.info.layer, out.info.dim, out.info.pooling, out.info.kind], ['logits', 3, 'none', 'onnx']);
    const flipped: PixelImage = { ...img, data: img.data.slice().reverse() };
    const a = await out.embed([img, flipped]);
    assert.ok(maxDiff(await b1.embed([img, flipped]), a) < 1e-6);
  } finally {
    out.dispose(); b1.dispose();
  }
});

test('preprocessing in TypeScript equals TF.js\'s, bit for bit (tfjs preset, bilinear and nearest, grey, colour and alpha, up and down)', async () => {
  await initTfNode('wasm');
  const grey = await decodeImage(await greyPng(3, 105, 105), 'grey.png');
  const colour = await decodeImage(await colourPng(120, 90), 'colour.png');
  const rgba: PixelImage = { width: 37, height: 23, channels: 4, data: Uint8Array.from({ length: 37 * 23 * 4 }, (_, i) => (i * 97 + 13) % 256) };
  const greyAlpha: PixelImage = { width: 17, height: 29, channels: 2, data: Uint8Array.from({ length: 17 * 29 * 2 }, (_, i) => (i * 53 + 7) % 256) };
  for (const p of [nsfwjsPreprocessing(224), nsfwjsPreprocessing(299), nsfwjsPreprocessing(50), { ...nsfwjsPreprocessing(64), resize: 'nearest' as const }]) {
    const theirs = tf.tidy(() => preprocessBatch([grey, colour, rgba, greyAlpha], p).dataSync().slice());
    const ours = pixelBatch([grey, colour, rgba, greyAlpha], p, 'nhwc');
    // Identical input, so the converted networks differ from TF.js by the networks' arithmetic alone.
    assert.equal(maxDiff(ours, theirs), 0, `${p.height} ${p.resize}`);
  }
});

test('torchvision and clip presets: PIL\'s antialiased taps, torchvision\'s resize-then-centre-crop, ImageNet normalisation (hand-computed)', () => {
  // Shrinking 4 → 2 with the antialiased triangle filter: output 0 (centre 1.0 in input pixels,
  // support 2) weighs pixels 0, 1, 2 by 0.75, 0.75, 0.25, normalised: 3/7, 3/7, 1/7.
  const row: PixelImage = { width: 4, height: 1, channels: 1, data: Uint8Array.of(0, 70, 140, 210) };
  const p = { ...presetPreprocessing('torchvision', [1, 2]), shorterSide: undefined };
  const [r] = resizeImage(row, p); // a grey image: one plane
  assert.ok(Math.abs(r[0] - (3 * 0 + 3 * 70 + 140) / 7) < 1e-9 && Math.abs(r[1] - (70 + 3 * 140 + 3 * 210) / 7) < 1e-9, `got ${r[0]}, ${r[1]}`);
  // torchvision: Resize(256) of 640×480 → 341×256 (int(256·640/480)), CenterCrop(224): top 16, left round(58.5) = 58 (Python rounds half to even).
  assert.deepEqual(resizePlan(480, 640, presetPreprocessing('torchvision')), { rh: 256, rw: 341, top: 16, left: 58 });
  assert.equal(presetPreprocessing('torchvision', [299, 299]).shorterSide, 342); // torchvision's Inception: Resize(342), CenterCrop(299)
  assert.equal(presetPreprocessing('clip').resize, 'bicubic');
  // A white pixel, normalised: (1 − 0.485) / 0.229 in the red plane (channels first).
  const white: PixelImage = { width: 1, height: 1, channels: 1, data: Uint8Array.of(255) };
  const x = pixelBatch([white], { ...presetPreprocessing('torchvision', [1, 1]), shorterSide: 1 }, 'nchw');
  assert.ok(Math.abs(x[0] - (1 - 0.485) / 0.229) < 1e-6 && Math.abs(x[2] - (1 - 0.406) / 0.225) < 1e-6, `got ${Array.from(x)}`);
  assert.throws(() => presetPreprocessing('caffe'), /unknown preprocessing preset "caffe"; expected one of: tfjs, torchvision, keras, clip/);
});

test('round trip: extract with an ONNX backbone → fit → predict on a new image gives the library\'s answer', async () => {
  const files: Record<string, Uint8Array> = {};
  for (let s = 0; s < 4; s++) files[`dark/${s}.png`] = await greyPng(s, 12, 12);
  for (let s = 0; s < 4; s++) files[`colour/${s}.png`] = await colourPng(12 + s, 12);
  const root = makeTree(files);
  const fresh = makeTree({ 'unknown/new.png': await colourPng(20, 16) });
  const [feats, model, newFeats] = [join(work, 'rt.npy'), join(work, 'rt-model.json'), join(work, 'rt-new.npy')];
  const common = ['--backbone', tiny, '--layer', 'relu2', '--preset', 'keras', '--no-cache', '--no-progress'];
  try {
    for (const args of [['extract', root, '--out', feats, ...common], ['fit', feats, '--out', model, '-J', '2', '--no-progress'], ['extract', fresh, '--out', newFeats, ...common]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, r.err);
    }
    const meta = readFeatures(feats).meta as { backbone: { kind: string; layer: string; pooling: string }; preprocessing: { preset: string; range: number[] } };
    assert.deepEqual([meta.backbone.kind, meta.backbone.layer, meta.backbone.pooling, meta.preprocessing.preset, meta.preprocessing.range], ['onnx', 'relu2', 'global-average', 'keras', [-1, 1]]);
    const p = await runCli(['predict', model, '--features', newFeats, '--json']);
    assert.equal(p.code, 0, p.err);
    const cli = JSON.parse(p.out).predictions[0];
    // The library: the same backbone, the image decoded and embedded, the saved model's predictProba.
    const bb = await loadOnnxBackboneNode(tiny, { layer: 'relu2', preset: 'keras' });
    const v = await bb.embed([await decodeImage(readFileSync(join(fresh, 'unknown/new.png')), 'new.png')]);
    bb.dispose();
    assert.ok(maxDiff(v, readFeatures(newFeats).X.data) < 1e-6);
    const clf = readModelFile(model);
    const label = clf.predict({ data: v, rows: 1, cols: v.length })[0];
    const proba = Math.max(...clf.predictProba({ data: v, rows: 1, cols: v.length }).data);
    assert.equal(cli.label, label);
    assert.ok(Math.abs(cli.probability - proba) < 1e-9);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(fresh, { recursive: true, force: true });
  }
});

test('errors name the file or layer: not ONNX, unknown layer (with the candidates), not an image input, no input size', async () => {
  const png = join(work, 'picture.onnx');
  writeFileSync(png, await greyPng(1));
  const txt = join(work, 'notes.onnx');
  writeFileSync(txt, 'this is not a model\n');
  const textModel = join(work, 'text.onnx');
  writeFileSync(textModel, writeOnnx({
    nodes: [{ op: 'Gather', inputs: ['emb', 'input_ids'], outputs: ['tokens'] }, { op: 'ReduceMean', inputs: ['tokens'], outputs: ['pooled'], attrs: { axes: { ints: [1] } } }],
    inputs: [{ name: 'input_ids', elemType: 7, shape: ['batch', 'sequence'] }], outputs: [{ name: 'pooled' }],
    initializers: [{ name: 'emb', dims: [10, 4], data: new Float32Array(40) }],
  }));
  const dynamic = join(work, 'dynamic.onnx');
  writeFileSync(dynamic, tinyNet(['N', 3, 'height', 'width']));
  await assert.rejects(loadOnnxBackboneNode(png), /picture\.onnx: not an ONNX model \(.*\); expected a \.onnx file/);
  await assert.rejects(loadOnnxBackboneNode(txt), /notes\.onnx: not an ONNX model/);
  await assert.rejects(loadOnnxBackboneNode(tiny, { layer: 'fc9' }),
    /tiny\.onnx: no layer named "fc9"\. Candidate feature layers \(8\): c1 \(Conv, 1×6×12×12\), relu1 \(Relu, 1×6×12×12\), pool1 \(MaxPool, 1×6×6×6\), c2 \(Conv, 1×5×4×4\), relu2 \(Relu, 1×5×4×4\), gap \(GlobalAveragePool, 1×5×1×1\), flat \(Flatten, 1×5\), logits \(Gemm, 1×3\)$/);
  await assert.rejects(loadOnnxBackboneNode(textModel), /text\.onnx: input "input_ids" \(int64 batch×sequence\) is not an image tensor; protolens feeds images: expected one float32 input shaped N×3×H×W or N×H×W×3/);
  await assert.rejects(loadOnnxBackboneNode(dynamic), /dynamic\.onnx: input "image" \(N×3×H×W\) does not fix its height and width, so the input size cannot be inferred; give the input size/);
  const ok = await loadOnnxBackboneNode(dynamic, { preprocessing: { height: 12, width: 12 }, preset: 'keras' });
  assert.equal(ok.info.dim, 3);
  ok.dispose();
  await assert.rejects(loadOnnxBackboneNode(join(work, 'missing.onnx')), /missing\.onnx: no such file \(expected an ONNX model\)/);
  // The CLI: one line, exit code 2, the flag to pass.
  const data = makeTree({ 'a/1.png': await greyPng(1, 12, 12) });
  const out = join(work, 'e.npy');
  const cases: Array<[string[], RegExp]> = [
    [['--backbone', png], /^protolens: .*picture\.onnx: not an ONNX model/],
    [['--backbone', tiny, '--layer', 'fc9'], /^protolens: .*tiny\.onnx: no layer named "fc9"\. Candidate feature layers \(8\): c1 \(Conv, 1×6×12×12\)/],
    [['--backbone', textModel], /^protolens: .*text\.onnx: input "input_ids" \(int64 batch×sequence\) is not an image tensor/],
    [['--backbone', dynamic], /^protolens: .*dynamic\.onnx: input "image" \(N×3×H×W\) does not fix its height and width, so the input size cannot be inferred; pass --input-size H,W$/],
    [['--backbone', tiny, '--pool', 'median'], /^protolens: Invalid value for --pool: "median"\. Expected one of: avg, max, none\.$/],
    [['--backbone', tiny, '--preset', 'caffe'], /^protolens: Invalid value for --preset: "caffe"\. Expected one of: tfjs, torchvision, keras, clip\.$/],
    [['--backbone', tiny, '--mean', '0.5,0.5'], /^protolens: Invalid value for --mean: "0\.5,0\.5"\. Expected 3 comma-separated numbers\.$/],
  ];
  try {
    for (const [args, re] of cases) {
      const r = await runCli(['extract', data, '--out', out, '--no-cache', '--no-progress', ...args]);
      const err = r.err.trim().split('\n').pop()!; // after the dataset's summary lines
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(err, re);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    }
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('loadBackboneNode sends .onnx files to onnxruntime', async () => {
  const { backbone, from } = await loadBackboneNode(tiny, { layer: 'flat', preset: 'keras' });
  assert.deepEqual([from, backbone.info.kind, backbone.info.dim, backbone.info.name], ['onnx', 'onnx', 5, 'tiny']);
  backbone.dispose();
});

test('protolens backbones: the bundled list; a model\'s inputs, outputs and candidate layers with shapes; a TF.js folder\'s layers', async () => {
  const list = await runCli(['backbones']);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^name +network +input +layer +dim +weights\nmobilenet_v2 +MobileNetV2 +224×224 +flatten_1 +1280 +nsfwjs 4\.\d+\.\d+\ninception_v3 +InceptionV3 +299×299 +flatten_1 +2048/);
  const d = await runCli(['backbones', tiny]);
  assert.equal(d.code, 0, d.err);
  assert.match(d.out, /inputs: {2}image: float32 N×3×12×12\noutputs: logits: float32 unknown shape\nimage input: NCHW, 12×12\n/);
  assert.match(d.out, /candidate feature layers \(float32, rank 2–4; --all for every layer\): 8 of 8\n/);
  assert.match(d.out, /\nrelu2 +Relu +1×5×4×4\n/);
  const dyn = join(work, 'dyn-list.onnx');
  writeFileSync(dyn, tinyNet(['N', 3, 'height', 'width']));
  const symbolic = await runCli(['backbones', dyn]);
  assert.match(symbolic.out, /image input: NCHW, size not fixed \(give --input-size\)/);
  assert.match(symbolic.out, /\nc1 +Conv +N×6×\?×\?\n/); // onnxruntime's own shape inference: what it cannot know is "?"
  assert.match(symbolic.out, /\nflat +Flatten +N×5\n/);
  const sized = await runCli(['backbones', dyn, '--input-size', '20,16', '--json']);
  const j = JSON.parse(sized.out) as { candidates: Array<{ name: string; shape: number[] }> };
  assert.deepEqual(j.candidates.find((l) => l.name === 'relu2')?.shape, [1, 5, 8, 6]);
  // A TF.js layers folder: the layers with their output shapes.
  const dir = join(work, 'tfjs-folder');
  await initTfNode('wasm');
  const m = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, name: 'conv' }), tf.layers.flatten({ name: 'flat' })] });
  await saveLayersFolder(m, dir);
  m.dispose();
  const t = await runCli(['backbones', dir]);
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /TF\.js layers model\n.*\n.*\nimage input: NHWC, 8×8\n.*: 2 of 2\n.*\nconv +Conv2D +N×6×6×2\nflat +Flatten +N×72\n$/);
  const bad = await runCli(['backbones', join(work, 'nothing-here')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^protolens: unknown backbone ".*nothing-here": expected one of mobilenet_v2, inception_v3, omniglot_conv4, omniglot_conv4x2, a TF\.js model folder \(model\.json plus weight shards\) or an ONNX file \(\.onnx\)\n$/);
});

test('extraction on onnxruntime: "auto" runs one network with intra-op threads on every core (not one worker per core); the features are the same either way', async () => {
  const { extractDataset } = await import('../src/features/extract.node.ts');
  const { openImageDataset } = await import('../src/data/images.node.ts');
  const { availableParallelism } = await import('node:os');
  const files: Record<string, Uint8Array> = {};
  for (let s = 0; s < 64; s++) files[`c${s % 2}/${s}.png`] = s % 2 ? await colourPng(12 + (s % 5), 12) : await greyPng(s, 12, 12);
  const root = makeTree(files);
  const opts = { backbone: tiny, layer: 'relu2', preset: 'keras' };
  try {
    const auto = await extractDataset(openImageDataset(root), { ...opts, cacheDir: join(work, 'cache-auto') });
    const two = await extractDataset(openImageDataset(root), { ...opts, cacheDir: join(work, 'cache-two'), workers: 2 });
    const cores = Math.min(availableParallelism(), 4);
    assert.equal(auto.stats.computed, 64);
    assert.equal(auto.stats.workers, 1, 'one network');
    assert.equal(auto.stats.threads, cores, 'with an intra-op thread per core');
    assert.equal(two.stats.workers, Math.min(2, availableParallelism()), 'an explicit --workers is kept');
    assert.ok(maxDiff(auto.X.data, two.X.data) < 1e-6);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
