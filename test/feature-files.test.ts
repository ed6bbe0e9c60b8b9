import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFeatures, writeFeatures } from '../src/data/features.node.ts';
import { parseCsvFeatures, parseJsonlFeatures, splitCsvLine } from '../src/data/text.ts';
import { matrix } from '../src/linalg/matrix.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'protolens-ff-'));
}

test('csv: header, label and path columns anywhere, quoted fields', () => {
  const t = parseCsvFeatures('path,f0,label,f1\n"a,b.png",1,cat,2\nc.png,3.5,"dog ""x""",-4\n');
  assert.deepEqual(Array.from(t.X.data), [1, 2, 3.5, -4]);
  assert.equal(t.X.cols, 2);
  assert.deepEqual(t.labels, ['cat', 'dog "x"']);
  assert.deepEqual(t.paths, ['a,b.png', 'c.png']);
  assert.deepEqual(splitCsvLine('a,,b,', 'x'), ['a', '', 'b', '']);
});

test('csv: errors name the line and column', () => {
  assert.throws(() => parseCsvFeatures('1,2\n3,4\n', 'f.csv'), /f\.csv: the first line is numeric; a header row is required/);
  assert.throws(() => parseCsvFeatures('a,b\n1,2\n3,x\n', 'f.csv'), /f\.csv, line 3, column "b": "x" is not a finite number/);
  assert.throws(() => parseCsvFeatures('a,b\n1,2\n3\n', 'f.csv'), /f\.csv, line 3: 1 fields, but the header has 2/);
  assert.throws(() => parseCsvFeatures('label\ncat\n', 'f.csv'), /f\.csv: no feature columns/);
});

test('jsonl: labels kept as given; errors name the line', () => {
  const t = parseJsonlFeatures('{"x":[1,2],"label":3}\n\n{"x":[3,4],"label":"b"}\n');
  assert.deepEqual(t.labels, [3, 'b']);
  assert.deepEqual(Array.from(t.X.data), [1, 2, 3, 4]);
  assert.equal(t.paths, undefined);
  assert.throws(() => parseJsonlFeatures('{"x":[1,2]}\n{"x":[1]}', 'g.jsonl'), /g\.jsonl, line 2: "x" has 1 values, the first row has 2/);
  assert.throws(() => parseJsonlFeatures('{"x":[1,2]}\n{x:1}', 'g.jsonl'), /g\.jsonl, line 2: invalid JSON/);
  assert.throws(() => parseJsonlFeatures('{"x":[1,"a"]}', 'g.jsonl'), /g\.jsonl, line 1: x\[1\] is "a"; expected a finite number/);
  assert.throws(() => parseJsonlFeatures('{"x":[1],"label":1}\n{"x":[2]}', 'g.jsonl'), /line 2: "label" must be on every row or on none/);
  assert.throws(() => parseJsonlFeatures('{"v":[1]}', 'g.jsonl'), /field "x" \(the feature vector\) is missing/);
});

test('writeFeatures / readFeatures: .npy + sidecar round trip, atomic, no temp files left', () => {
  const dir = tmp();
  try {
    const X = matrix(new Float32Array([0.25, -1, 2, 3, 4, 5]), 3, 2);
    const out = join(dir, 'sub', 'f.npy');
    writeFeatures(out, { X, labels: ['a', 'b', 7], paths: ['a/1.png', 'b/2.png', '7/3.png'], meta: { seed: 42, backbone: { name: 'x' } } });
    assert.deepEqual(readdirSync(join(dir, 'sub')).sort(), ['f.json', 'f.npy']);
    const r = readFeatures(out);
    assert.deepEqual(Array.from(r.X.data), Array.from(X.data));
    assert.deepEqual([r.X.rows, r.X.cols], [3, 2]);
    assert.deepEqual(r.labels, ['a', 'b', 7]);
    assert.deepEqual(r.paths, ['a/1.png', 'b/2.png', '7/3.png']);
    assert.equal(r.meta.seed, 42);
    assert.equal(r.meta.source, 'npy');
    assert.match(String(r.meta.library), /^protolens \d/);
    // a sidecar that disagrees with the matrix is refused
    const sc = JSON.parse(readFileSync(join(dir, 'sub', 'f.json'), 'utf8'));
    writeFileSync(join(dir, 'sub', 'f.json'), JSON.stringify({ ...sc, rows: 4 }));
    assert.throws(() => readFeatures(out), /f\.json: describes 4×2 features but the \.npy holds 3×2/);
    writeFileSync(join(dir, 'sub', 'f.json'), JSON.stringify({ ...sc, labels: ['a'] }));
    assert.throws(() => readFeatures(out), /f\.json: 1 labels for 3 rows/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readFeatures: csv, jsonl, npy without sidecar; errors for missing and unknown files', () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'a.csv'), 'f0,f1,label\n1,2,x\n3,4,y\n');
    writeFileSync(join(dir, 'a.jsonl'), '{"x":[1,2],"label":"x"}\n{"x":[3,4],"label":"y"}\n');
    const c = readFeatures(join(dir, 'a.csv'));
    const j = readFeatures(join(dir, 'a.jsonl'));
    for (const r of [c, j]) {
      assert.deepEqual(Array.from(r.X.data), [1, 2, 3, 4]);
      assert.deepEqual(r.labels, ['x', 'y']);
    }
    assert.equal(c.meta.source, 'csv');
    writeFeatures(join(dir, 'b.npy'), { X: matrix(new Float32Array([1, 2]), 1, 2), labels: [] });
    rmSync(join(dir, 'b.json'));
    assert.deepEqual(readFeatures(join(dir, 'b.npy')).labels, []);
    assert.throws(() => readFeatures(join(dir, 'none.npy')), /none\.npy: feature file not found/);
    assert.throws(() => readFeatures(join(dir, 'a.txt')), /a\.txt: unknown feature file type "\.txt"; expected \.npy, \.csv, \.jsonl, an \.arrow shard or a folder of shards/);
    assert.throws(() => writeFeatures(join(dir, 'c.csv'), { X: matrix(new Float32Array([1]), 1, 1), labels: [] }), /give a path ending in \.npy/);
    assert.throws(() => writeFeatures(join(dir, 'd.npy'), { X: matrix(new Float32Array([1, 2]), 2, 1), labels: ['a'] }), /d\.npy: 1 labels for 2 rows/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
