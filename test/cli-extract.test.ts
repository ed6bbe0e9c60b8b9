import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.ts';
import { readFeatures } from '../src/data/features.node.ts';
import { greyPng, makeTree } from './helpers/images.ts';

const work = mkdtempSync(join(tmpdir(), 'protolens-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs `protolens ...args` in this process; returns the exit code and what went to stderr. */
async function run(...args: string[]): Promise<{ code: number; err: string }> {
  const write = process.stderr.write;
  let err = '';
  process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'protolens', ...args]);
    return { code, err };
  } finally {
    process.stderr.write = write;
  }
}

test('extract: writes features and sidecar, reports counts, a class with one image, and the cache on re-run', async () => {
  const root = makeTree({ 'a/1.png': await greyPng(1), 'a/2.png': await greyPng(2), 'b/3.png': await greyPng(3) });
  const out = join(work, 'f.npy');
  const cache = join(work, 'cache');
  const r = await run('extract', root, '--out', out, '--cache-dir', cache, '--workers', '1');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /3 images in 2 classes \(folder\)/);
  assert.match(r.err, /note: 1 class has a single image: b/);
  assert.match(r.err, /3 computed, 0 from cache, 0 skipped/);
  const f = readFeatures(out);
  assert.deepEqual([f.X.rows, f.X.cols], [3, 1280]);
  assert.deepEqual(f.labels, ['a', 'a', 'b']);
  assert.equal((f.meta.backbone as { name: string }).name, 'mobilenet_v2');
  assert.equal((f.meta.preprocessing as { height: number }).height, 224);
  const again = await run('extract', root, '--out', out, '--cache-dir', cache, '--workers', '1');
  assert.match(again.err, /0 computed, 3 from cache/);
});

test('extract: unlabelled images (a folder of images, files one by one, --no-labels) give the same vectors without labels', async () => {
  const [a, b, c] = [await greyPng(1), await greyPng(2), await greyPng(3)];
  const tree = makeTree({ 'x/1.png': a, 'x/2.png': b, 'y/3.png': c });
  const flat = makeTree({ '1.png': a, '2.png': b, '3.png': c });
  const cache = join(work, 'cache-unlabelled');
  const labelled = join(work, 'labelled.npy');
  assert.equal((await run('extract', tree, '--out', labelled, '--cache-dir', cache, '--workers', '1')).code, 0);
  const ref = readFeatures(labelled);
  const outs = {
    folder: [flat, '--no-cache'],
    files: [join(flat, '3.png'), join(flat, '1.png'), '--no-cache'],
    noLabels: [tree, '--no-labels', '--cache-dir', cache],
  };
  const got: Record<string, ReturnType<typeof readFeatures>> = {};
  for (const [name, args] of Object.entries(outs)) {
    const out = join(work, `unlabelled-${name}.npy`);
    const r = await run('extract', ...args, '--out', out, '--workers', '1');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /images unlabelled \((folder|files)\)/);
    got[name] = readFeatures(out);
    assert.deepEqual(got[name].labels, [], `${name}: no labels`);
    assert.equal((got[name].meta.dataset as { labelled: boolean }).labelled, false);
  }
  assert.deepEqual(got.folder.paths, ['1.png', '2.png', '3.png']);
  assert.deepEqual(got.files.paths, ['3.png', '1.png']);
  assert.deepEqual(got.noLabels.paths, ['x/1.png', 'x/2.png', 'y/3.png']);
  // The same images give the same vectors, computed afresh or read from the cache, with or without labels.
  const row = (m: { data: Float32Array; cols: number }, i: number) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols));
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(row(got.folder.X, i), row(ref.X, i));
    assert.deepEqual(row(got.noLabels.X, i), row(ref.X, i));
  }
  assert.deepEqual(row(got.files.X, 0), row(ref.X, 2));
  assert.notDeepEqual(row(ref.X, 0), row(ref.X, 2), 'different images differ');
});

test('extract: clear messages for bad input (exit code 2, no stack)', async () => {
  const empty = join(work, 'empty');
  mkdirSync(join(empty, 'classA'), { recursive: true });
  const corrupt = makeTree({ 'a/ok.png': await greyPng(1), 'a/bad.png': (await greyPng(2)).subarray(0, 50) });
  const nomodel = join(work, 'nomodel');
  mkdirSync(nomodel, { recursive: true });
  const ok = makeTree({ 'a/1.png': await greyPng(1) });
  const out = join(work, 'x.npy');
  const cases: Array<[string[], RegExp]> = [
    [[join(work, 'missing'), '--out', out], /missing: no such folder or file/],
    [[empty, '--out', out], /empty: no images found \(expected class folders/],
    [[join(work, 'a.png'), join(work, 'missing.png'), '--out', out], /a\.png: no such file/],
    [[corrupt, '--out', out, '--no-cache'], /a\/bad\.png: not a readable image .*use --skip-bad/],
    [[ok, '--out', out, '--backbone', nomodel], /nomodel: no model\.json \(expected a TF\.js model folder/],
    [[ok, '--out', out, '--layer', 'fc7', '--no-cache'], /mobilenet_v2: no layer named "fc7"\. Candidate feature layers \(\d+\): Conv1_pad \(Pad, 1×3×225×225\)/],
    [[ok, '--out', out, '--layer', 'fc7', '--no-cache', '--runtime', 'tfjs'], /mobilenet_v2: no layer named "fc7"\. Available layers \(162\): input_1/],
    [[ok, '--out', out, '--runtime', 'gpu'], /Invalid value for --runtime: "gpu"\. Expected one of: auto, onnx, tfjs\./],
    [[ok, '--out', join(work, 'x.csv')], /Invalid value for --out: ".*x\.csv"\. Expected a path ending in \.npy or \.arrow\./],
    [[ok, '--out', out, '--workers', 'two'], /Invalid value for --workers: "two"\. Expected a positive integer\./],
  ];
  for (const [args, msg] of cases) {
    const r = await run('extract', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
  assert.equal(existsSync(out), false, 'nothing written on failure');
  const skip = await run('extract', corrupt, '--out', out, '--no-cache', '--skip-bad');
  assert.equal(skip.code, 0, skip.err);
  assert.match(skip.err, /skipped a\/bad\.png: not a readable image/);
  assert.equal(readFeatures(out).X.rows, 1);
});
