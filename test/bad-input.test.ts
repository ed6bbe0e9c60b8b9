/**
 * Issue 20's campaign of hostile inputs, one regression test each, with the minimal input that
 * showed the bug. Every case ends in a result or a named error (a one-line CLI message, exit 2):
 * never a stack trace, a hang, or memory out of proportion to the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { runCli } from './helpers/cli.ts';
import { declaredPng, greyPng, makeTree } from './helpers/images.ts';
import { encodeNpy, decodeNpy } from '../src/data/npy.ts';
import { parseCsvFeatures, parseJsonlFeatures } from '../src/data/text.ts';
import { parseJsonBytes } from '../src/data/json.ts';
import { openImageDataset } from '../src/data/images.node.ts';
import { BadImageError, openZip } from '../src/data/images.ts';
import { readFeatures, writeFeatures } from '../src/data/features.node.ts';
import { writeModelFile } from '../src/data/modelfile.node.ts';
import { loadModel } from '../src/model/io.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { threadsFor } from '../src/features/extract.node.ts';
import { rgbValues, type PixelImage } from '../src/features/preprocess.ts';
import { initTfNode } from '../src/features/backend.node.ts';
import { matrix } from '../src/linalg/matrix.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Two well-separated classes, 20 rows × 3 features. */
function twoBlobs(): { X: number[][]; y: string[] } {
  const X: number[][] = [], y: string[] = [];
  for (let i = 0; i < 20; i++) { X.push([(i % 2) * 5 + (i % 7) / 10, (i % 3) / 10, (i % 2) * 5]); y.push(i % 2 ? 'b' : 'a'); }
  return { X, y };
}

function workdir(): string {
  return mkdtempSync(join(tmpdir(), 'protolens-bad-'));
}

/** A fitted model file and its training features in a fresh folder. */
function modelAndFeatures(): { dir: string; model: string; features: string; json: ReturnType<PrototypeClassifier['toJSON']> } {
  const dir = workdir();
  const { X, y } = twoBlobs();
  const m = new PrototypeClassifier({ nPrototypes: 2, seed: 1 }).fit(X, y);
  const model = join(dir, 'm.json');
  writeModelFile(model, m);
  const features = join(dir, 'f.npy');
  writeFeatures(features, { X: matrix(Float32Array.from(X.flat()), 20, 3), labels: y });
  return { dir, model, features, json: m.toJSON() };
}

/** One line on stderr, exit code 2, no stack. */
function oneLine(r: { code: number; err: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.err);
  assert.equal(r.err.split('\n').filter((l) => l !== '').length, 1, r.err);
  assert.doesNotMatch(r.err, /\n\s+at /);
  assert.match(r.err, pattern);
}

test('a PNG declaring 15000×15000 pixels (67 bytes) is refused from its header, before decoding', async () => {
  await assert.rejects(decodeImage(declaredPng(15000, 15000), 'big.png'),
    (e: Error) => e instanceof BadImageError && e.message === 'big.png: the image is 15000×15000 pixels (225 MP); images up to 50 MP are read');
});

test('preparing the network input in JavaScript gives the TF.js ops\' values bit for bit (grey, grey+alpha, RGB, RGBA)', async () => {
  await initTfNode('wasm');
  for (const channels of [1, 2, 3, 4] as const) {
    const w = 7, h = 5;
    const data = new Uint8Array(w * h * channels);
    for (let k = 0; k < data.length; k++) data[k] = (k * 97 + channels * 13) % 256;
    data[channels - 1] = 0; data[2 * channels - 1] = 255; // alpha extremes (or plain values)
    const img: PixelImage = { width: w, height: h, channels, data };
    // the former tensor pipeline: alpha over white, then v·scale + lo
    const ref = tf.tidy(() => {
      const px = tf.tensor3d(Float32Array.from(data), [h, w, channels]);
      let rgb: tf.Tensor3D = px;
      if (channels === 1) rgb = tf.tile(px, [1, 1, 3]);
      else if (channels !== 3) {
        const colour = tf.slice(px, [0, 0, 0], [h, w, channels - 1]);
        const a = tf.div(tf.slice(px, [0, 0, channels - 1], [h, w, 1]), 255);
        const over = tf.add(tf.mul(colour, a), tf.mul(tf.sub(1, a), 255)) as tf.Tensor3D;
        rgb = channels === 2 ? tf.tile(over, [1, 1, 3]) : over;
      }
      return tf.add(tf.mul(rgb, 2 / 255), -1).dataSync() as Float32Array;
    });
    assert.deepEqual(Array.from(rgbValues(img, 2 / 255, -1)), Array.from(ref), `${channels} channel(s)`);
  }
});

test('predict on features holding NaN, Inf or 0 rows: one line naming the features file, exit 2', async () => {
  const { dir, model } = modelAndFeatures();
  try {
    const nan = join(dir, 'nan.npy');
    writeFileSync(nan, encodeNpy(matrix(new Float32Array([NaN, 0, 0]), 1, 3)));
    oneLine(await runCli(['predict', model, '--features', nan]), /^protolens: .*nan\.npy: X: row 0, column 0 is NaN; values must be finite\n$/);
    const inf = join(dir, 'inf.npy');
    writeFileSync(inf, encodeNpy(matrix(new Float32Array([0, -Infinity, 0]), 1, 3)));
    oneLine(await runCli(['predict', model, '--features', inf]), /^protolens: .*inf\.npy: X: row 0, column 1 is -Infinity; values must be finite\n$/);
    const empty = join(dir, 'empty.npy');
    writeFileSync(empty, encodeNpy(matrix(new Float32Array(0), 0, 3)));
    oneLine(await runCli(['predict', model, '--features', empty]), /empty\.npy: \.npy array has shape \(0, 3\); expected at least one sample and one feature/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model with 0 prototypes, τ ≤ 0, null in its arrays, duplicate classes or values beyond float32 is refused by name', () => {
  const { dir, json } = modelAndFeatures();
  rmSync(dir, { recursive: true, force: true });
  const bad = (patch: Record<string, unknown>, pattern: RegExp): void => assert.throws(() => loadModel({ ...json, ...patch }), pattern);
  bad({ nPrototypes: 0, prototypes: [], W: [], initClass: [] }, /model: field "nPrototypes" must be a positive integer, got 0/);
  bad({ tau: -1 }, /model: field "tau" must be a positive number of at least 1e-30, got -1/);
  bad({ tau: 0 }, /model: field "tau" must be a positive number of at least 1e-30, got 0/);
  bad({ prototypes: [null, ...(json.prototypes as number[]).slice(1)] }, /field "prototypes" value 0 is null; expected a finite number/);
  bad({ W: [...(json.W as number[]).slice(0, 3), null] }, /field "W" value 3 is null; expected a finite number/);
  bad({ classes: ['a', 'a'] }, /field "classes" lists "a" twice \(entries 0 and 1\); class names must be distinct/);
  bad({ W: [1e39, ...(json.W as number[]).slice(1)] }, /field "W" value 0 \(1e\+39\) is beyond the float32 range/);
});

test('a model path that is a folder: one line, exit 2', async () => {
  const { dir, features } = modelAndFeatures();
  try {
    const folder = join(dir, 'model.json');
    mkdirSync(folder);
    oneLine(await runCli(['predict', folder, '--features', features]), /model\.json: is a folder; expected a model file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a symbolic-link loop in a data folder is named (or left out with skipBad), not walked 40 levels deep', async () => {
  const root = makeTree({ 'c/a.png': await greyPng(1), 'd/b.png': await greyPng(2) });
  try {
    symlinkSync('..', join(root, 'c', 'up'));
    assert.throws(() => openImageDataset(root),
      (e: Error) => e instanceof BadImageError && e.message.startsWith(`${root}/c/up: symbolic link loop (it leads back to `));
    const ds = openImageDataset(root, { skipBad: true });
    assert.deepEqual(ds.entries.map((e) => e.path), ['c/a.png', 'd/b.png']);
    assert.deepEqual(ds.skipped.map((s) => s.path), ['c/up']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an output under /proc: one line naming it, and no hang in creating its folder', { skip: !existsSync('/proc/self') && 'no /proc here' }, async () => {
  const { dir, features } = modelAndFeatures();
  try {
    oneLine(await runCli(['fit', features, '--out', '/proc/x.json', '--no-progress']), /^protolens: \/proc\/x\.json: cannot be written \(this location does not accept new files: ENOENT\)\n$/);
    // Node's recursive mkdir never returns here; ours does.
    oneLine(await runCli(['fit', features, '--out', '/proc/self/x/y.json', '--no-progress']), /\/proc\/self\/x: cannot be written/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--workers 1000 on 4 images loads one network, not 1,000', () => {
  assert.equal(threadsFor(1000, 4, 8), 1);
  assert.equal(threadsFor(1000, 10_000, 8), availableParallelism());
  assert.equal(threadsFor(2, 5, 2), Math.min(2, availableParallelism()));
  assert.equal(threadsFor('auto', 10, 8), 1);
});

/** The offset of the central-directory record of entry `name` in a zip. */
function centralEntry(zip: Uint8Array, name: string): number {
  const dv = new DataView(zip.buffer, zip.byteOffset);
  for (let o = 0; o + 46 < zip.length; o++) {
    if (dv.getUint32(o, true) !== 0x02014b50) continue;
    const n = new TextDecoder().decode(zip.subarray(o + 46, o + 46 + dv.getUint16(o + 28, true)));
    if (n === name) return o;
  }
  throw new Error(`no ${name} in the zip`);
}

test('zip bombs: a declared size over the limit is refused before inflating; a size that lies stops at the declared size', async () => {
  const png = await greyPng(3);
  const zip = zipSync({ 'c/big.png': new Uint8Array(1 << 20), 'c/ok.png': png, 'd/ok.png': png }, { level: 9 });
  const dv = new DataView(zip.buffer, zip.byteOffset);
  const o = centralEntry(zip, 'c/big.png');
  // 1 MiB of zeros deflates to ~1 KB; claim 3 GB (as the 3 MB archive of the issue did)
  const claims3g = zip.slice();
  new DataView(claims3g.buffer).setUint32(o + 24, 3 * 2 ** 30, true);
  const z = openZip(claims3g, 'bomb.zip');
  assert.throws(() => z.read('c/big.png'), (e: Error) => e instanceof BadImageError &&
    e.message === 'bomb.zip/c/big.png: declares 3072 MB uncompressed; entries over 256 MB are refused (a zip bomb?) (the skipBad option leaves such files out)');
  assert.deepEqual(Array.from(z.read('c/ok.png')), Array.from(png));
  // claims 1,000 bytes but inflates to 1 MiB: stopped at 1,000
  dv.setUint32(o + 24, 1000, true);
  assert.throws(() => openZip(zip, 'liar.zip').read('c/big.png'), /liar\.zip\/c\/big\.png: inflates beyond its declared 1000 bytes \(damaged, or a zip bomb\); stopped there/);
});

test('zip: entries with ".." or given twice are left out by name', async () => {
  const png = await greyPng(4);
  const zip = zipSync({ '../evil/a.png': png, 'c/a.png': png, 'd/b.png': png });
  const z = openZip(zip, 'x.zip');
  assert.deepEqual(z.files.sort(), ['c/a.png', 'd/b.png']);
  assert.deepEqual(z.bad, [{ path: '../evil/a.png', reason: 'unsafe name in the archive (a ".." part)' }]);
});

test('a 200 MB model of "0," costs 8 bytes per number: number lists are read into one Float64Array of their exact length', () => {
  const n = 1_000_000;
  const text = `{"W": [${'0,'.repeat(n - 1)}0], "classes": ["a", 7], "k": [1, "x"]}`;
  const v = parseJsonBytes(enc(text), 'm.json') as { W: Float64Array; classes: unknown[]; k: unknown[] };
  assert.ok(v.W instanceof Float64Array);
  assert.equal(v.W.length, n);
  assert.equal(v.W.buffer.byteLength, 8 * n);
  assert.deepEqual(v.classes, ['a', 7]);
  assert.deepEqual(v.k, [1, 'x']);
});

test('an .npy header claiming 60 MB is refused from its length field, before it is read', () => {
  const b = new Uint8Array(16);
  b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
  new DataView(b.buffer).setUint32(8, 60 * 2 ** 20, true);
  assert.throws(() => decodeNpy(b, 'h.npy'), /^RangeError: h\.npy: \.npy header claims 62914560 bytes; headers longer than 65536 bytes are refused/);
});

test('a feature of 3e38 (finite in float32, its square is not) is refused by fit and predict', async () => {
  const { dir, model } = modelAndFeatures();
  try {
    const { X, y } = twoBlobs();
    X[4][1] = 3e38;
    assert.throws(() => new PrototypeClassifier({ nPrototypes: 2 }).fit(X, y), /X: row 4, column 1 is 3\.0000000054977558e\+38; values must be finite and within ±1e15/);
    const f = join(dir, 'huge.npy');
    writeFileSync(f, encodeNpy(matrix(new Float32Array([1, 3e38, 0]), 1, 3)));
    oneLine(await runCli(['predict', model, '--features', f]), /huge\.npy: X: row 0, column 1 is 3\.0000000054977558e\+38; values must be finite and within ±1e15/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CSV cells 0x10 and 0b11 are not numbers', () => {
  assert.throws(() => parseCsvFeatures('a,b\n0x10,1\n', 'f.csv'), /f\.csv, line 2, column "a": "0x10" is not a finite number \(expected decimal notation/);
  assert.throws(() => parseCsvFeatures('a,b\n1,0b11\n', 'f.csv'), /column "b": "0b11" is not a finite number/);
  assert.throws(() => parseCsvFeatures('a,b\n1,1e39\n', 'f.csv'), /column "b": "1e39" is not a finite number in float32/);
});

test('JSON lines nested 200,000 deep: a named error, not "Maximum call stack size exceeded"', () => {
  const line = `{"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
  assert.throws(() => parseJsonlFeatures(line, 'd.jsonl'), /^RangeError: d\.jsonl, line 1: JSON nested more than 64 levels deep \(at line 1, column 69\)$/);
});

test('JSON lines: 1e400 is named as beyond a double, not "null"', () => {
  assert.throws(() => parseJsonlFeatures('{"x":[1e400,1]}', 'i.jsonl'), /i\.jsonl, line 1: x\[0\] is a number beyond the range of a double \(such as 1e400\); expected a finite number/);
  assert.throws(() => parseJsonlFeatures('{"x":[1e39,1]}', 'i.jsonl'), /x\[0\] \(1e\+39\) is beyond the float32 range/);
});

test('CSV: quoted fields with line breaks are read (RFC 4180), lines counted from the file', () => {
  const t = parseCsvFeatures('a,b,label\n1,2,"x\ny"\r\n3,4,"z ""q"""\n', 'n.csv');
  assert.deepEqual(t.labels, ['x\ny', 'z "q"']);
  assert.deepEqual(Array.from(t.X.data), [1, 2, 3, 4]);
  assert.throws(() => parseCsvFeatures('a,b,label\n1,2,"x\ny"\n3,x,z\n', 'n.csv'), /n\.csv, line 4, column "b"/);
  assert.throws(() => parseCsvFeatures('a,label\n1,"open\n', 'n.csv'), /n\.csv, line 2: unterminated quoted field/);
});

// ---- found by the fuzzers (test/fuzz.test.ts, bench/fuzz.ts), each with the input fast-check shrank it to

test('fuzz: a feature sidecar with "paths": null is refused by name (was "Cannot read properties of null")', () => {
  const dir = workdir();
  try {
    const npy = join(dir, 'f.npy');
    writeFileSync(npy, encodeNpy(matrix(new Float32Array([1, 2, 3, 4, 5, 6]), 3, 2)));
    writeFileSync(join(dir, 'f.json'), '{"format":"protolens-features","version":1,"rows":3,"cols":2,"dtype":"float32","labels":[0,0,0],"meta":{"created":"x"},"paths":null}');
    assert.throws(() => readFeatures(npy), (e: Error) => e instanceof TypeError && e.message === `${join(dir, 'f.json')}: "paths" must be a list of strings, one per row (or absent)`);
    writeFileSync(join(dir, 'f.json'), '{"format":"protolens-features","version":0,"rows":3,"cols":2,"labels":[]}');
    assert.throws(() => readFeatures(npy), /f\.json: format version 0 is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: τ = 5e-324 in a saved NearestClassMean (positive, but 1/(2τ) overflows) is refused instead of predicting NaN', () => {
  const text = '{"format":"protolens-model","version":1,"kind":"NearestClassMean","library":"protolens 0.1.0","params":{"tau":"auto","tauScale":0.1,"seed":0},' +
    '"classes":["a","b","c"],"nFeatures":3,"tau":5e-324,"means":[0.4000000059604645,0.1666666716337204,-0.2142857164144516,4.349999904632568,0.1666666716337204,' +
    '0.7857142686843872,8.300000190734863,0.1666666716337204,1.7857142686843872]}';
  assert.throws(() => loadModel(parseJsonBytes(enc(text), 'm.json') as never), /model: field "tau" must be a positive number of at least 1e-30, got 5e-324/);
  const ok = loadModel(parseJsonBytes(enc(text.replace('5e-324', '0.5')), 'm.json') as never);
  assert.ok(ok.predictProba([[1, 2, 3]]).data.every(Number.isFinite));
});

test('fuzz: model arrays beyond ±1e15 (a prototype at 1e20 puts every distance past float32) are refused', () => {
  const { dir, json } = modelAndFeatures();
  rmSync(dir, { recursive: true, force: true });
  assert.throws(() => loadModel({ ...json, prototypes: (json.prototypes as number[]).map(() => 1e20) }), /field "prototypes" value 0 \(100000000000000000000\) is beyond ±1e15/);
});
