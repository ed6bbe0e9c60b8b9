import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/cli/main.ts';
import { runSyntheticDemo } from '../src/cli/commands/demo.ts';

/** Runs the CLI in-process, capturing stdout and stderr. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const wo = process.stdout.write.bind(process.stdout), we = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'protolens', ...args]);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = wo;
    process.stderr.write = we;
  }
}

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
  assert.equal(r.err, 'protolens: Invalid value for --prototypes: many. Expected a positive integer.\n');
});
