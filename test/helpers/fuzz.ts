/**
 * Property-based fuzzing of every reader (issue 20), shared by test/fuzz.test.ts (a fixed seed,
 * about a minute) and bench/fuzz.ts (the long campaign, counts per reader).
 *
 * Each target draws inputs of four families — valid, truncated, bit-flipped and adversarial
 * (headers that lie, hostile names, deep nesting, odd number spellings) — runs the reader, and
 * judges the outcome: a result (checked against the source when the input was valid) or a named
 * error (RangeError/TypeError/BadImageError whose message names the input), never another
 * error, an engine message ("Maximum call stack", "Cannot read properties"), NaN probabilities
 * from a model that loaded, or a run longer than {@link SLOW_MS}.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { strToU8, zipSync } from 'fflate';
import sharp from 'sharp';
import { decodeNpy } from '../../src/data/npy.ts';
import { parseCsvFeatures, parseJsonlFeatures } from '../../src/data/text.ts';
import { parseJsonBytes } from '../../src/data/json.ts';
import { readFeatures } from '../../src/data/features.node.ts';
import { BadImageError, listingFromPaths, openZip } from '../../src/data/images.ts';
import { loadModel } from '../../src/model/io.ts';
import type { Classifier, ModelJSON } from '../../src/model/types.ts';
import { PrototypeClassifier } from '../../src/model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../../src/model/baselines.ts';
import { FeatureTransform, Pipeline } from '../../src/model/preprocess.ts';
import { decodeImage } from '../../src/features/decode.node.ts';
import { analyzeModel } from '../../src/interpret/analyze.ts';
import { toArrays } from '../../src/linalg/matrix.ts';
import { declaredPng } from './images.ts';

/** A reader that takes longer than this on an input of at most a few kilobytes hangs, for our purpose. */
export const SLOW_MS = 2000;

/** Families of inputs. */
export type Family = 'valid' | 'truncated' | 'bit-flipped' | 'adversarial';

/** One generated input: its family, its bytes, and for valid inputs what reading it must give. */
export interface Input<E = unknown> {
  family: Family;
  bytes: Uint8Array;
  expected?: E;
}

/** Outcome counts of a campaign, per family. */
export type Tally = Record<Family, { result: number; refused: number }>;

export function newTally(): Tally {
  return { valid: { result: 0, refused: 0 }, truncated: { result: 0, refused: 0 }, 'bit-flipped': { result: 0, refused: 0 }, adversarial: { result: 0, refused: 0 } };
}

/** Messages that come from the engine or a library's internals, not from a reader's checks. */
const INTERNAL = /Maximum call stack|Cannot read propert|Cannot set propert|is not a function|is not iterable|Invalid array length|Array buffer allocation failed|Invalid typed array length|out of bounds|Cannot convert|is not defined/;

/**
 * Judges a thrown error: it must be a named one whose message starts with `name`.
 * @throws AssertionError describing what was wrong.
 */
export function assertNamed(e: unknown, name: string): void {
  const ok = e instanceof RangeError || e instanceof TypeError || e instanceof BadImageError;
  assert.ok(ok, `not a named error: ${(e as Error)?.stack ?? String(e)}`);
  const msg = (e as Error).message;
  assert.ok(msg.startsWith(name), `message does not name ${name}: ${msg}`);
  assert.doesNotMatch(msg, INTERNAL, `engine message: ${msg}`);
  assert.ok(!msg.includes('\n') || msg.startsWith(name), msg);
}

/** Runs `read` on one input; records the outcome; judges it (and the result through `check`). */
export async function judge<R>(tally: Tally, family: Family, name: string, read: () => R | Promise<R>, check?: (r: R) => void): Promise<void> {
  const t0 = performance.now();
  let r: R;
  try {
    r = await read();
  } catch (e) {
    assertNamed(e, name);
    tally[family].refused++;
    assert.ok(performance.now() - t0 < SLOW_MS, `${name}: ${(performance.now() - t0).toFixed(0)} ms to refuse`);
    return;
  }
  assert.ok(performance.now() - t0 < SLOW_MS, `${name}: ${(performance.now() - t0).toFixed(0)} ms to read`);
  check?.(r);
  tally[family].result++;
}

// ---------------------------------------------------------------- mutations

/** An input's bytes cut at a random point, bits flipped, or bytes spliced. */
export function mutated<E>(valid: fc.Arbitrary<Input<E>>): fc.Arbitrary<Input<E>> {
  const truncated = fc.tuple(valid, fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([v, f]): Input<E> => ({ family: 'truncated', bytes: v.bytes.slice(0, Math.floor(f * v.bytes.length)) }));
  const flipped = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }))
    .map(([v, flips]): Input<E> => {
      const b = v.bytes.slice();
      if (b.length) for (const [at, bit] of flips) b[at % b.length] ^= 1 << bit;
      return { family: 'bit-flipped', bytes: b };
    });
  return fc.oneof(truncated, flipped);
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---------------------------------------------------------------- .npy

interface NpySource { rows: number; cols: number; values: number[] }

function npyBytes(dict: string, data: Uint8Array, major: number, lenOverride?: number): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  const pad = ' '.repeat((64 - ((pre + enc(dict).length + 1) % 64)) % 64);
  const h = enc(dict + pad + '\n');
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const len = lenOverride ?? h.length;
  if (major === 1) { out[8] = len & 0xff; out[9] = (len >> 8) & 0xff; } else new DataView(out.buffer).setUint32(8, len >>> 0, true);
  out.set(h, pre);
  out.set(data, pre + h.length);
  return out;
}

const finiteF32 = fc.float({ noNaN: true, noDefaultInfinity: true });

/** Valid .npy files: float32/float64, either byte order, C or Fortran order, versions 1–3. */
export const npyValid: fc.Arbitrary<Input<NpySource>> = fc.record({
  rows: fc.integer({ min: 1, max: 6 }), cols: fc.integer({ min: 1, max: 6 }),
  size: fc.constantFrom(4, 8), little: fc.boolean(), fortran: fc.boolean(), major: fc.constantFrom(1, 2, 3), seed: fc.array(finiteF32, { minLength: 36, maxLength: 36 }),
}).map(({ rows, cols, size, little, fortran, major, seed }) => {
  const values = seed.slice(0, rows * cols);
  const data = new Uint8Array(rows * cols * size);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const k = fortran ? j * rows + i : i * cols + j;
      if (size === 4) dv.setFloat32(4 * k, values[i * cols + j], little); else dv.setFloat64(8 * k, values[i * cols + j], little);
    }
  }
  const dict = `{'descr': '${little ? '<' : '>'}f${size}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${rows}, ${cols}), }`;
  return { family: 'valid' as const, bytes: npyBytes(dict, data, major), expected: { rows, cols, values } };
});

const dimText = fc.oneof(fc.nat({ max: 8 }).map(String), fc.constantFrom('0', '-1', '1e3', '0x10', '1L', '99999999999999999999', '4294967296', '1.5', '', ' ', 'None', '1000000000000'));

/** Headers that lie: shapes that overflow or claim 10¹² rows, odd dtypes, header lengths that claim megabytes. */
export const npyAdversarial: fc.Arbitrary<Input<NpySource>> = fc.record({
  descr: fc.constantFrom('<f4', '>f8', '<i4', '|u1', '<c8', 'O', '<f2', "f4'", ''),
  fortran: fc.constantFrom('True', 'False', 'maybe'),
  shape: fc.array(dimText, { maxLength: 4 }),
  dataLen: fc.nat({ max: 300 }),
  major: fc.constantFrom(1, 2, 3, 0, 9),
  len: fc.option(fc.oneof(fc.nat({ max: 0xffff }), fc.constantFrom(2 ** 32 - 1, 60 * 2 ** 20, 65537))),
}).map(({ descr, fortran, shape, dataLen, major, len }) => {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  return { family: 'adversarial' as const, bytes: npyBytes(dict, new Uint8Array(dataLen), major, len ?? undefined) };
});

/** Reads an .npy input and judges it; valid ones must round-trip to float32. */
export function npyTarget(tally: Tally, input: Input<NpySource>): Promise<void> {
  return judge(tally, input.family, 'f.npy', () => decodeNpy(input.bytes, 'f.npy'), (m) => {
    assert.equal(m.data.length, m.rows * m.cols);
    if (input.expected) {
      assert.deepEqual([m.rows, m.cols], [input.expected.rows, input.expected.cols]);
      assert.deepEqual(Array.from(m.data), input.expected.values.map(Math.fround));
    }
  });
}

// ---------------------------------------------------------------- CSV and JSON lines

interface TextSource { X: number[][]; labels: string[] }

/** Strings with the characters that matter to CSV: quotes, commas, line breaks, spaces, non-ASCII. */
const csvText = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\n', '\r', 'é', '漢', '\t', '1', '.', '-'), maxLength: 12 });

function quote(s: string, always: boolean): string {
  return always || /[",\n\r]/.test(s) || s !== s.trim() || s === '' ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Valid CSV: a feature matrix with a label column of hostile strings, random quoting, LF or CRLF, an optional BOM. */
export const csvValid: fc.Arbitrary<Input<TextSource>> = fc.record({
  rows: fc.integer({ min: 1, max: 5 }), cols: fc.integer({ min: 1, max: 4 }),
  values: fc.array(finiteF32, { minLength: 20, maxLength: 20 }), labels: fc.array(csvText, { minLength: 5, maxLength: 5 }),
  crlf: fc.boolean(), bom: fc.boolean(), quoteAll: fc.boolean(), labelFirst: fc.boolean(),
}).map(({ rows, cols, values, labels, crlf, bom, quoteAll, labelFirst }) => {
  const nl = crlf ? '\r\n' : '\n';
  // as written (String(-0) is "0")
  const X = Array.from({ length: rows }, (_, i) => values.slice(i * cols, (i + 1) * cols).map((v) => Math.fround(v) || 0));
  const head = Array.from({ length: cols }, (_, j) => `f${j}`);
  const line = (cells: string[], label: string): string => (labelFirst ? [label, ...cells] : [...cells, label]).join(',');
  let text = (bom ? '\uFEFF' : '') + line(head, 'label') + nl;
  for (let i = 0; i < rows; i++) text += line(X[i].map((v) => quote(String(v), quoteAll)), quote(labels[i], quoteAll)) + nl;
  return { family: 'valid' as const, bytes: enc(text), expected: { X, labels: labels.slice(0, rows) } };
});

const numberSpelling = fc.constantFrom('1', '-2.5', '.5', '5.', '3e-4', '+1', 'NaN', 'nan', 'Infinity', '-inf', '0x10', '0b11', '0o7', '1e400', '1e39',
  '-1e-400', '', ' ', '1_000', '١', '1,5', '"2"', 'NA', 'null', '１', '1e', 'e1', '--1', '0.0.1');

/** Adversarial CSV: ragged rows, odd number spellings, stray quotes, only a header, binary junk. */
export const csvAdversarial: fc.Arbitrary<Input<TextSource>> = fc.oneof(
  fc.array(fc.array(fc.oneof(numberSpelling, csvText), { maxLength: 5 }), { maxLength: 6 })
    .map((rows) => ({ family: 'adversarial' as const, bytes: enc(['a,b,label', ...rows.map((r) => r.join(','))].join('\n')) })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ family: 'adversarial' as const, bytes })),
);

function sameMatrix(X: { data: Float32Array; rows: number; cols: number }, want: number[][]): void {
  assert.deepEqual([X.rows, X.cols], [want.length, want[0].length]);
  assert.deepEqual(Array.from(X.data), want.flat());
}

export function csvTarget(tally: Tally, input: Input<TextSource>): Promise<void> {
  return judge(tally, input.family, 'f.csv', () => parseCsvFeatures(input.bytes, 'f.csv'), (t) => {
    assert.equal(t.X.data.length, t.X.rows * t.X.cols);
    assert.ok(t.X.data.every(Number.isFinite));
    if (input.expected) { sameMatrix(t.X, input.expected.X); assert.deepEqual(t.labels, input.expected.labels); }
  });
}

/** Valid JSON lines with labels of any text, blank lines, CRLF, an optional BOM. */
export const jsonlValid: fc.Arbitrary<Input<TextSource>> = fc.record({
  rows: fc.integer({ min: 1, max: 5 }), cols: fc.integer({ min: 1, max: 4 }),
  values: fc.array(finiteF32, { minLength: 20, maxLength: 20 }), labels: fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { minLength: 5, maxLength: 5 }),
  crlf: fc.boolean(), bom: fc.boolean(), blank: fc.boolean(),
}).map(({ rows, cols, values, labels, crlf, bom, blank }) => {
  const X = Array.from({ length: rows }, (_, i) => values.slice(i * cols, (i + 1) * cols).map(Math.fround));
  const nl = crlf ? '\r\n' : '\n';
  const lines = X.map((x, i) => JSON.stringify({ x: x.map((v) => (Object.is(v, -0) ? 0 : v)), label: labels[i] }));
  if (blank) lines.splice(1, 0, '   ');
  return { family: 'valid' as const, bytes: enc((bom ? '\uFEFF' : '') + lines.join(nl) + nl), expected: { X: X.map((r) => r.map((v) => (Object.is(v, -0) ? 0 : v))), labels: labels.slice(0, rows) } };
});

/** Adversarial JSON lines: any JSON value per line, deep nesting, huge numbers, missing or odd fields. */
export const jsonlAdversarial: fc.Arbitrary<Input<TextSource>> = fc.oneof(
  fc.array(fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.record({ x: fc.array(fc.oneof(fc.double(), fc.constantFrom(null, '1', true, [1], 1e308)), { maxLength: 4 }), label: fc.jsonValue({ maxDepth: 1 }) }).map((o) => JSON.stringify(o)),
    fc.integer({ min: 1, max: 100_000 }).map((d) => `{"x":${'['.repeat(d)}${']'.repeat(d)}}`),
    fc.constantFrom('{"x":[1e400]}', '{"x":[-1e39]}', '{"x":[1],"label":1e999}', '{"x":[1]', '{"x":[1],"path":3}', '{"__proto__":{"x":[1]}}'),
  ), { minLength: 1, maxLength: 4 }).map((ls) => ({ family: 'adversarial' as const, bytes: enc(ls.join('\n')) })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ family: 'adversarial' as const, bytes })),
);

export function jsonlTarget(tally: Tally, input: Input<TextSource>): Promise<void> {
  return judge(tally, input.family, 'f.jsonl', () => parseJsonlFeatures(input.bytes, 'f.jsonl'), (t) => {
    assert.ok(t.X.data.every(Number.isFinite));
    assert.equal(t.X.data.length, t.X.rows * t.X.cols);
    if (input.expected) { sameMatrix(t.X, input.expected.X); assert.deepEqual(t.labels, input.expected.labels); }
  });
}

// ---------------------------------------------------------------- model JSON

/** One fitted model of every kind, on 12 samples × 3 features of 3 classes. */
export function fittedModels(): Classifier[] {
  const X: number[][] = [], y: string[] = [];
  for (let i = 0; i < 12; i++) { X.push([(i % 3) * 4 + (i % 5) / 5, (i % 2) / 3, (i % 3) - (i % 4) / 7]); y.push(['a', 'b', 'c'][i % 3]); }
  return [
    new PrototypeClassifier({ nPrototypes: 4, seed: 1, maxIter: 5 }).fit(X, y),
    new NearestClassMean().fit(X, y),
    new SoftmaxRegression({ maxIter: 20 }).fit(X, y),
    new KNearestNeighbors({ k: 3 }).fit(X, y),
    new Pipeline(new FeatureTransform('sqrt-center-l2'), new PrototypeClassifier({ nPrototypes: 3, seed: 2, maxIter: 5 })).fit(X.map((r) => r.map(Math.abs)), y),
  ];
}

/** A replacement for one field: any JSON value, a wrong type, an array wrong in one place. */
function wrongValue(original: unknown): fc.Arbitrary<unknown> {
  const arr = Array.isArray(original) ? original : null;
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(null, -1, 0, 1e39, 1e308, 'x', true, [], {}, [null], 2 ** 31, -0, 0.5),
    ...(arr ? [
      fc.tuple(fc.nat(), fc.constantFrom(null, 'x', 1e39, -1e39, 1e308, [], {}, true, -1, 1e20)).map(([k, v]) => arr.length ? arr.map((x, i) => (i === k % arr.length ? v : x)) : [v]),
      fc.nat({ max: 5 }).map((n) => arr.slice(n)),
      fc.nat({ max: 5 }).map((n) => [...arr, ...arr.slice(0, n + 1)]),
    ] : []),
  );
}

/** Valid saved models of every kind, as written by toJSON. */
export function modelValid(models: Classifier[]): fc.Arbitrary<Input<Classifier>> {
  return fc.constantFrom(...models).map((m) => ({ family: 'valid' as const, bytes: enc(JSON.stringify(m.toJSON())), expected: m }));
}

/** Saved models with one field wrong in turn (top level, or inside params, or inside a Pipeline's inner model or transform). */
export function modelAdversarial(models: Classifier[]): fc.Arbitrary<Input<Classifier>> {
  return fc.constantFrom(...models).chain((m) => {
    const json = JSON.parse(JSON.stringify(m.toJSON())) as Record<string, any>;
    const spots: Array<{ parent: Record<string, unknown>; key: string }> = [];
    for (const k of Object.keys(json)) spots.push({ parent: json, key: k });
    for (const k of Object.keys(json.params ?? {})) spots.push({ parent: json.params, key: k });
    for (const inner of [json.model, json.transform]) if (inner) for (const k of Object.keys(inner)) spots.push({ parent: inner, key: k });
    return fc.tuple(fc.nat({ max: spots.length - 1 }), fc.boolean()).chain(([s, remove]) => {
      const { parent, key } = spots[s];
      return (remove ? fc.constant(undefined) : wrongValue(parent[key])).map((v) => {
        const keep = parent[key];
        if (v === undefined) delete parent[key]; else parent[key] = v;
        const bytes = enc(JSON.stringify(json));
        parent[key] = keep;
        return { family: 'adversarial' as const, bytes };
      });
    });
  });
}

/** Loads a model from bytes as `protolens` does; a model that loads must predict finite probabilities summing to 1. */
export function modelTarget(tally: Tally, input: Input<Classifier>): Promise<void> {
  return judge(tally, input.family, 'm.json', () => {
    try {
      return loadModel(parseJsonBytes(input.bytes, 'm.json: not valid JSON') as ModelJSON);
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) throw new (e.constructor as typeof RangeError)(`m.json: ${e.message}`);
      throw e;
    }
  }, (m) => {
    const D = m.nFeatures_;
    const X = Array.from({ length: 4 }, (_, i) => Array.from({ length: D }, (_, d) => ((i * 7 + d * 3) % 5) / 2));
    const P = m.predictProba(X);
    const L = m.classes_.length;
    for (let i = 0; i < 4; i++) {
      let s = 0;
      for (let l = 0; l < L; l++) { const p = P.data[i * L + l]; assert.ok(p >= 0 && p <= 1, `${m.kind}: probability ${p}`); s += p; }
      assert.ok(Math.abs(s - 1) < 1e-3, `${m.kind}: probabilities sum to ${s}`);
    }
    if (input.expected) assert.deepEqual(Array.from(P.data), Array.from(input.expected.predictProba(X).data));
    const proto = m instanceof PrototypeClassifier ? m : m instanceof Pipeline && m.model instanceof PrototypeClassifier ? m.model : null;
    if (proto) {
      const Xp = m instanceof Pipeline ? toArrays(m.transform.transform(X)) : X;
      const e = proto.explain(Xp[0]);
      assert.ok(Number.isFinite(e.probability) && Number.isFinite(e.margin), 'explanation not finite');
      // the interpretation report's analysis runs on what loaded, too
      const a = analyzeModel(proto, Xp, Xp.map((_, i) => proto.classes_[i % proto.classes_.length]), { nearest: 2 });
      assert.ok(Number.isFinite(a.samples.accuracy));
    }
  });
}

// ---------------------------------------------------------------- feature sidecar

/** A valid sidecar for a 3×2 matrix, and mutations of one field. */
export const sidecarInputs: fc.Arbitrary<Input<{ labels: unknown[] }>> = fc.record({
  labels: fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.integer()), { minLength: 3, maxLength: 3 }),
  paths: fc.option(fc.array(fc.string({ maxLength: 6 }), { minLength: 3, maxLength: 3 })),
  field: fc.constantFrom('', 'format', 'version', 'rows', 'cols', 'labels', 'paths', 'meta', 'dtype'),
  value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, 2, 3, -1, 99, [], [1e400], ['a'], 'x', 1e308)),
  deep: fc.option(fc.integer({ min: 60, max: 5000 }), { freq: 1 }),
  valid: fc.boolean(),
}).map(({ labels, paths, field, value, deep, valid }) => {
  const s: Record<string, unknown> = { format: 'protolens-features', version: 1, rows: 3, cols: 2, dtype: 'float32', labels, meta: { created: 'x' } };
  if (paths) s.paths = paths;
  if (valid) return { family: 'valid' as const, bytes: enc(JSON.stringify(s)), expected: { labels } };
  if (field) s[field] = value;
  let text = JSON.stringify(s);
  if (deep !== null) text = text.replace('"meta":{', `"meta":{"deep":${'['.repeat(deep)}${']'.repeat(deep)},`);
  return { family: 'adversarial' as const, bytes: enc(text) };
});

const sidecarNpy = (() => {
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  return npyBytes(dict, new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer), 1);
})();

/** Reads a feature file whose sidecar is the input, through readFeatures (files in a scratch folder). */
export function sidecarTarget(tally: Tally, input: Input<{ labels: unknown[] }>, dir: string): Promise<void> {
  const npy = join(dir, 'f.npy');
  writeFileSync(npy, sidecarNpy);
  writeFileSync(join(dir, 'f.json'), input.bytes);
  return judge(tally, input.family, join(dir, 'f.'), () => readFeatures(npy), (fs) => {
    assert.equal(fs.X.rows, 3);
    assert.ok(fs.labels.length === 0 || fs.labels.length === 3);
    assert.ok(fs.labels.every((l) => typeof l === 'string' || Number.isFinite(l)));
    if (input.expected) assert.deepEqual(fs.labels, input.expected.labels);
  });
}

// ---------------------------------------------------------------- zip data sets

type ZipSource = Record<string, Uint8Array>;

const zipName = fc.constantFrom('a', 'b', 'Greek', 'ü', '..', '.hidden', '__MACOSX', 'c d');
const zipPath = fc.tuple(fc.array(zipName, { minLength: 0, maxLength: 3 }), fc.constantFrom('x.png', 'y.jpg', 'z.txt', 'w.PNG', ''))
  .map(([dirs, f]) => [...dirs, f].join('/'));

/** Valid zips: small trees of files (some PNG-named), stored or deflated. */
export const zipValid: fc.Arbitrary<Input<ZipSource>> = fc.record({
  files: fc.dictionary(zipPath.filter((p) => p !== '' && !p.endsWith('/') && !p.split('/').includes('..')), fc.uint8Array({ maxLength: 64 }), { minKeys: 1, maxKeys: 6 }),
  level: fc.constantFrom(0 as const, 6 as const, 9 as const),
}).map(({ files, level }) => ({ family: 'valid' as const, bytes: zipSync(files, { level }), expected: files }));

/** Central-directory offsets of every entry. */
function centralOffsets(b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset);
  const out: number[] = [];
  for (let o = 0; o + 46 <= b.length; o++) if (dv.getUint32(o, true) === 0x02014b50) out.push(o);
  return out;
}

/** Adversarial zips: declared sizes that lie (bombs), ".." and absolute names, duplicate names, methods and flags. */
export const zipAdversarial: fc.Arbitrary<Input<ZipSource>> = fc.record({
  base: zipValid,
  bomb: fc.boolean(),
  lie: fc.constantFrom('size', 'csize', 'offset', 'method', 'flags', 'crc', 'name', 'none'),
  value: fc.oneof(fc.nat(), fc.constantFrom(0xffffffff, 3 * 2 ** 30, 0, 1, 2 ** 28)),
  which: fc.nat(),
}).map(({ base, bomb, lie, value, which }) => {
  const files: Record<string, Uint8Array> = { ...base.expected! };
  if (bomb) files['big/zeros.png'] = new Uint8Array(1 << 16);
  const b = zipSync(files, { level: 9 });
  const dv = new DataView(b.buffer);
  const cds = centralOffsets(b);
  const o = cds[which % cds.length];
  if (lie === 'size') dv.setUint32(o + 24, value >>> 0, true);
  else if (lie === 'csize') dv.setUint32(o + 20, value >>> 0, true);
  else if (lie === 'offset') dv.setUint32(o + 42, value >>> 0, true);
  else if (lie === 'method') dv.setUint16(o + 10, value & 0xffff, true);
  else if (lie === 'flags') dv.setUint16(o + 8, value & 0xffff, true);
  else if (lie === 'crc') dv.setUint32(o + 16, value >>> 0, true);
  else if (lie === 'name') {
    // rename this entry to another entry's name of the same length (a duplicate), or to "../"…
    const n = dv.getUint16(o + 28, true);
    const other = cds.map((c) => b.subarray(c + 46, c + 46 + dv.getUint16(c + 28, true))).find((x, k) => cds[k] !== o && x.length === n);
    const repl = other ? other.slice() : strToU8(('../' + 'x'.repeat(n)).slice(0, n));
    b.set(repl, o + 46);
  }
  return { family: 'adversarial' as const, bytes: b };
});

/** Lists a zip as `protolens extract` does (skipBad on) and reads every file; valid ones must give the bytes zipped. */
export function zipTarget(tally: Tally, input: Input<ZipSource>): Promise<void> {
  return judge(tally, input.family, 'd.zip', () => {
    const z = openZip(input.bytes, 'd.zip');
    let listing;
    try {
      listing = listingFromPaths('zip', 'd.zip', z.files, { skipBad: true }, z.bad);
    } catch (e) {
      if (e instanceof RangeError && /no images found/.test(e.message)) return { z, read: new Map<string, Uint8Array | string>() };
      throw e;
    }
    const read = new Map<string, Uint8Array | string>();
    for (const e of listing.entries) {
      try {
        read.set(e.path, z.read(e.path));
      } catch (err) {
        assertNamed(err, 'd.zip/');
        read.set(e.path, (err as Error).message);
      }
    }
    return { z, read };
  }, ({ z, read }) => {
    if (!input.expected) return;
    for (const [p, got] of read) {
      const want: Uint8Array | undefined = input.expected[z.prefix + p] ?? input.expected[p];
      assert.ok(want, `read ${p}, which was not zipped`);
      assert.deepEqual(got, want);
    }
  });
}

// ---------------------------------------------------------------- image files

/** Valid small PNG and JPEG files of random pixels (grey, grey+alpha, RGB, RGBA). */
export const imageValid: fc.Arbitrary<Promise<Input<{ width: number; height: number }>>> = fc.record({
  w: fc.integer({ min: 1, max: 24 }), h: fc.integer({ min: 1, max: 24 }), channels: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>,
  jpeg: fc.boolean(), seed: fc.nat(),
}).map(async ({ w, h, channels, jpeg, seed }) => {
  const px = Buffer.alloc(w * h * channels);
  for (let k = 0; k < px.length; k++) px[k] = (seed + k * 131) % 256;
  const s = sharp(px, { raw: { width: w, height: h, channels } });
  const bytes = jpeg ? await s.jpeg().toBuffer() : await s.png().toBuffer();
  return { family: 'valid' as const, bytes: new Uint8Array(bytes), expected: { width: w, height: h } };
});

/** Adversarial images: PNG headers declaring up to 2³¹ pixels a side, random bytes, PNG and JPEG magic followed by junk. */
export const imageAdversarial: fc.Arbitrary<Input<{ width: number; height: number }>> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 2 ** 31 - 1 })).map(([w, h]) => ({ family: 'adversarial' as const, bytes: new Uint8Array(declaredPng(w, h)) })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ family: 'adversarial' as const, bytes: b })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ family: 'adversarial' as const, bytes: new Uint8Array([0xff, 0xd8, 0xff, ...b]) })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ family: 'adversarial' as const, bytes: new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, ...b]) })),
);

export function imageTarget(tally: Tally, input: Input<{ width: number; height: number }>): Promise<void> {
  return judge(tally, input.family, 'i.png', () => decodeImage(input.bytes, 'i.png'), (img) => {
    assert.equal(img.data.length, img.width * img.height * img.channels);
    if (input.expected) assert.deepEqual([img.width, img.height], [input.expected.width, input.expected.height]);
  });
}

/** A scratch folder for the targets that read files; remove with {@link dropScratch}. */
export function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'protolens-fuzz-'));
}

export function dropScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A reader's campaign: its generator (families mixed) and its target. */
export interface Campaign {
  name: string;
  inputs: fc.Arbitrary<Input<any> | Promise<Input<any>>>;
  run(tally: Tally, input: Input<any>, dir: string): Promise<void>;
}

/** Every reader's campaign, in the order of issue 20. */
export function campaigns(): Campaign[] {
  const models = fittedModels();
  const mix = <E>(valid: fc.Arbitrary<Input<E>>, adversarial: fc.Arbitrary<Input<E>>): fc.Arbitrary<Input<E>> =>
    fc.oneof(valid, mutated(valid), adversarial);
  return [
    { name: '.npy', inputs: mix(npyValid, npyAdversarial), run: (t, i) => npyTarget(t, i) },
    { name: 'CSV', inputs: mix(csvValid, csvAdversarial), run: (t, i) => csvTarget(t, i) },
    { name: 'JSON lines', inputs: mix(jsonlValid, jsonlAdversarial), run: (t, i) => jsonlTarget(t, i) },
    { name: 'model JSON', inputs: mix(modelValid(models), modelAdversarial(models)), run: (t, i) => modelTarget(t, i) },
    { name: 'feature sidecar', inputs: fc.oneof(sidecarInputs, mutated(sidecarInputs.filter((x) => x.family === 'valid'))), run: (t, i, dir) => sidecarTarget(t, i, dir) },
    { name: 'zip data set', inputs: mix(zipValid, zipAdversarial), run: (t, i) => zipTarget(t, i) },
    {
      name: 'image file',
      inputs: fc.oneof(imageValid, imageAdversarial, imageValid.chain((p) => fc.tuple(fc.constant(p), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat()))
        .map(async ([p, f, at]) => {
          const v = await p;
          const b = v.bytes.slice();
          if (at % 2) { b[at % b.length] ^= 1 << (at % 8); return { family: 'bit-flipped' as const, bytes: b }; }
          return { family: 'truncated' as const, bytes: b.slice(0, Math.floor(f * b.length)) };
        })),
      run: (t, i) => imageTarget(t, i),
    },
  ];
}

/**
 * Runs `runs` inputs of a campaign with a fixed seed; a failure is shrunk by fast-check to a
 * minimal input and thrown with it.
 * @returns the outcome counts per family.
 */
export async function runCampaign(c: Campaign, runs: number, seed: number): Promise<Tally> {
  const tally = newTally();
  const dir = scratch();
  try {
    await fc.assert(fc.asyncProperty(c.inputs, async (p) => { await c.run(tally, await p, dir); }), { seed, numRuns: runs });
  } finally {
    dropScratch(dir);
  }
  return tally;
}
