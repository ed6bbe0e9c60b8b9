import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.ts';
import { runSyntheticDemo } from '../src/viz/demo.node.ts';


test('demo: the prototype model beats the class mean on the embedded data, and names each class\'s prototypes', () => {
  const text = runSyntheticDemo({ seed: 1, prototypes: 30 });
  const acc = (name: string) => Number(new RegExp(`${name.replace(/[()]/g, '\\$&')}\\s+([0-9.]+)`).exec(text)?.[1]);
  // Measured with seed 1: prototypes 1.000, class mean 0.462, softmax 0.582.
  assert.ok(acc('prototypes, L2, J=30, τ auto') >= 0.95, text);
  assert.ok(acc('single prototype (class mean)') <= 0.6, text);
  assert.match(text, /C\s+\d+ prototype\(s\) \[true blobs: 3\]/);
  assert.match(text, /singleton\s+1 prototype\(s\)/);
});

test('demo: a bad option value is a one-line error with exit code 2', async () => {
  const r = await runCli(['demo', '--prototypes', 'many']);
  assert.equal(r.code, 2);
  assert.equal(r.err, 'protolens: Invalid value for --prototypes: "many". Expected a positive integer.\n');
});
