// protolens doctor: the backends in use and why, as text and JSON, and a forced fallback reported as one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.ts';
import { nativeGemmStatus } from '../src/linalg/gemm-native.node.ts';
import type { EnvironmentReport } from '../src/environment.node.ts';
import { VERSION } from '../src/version.ts';

test('doctor names the GEMM backend, the native addon\'s state, TF.js\'s backend and the rest, with reasons', async () => {
  let r = await runCli(['doctor', '--json']);
  assert.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out) as EnvironmentReport;
  assert.equal(rep.protolens, VERSION);
  const item = (what: string) => rep.items.find((i) => i.what === what)!;
  const native = nativeGemmStatus();
  assert.equal(item('native addon').ok, native.available);
  assert.match(item('GEMM').value, native.available ? /^native-/ : /^wasm-/);
  assert.match(item('TF.js backend (extraction)').value, /^wasm \+ SIMD, one thread per worker$/);
  assert.deepEqual(rep.items.map((i) => i.what), ['GEMM', 'native addon', 'convolutions (train-embedding)', 'TF.js backend (extraction)', 'images (sharp)', 'ONNX backbones', 'feature cache', 'explorer page']);
  r = await runCli(['doctor']);
  assert.match(r.out, new RegExp(`^protolens ${VERSION.replace(/\./g, '\\.')}, Node v`));
  assert.match(r.out, /\n {2}GEMM +\S+ — GEMM backend /);

  // A fallback asked for says why, and is marked.
  const saved = process.env.PROTOLENS_GEMM;
  process.env.PROTOLENS_GEMM = 'wasm';
  try {
    r = await runCli(['doctor']);
    assert.match(r.out, /\n! GEMM +wasm-simd-threads\d+ — GEMM backend wasm-simd-threads\d+ \(native kernel not used: PROTOLENS_GEMM=wasm\)\n/);
  } finally {
    if (saved === undefined) delete process.env.PROTOLENS_GEMM; else process.env.PROTOLENS_GEMM = saved;
  }
});
