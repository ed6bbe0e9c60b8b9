import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpy, encodeNpy, parseNpyHeader } from '../src/data/npy.ts';
import { matrix } from '../src/linalg/matrix.ts';
import { numpy } from './helpers/needs.ts';

const m23 = matrix(new Float32Array([1, 2, 3, 4.5, -5, 6e-7]), 2, 3);

function header(dict: string, major = 1): Uint8Array {
  const pad = ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64);
  const h = dict + pad + '\n';
  const out = new Uint8Array(10 + h.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0, h.length & 0xff, h.length >> 8]);
  for (let i = 0; i < h.length; i++) out[10 + i] = h.charCodeAt(i);
  return out;
}
function withData(h: Uint8Array, data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(h.length + data.byteLength);
  out.set(h);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), h.length);
  return out;
}

test('npy: encode then decode gives the same matrix, data 64-byte aligned', () => {
  const b = encodeNpy(m23);
  const h = parseNpyHeader(b);
  assert.equal(h.dataOffset % 64, 0);
  assert.equal(h.descr, '<f4');
  assert.deepEqual(h.shape, [2, 3]);
  const back = decodeNpy(b);
  assert.equal(back.rows, 2);
  assert.equal(back.cols, 3);
  assert.deepEqual(Array.from(back.data), Array.from(m23.data));
});

test('npy: float64, big-endian and Fortran order are converted to row-major float32', () => {
  const f8 = withData(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"), new Float64Array([1, 2, 3, 4, 5, 6]));
  assert.deepEqual(Array.from(decodeNpy(f8).data), [1, 2, 3, 4, 5, 6]);
  // Fortran order: columns stored one after the other: [[1,2,3],[4,5,6]] is 1,4,2,5,3,6
  const fo = withData(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"), new Float32Array([1, 4, 2, 5, 3, 6]));
  assert.deepEqual(Array.from(decodeNpy(fo).data), [1, 2, 3, 4, 5, 6]);
  const be = new DataView(new ArrayBuffer(8));
  be.setFloat32(0, 1.5, false);
  be.setFloat32(4, -2, false);
  const bytes = withData(header("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }"), new Uint8Array(be.buffer));
  assert.deepEqual(Array.from(decodeNpy(bytes).data), [1.5, -2]);
});

test('npy: header validation names dtype, shape, size and magic', () => {
  const i4 = withData(header("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }"), new Int32Array([1, 2]));
  assert.throws(() => decodeNpy(i4, 'a.npy'), /a\.npy: \.npy dtype is '<i4'; expected float32/);
  const d1 = withData(header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), new Float32Array(3));
  assert.throws(() => decodeNpy(d1, 'b.npy'), /b\.npy: .*shape \(3\); expected a 2-D array/);
  const short = withData(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"), new Float32Array(3));
  assert.throws(() => decodeNpy(short, 'c.npy'), /c\.npy: \.npy data has 12 bytes but shape \(2, 2\) of '<f4' needs 16/);
  assert.throws(() => decodeNpy(new TextEncoder().encode('a,b\n1,2\n'), 'd.npy'), /d\.npy: not a \.npy file/);
  assert.throws(() => decodeNpy(header("{'descr': '<f4', 'shape': (1, 1), }"), 'e.npy'), /e\.npy: malformed \.npy header/);
});

const np = numpy();

test('npy: round trip with numpy (numpy writes, we read; we write, numpy reads)', { skip: np.skip }, np.guard(() => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-npy-'));
  try {
    const fromNumpy = join(dir, 'np.npy');
    const fromNumpyF = join(dir, 'npf.npy');
    execFileSync('python3', ['-c', `
import numpy as np
x = (np.arange(12, dtype=np.float64).reshape(3, 4) / 7 - 0.5).astype(np.float32)
np.save(${JSON.stringify(fromNumpy)}, x)
np.save(${JSON.stringify(fromNumpyF)}, np.asfortranarray(x.astype(np.float64)))
`]);
    const expected = Array.from({ length: 12 }, (_, k) => Math.fround(Math.fround(k / 7) - 0.5));
    for (const f of [fromNumpy, fromNumpyF]) {
      const m = decodeNpy(readFileSync(f), f);
      assert.equal(m.rows, 3);
      assert.equal(m.cols, 4);
      m.data.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 1e-6, `${f}[${k}] = ${v}, expected ${expected[k]}`));
    }
    const ours = join(dir, 'ours.npy');
    writeFileSync(ours, encodeNpy(m23));
    const out = execFileSync('python3', ['-c', `
import numpy as np, json
x = np.load(${JSON.stringify(ours)})
print(json.dumps({"dtype": str(x.dtype), "shape": list(x.shape), "c": bool(x.flags["C_CONTIGUOUS"]), "v": x.ravel().tolist()}))
`]).toString();
    const r = JSON.parse(out) as { dtype: string; shape: number[]; c: boolean; v: number[] };
    assert.equal(r.dtype, 'float32');
    assert.deepEqual(r.shape, [2, 3]);
    assert.equal(r.c, true);
    assert.deepEqual(r.v, Array.from(m23.data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));
