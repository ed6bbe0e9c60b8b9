/**
 * protolens writes only where it may (src/data/outputs.node.ts): never onto an input or a
 * feature sidecar, never over a file or folder it did not write unless --force, and always onto
 * its own earlier output. Every refusal is exit code 2 with a one-line message, and the files are
 * byte-for-byte unchanged afterwards.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import {
  OUTPUT_MARKER, OutputRefusedError, checkOutputFile, checkOutputFolder, outputFolderKind, writeOutputFolder,
} from '../src/data/outputs.node.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-outputs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Every file, folder and link under `root` (relative path → content hash, "dir" or the link target). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    const st = lstatSync(p);
    const rel = relative(root, p) || '.';
    if (st.isSymbolicLink()) out[rel] = `link → ${readlinkSync(p)}`;
    else if (st.isDirectory()) { out[rel] = 'dir'; for (const n of readdirSync(p)) walk(join(p, n)); }
    else out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
  };
  walk(root);
  return out;
}

/** Runs the CLI and asserts a refusal: exit code 2, one line naming `what`, and nothing under `tmp` changed. */
async function refused(args: string[], what: RegExp): Promise<string> {
  const before = snapshot(tmp);
  const r = await runCli(args);
  assert.equal(r.code, 2, `expected a refusal of: protolens ${args.join(' ')}\n${r.err}`);
  assert.match(r.err, /^protolens: [^\n]+\n$/, `one line: ${r.err}`);
  assert.match(r.err, what);
  assert.deepEqual(snapshot(tmp), before, 'files changed by a refused command');
  return r.err;
}

const run = join(tmp, 'run');
const features = join(run, 'features.npy');
const model = join(run, 'model.json');
const notes = join(tmp, 'notes');
const textFile = join(tmp, 'existing.txt');

before(async () => {
  mkdirSync(run);
  const d = twistedClasses({ seed: 3, samplesPerBlob: [20, 20], singleton: false });
  writeFeatures(features, { X: d.X, labels: d.y });
  const r = await runCli(['fit', features, '--out', model, '--max-iter', '5', '--no-progress']);
  assert.equal(r.code, 0, r.err);
  mkdirSync(notes);
  writeFileSync(join(notes, 'thesis.md'), '# my notes\n');
  mkdirSync(join(notes, 'drafts'));
  writeFileSync(join(notes, 'drafts', 'a.txt'), 'draft');
  writeFileSync(textFile, 'a file of the user\n');
});

describe('the four cases of the issue', () => {
  test('1. explain -o onto a folder of the user\'s is refused and names --force', async () => {
    const err = await refused(['explain', model, '-f', features, '-o', notes], /notes: this folder was not written by protolens \(no \.protolens-output\.json in it\); choose another path, or pass --force/);
    assert.ok(err.includes(notes));
  });

  test('2. explain -o onto the folder holding its own inputs is refused, even with --force', async () => {
    await refused(['explain', model, '-f', features, '-o', run], /the output holds .*model\.json, one of this command's inputs; choose another path \(--force does not allow this\)/);
    await refused(['explain', model, '-f', features, '-o', run, '--force'], /--force does not allow this/);
  });

  test('3. explain -o onto a regular file is refused', async () => {
    await refused(['explain', model, '-f', features, '-o', textFile], /existing\.txt: this is a file, not a folder protolens wrote; .*--force/);
  });

  test('4. fit -o onto the input\'s own sidecar is refused, even with --force', async () => {
    await refused(['fit', features, '-o', join(run, 'features.json')], /features\.json: the output is one of this command's inputs/);
    await refused(['fit', features, '-o', join(run, 'features.json'), '--force'], /--force does not allow this/);
  });
});

describe('explain', () => {
  test('re-running onto its own report works without --force; --force replaces a foreign folder', async () => {
    const out = join(tmp, 'report');
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['explain', model, '-f', features, '-o', out, '--no-png']);
      assert.equal(r.code, 0, r.err);
    }
    assert.equal(outputFolderKind(out), 'report');
    const forced = join(tmp, 'forced');
    mkdirSync(forced);
    writeFileSync(join(forced, 'old.txt'), 'x');
    const r = await runCli(['explain', model, '-f', features, '-o', forced, '--no-png', '--force']);
    assert.equal(r.code, 0, r.err);
    assert.ok(readdirSync(forced).includes('report.html'));
    assert.ok(!readdirSync(forced).includes('old.txt'));
    rmSync(forced, { recursive: true });
  });

  test('a protolens folder of another kind (a benchmark) is not replaced by a report without --force', async () => {
    const benchDir = join(tmp, 'bench-like');
    writeOutputFolder(benchDir, { 'fewshot.md': '# table\n' }, 'bench');
    await refused(['explain', model, '-f', features, '-o', benchDir], /holds a protolens bench, not a report; .*--force/);
    rmSync(benchDir, { recursive: true });
  });
});

describe('fit', () => {
  test('a foreign file is refused without --force, replaced with it; its own model is replaced without', async () => {
    const foreign = join(tmp, 'config.json');
    writeFileSync(foreign, '{"mine": true}\n');
    await refused(['fit', features, '-o', foreign], /config\.json: .*config\.json exists and is not a protolens model file; choose another path, or pass --force/);
    let r = await runCli(['fit', features, '-o', foreign, '--max-iter', '2', '--no-progress', '--force']);
    assert.equal(r.code, 0, r.err);
    assert.match(readFileSync(foreign, 'utf8'), /^\{"format":"protolens-model"/);
    r = await runCli(['fit', features, '-o', foreign, '--max-iter', '2', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    rmSync(foreign);
  });

  test('an output that would be the sidecar of another feature file is refused, even with --force', async () => {
    const other = join(tmp, 'other.npy');
    writeFeatures(other, { X: { data: new Float32Array([1, 2, 3, 4]), rows: 2, cols: 2 } as never, labels: ['a', 'b'] });
    await refused(['fit', features, '-o', join(tmp, 'other.json'), '--force'], /other\.json: this is the sidecar of the feature file other\.npy beside it/);
    rmSync(other); rmSync(join(tmp, 'other.json'));
  });

  test('an output reached through a symbolic link to the input is refused', async () => {
    const link = join(tmp, 'link.json');
    symlinkSync(join(run, 'features.json'), link);
    await refused(['fit', features, '-o', link, '--force'], /the output is one of this command's inputs/);
    rmSync(link);
  });
});

describe('extract', () => {
  test('a foreign .npy or a foreign file where its sidecar goes is refused before anything loads', async () => {
    const imgs = join(tmp, 'imgs');
    mkdirSync(join(imgs, 'a'), { recursive: true });
    const npy = join(tmp, 'numpy.npy');
    writeFileSync(npy, 'not ours');
    await refused(['extract', imgs, '-o', npy], /numpy\.npy: .*numpy\.npy exists and is not a feature file protolens wrote .*--force/);
    rmSync(npy);
    const side = join(tmp, 'feats.json');
    writeFileSync(side, '{"settings": 1}');
    await refused(['extract', imgs, '-o', join(tmp, 'feats.npy')], /feats\.json exists and is not a protolens feature sidecar; .*--force/);
    rmSync(side);
    rmSync(imgs, { recursive: true });
  });

  test('an output reached through a link to the input list file is refused, even with --force', async () => {
    const list = join(tmp, 'list.csv');
    writeFileSync(list, 'a.png,a\n');
    const link = join(tmp, 'list.npy');
    symlinkSync(list, link);
    await refused(['extract', list, '-o', link, '--force'], /list\.npy: the output is one of this command's inputs/);
    rmSync(link); rmSync(list);
  });
});

describe('bench fewshot', () => {
  const args = (out: string, ...extra: string[]) => ['bench', 'fewshot', '--features', features, '--ways', '2', '--subsets', '2', '--methods', 'ncm,softmax',
    '--grid-l2', '0.01', '--no-chart', '--no-progress', '--out', out, ...extra];

  test('a foreign folder is refused without --force; the folder holding its features is refused with it', async () => {
    await refused(args(notes), /notes: this folder was not written by protolens/);
    await refused(args(run, '--force'), /the output holds .*features\.npy, one of this command's inputs/);
  });

  test('re-running onto its own output works without --force', async () => {
    const out = join(tmp, 'bench');
    for (let i = 0; i < 2; i++) {
      const r = await runCli(args(out));
      assert.equal(r.code, 0, r.err);
    }
    assert.deepEqual(readdirSync(out).sort(), [OUTPUT_MARKER, 'fewshot.json', 'fewshot.md']);
    rmSync(out, { recursive: true });
  });
});

describe('train-embedding', () => {
  test('a foreign folder, or the data folder itself, is refused before any image is read', async () => {
    const data = join(tmp, 'alphabets');
    mkdirSync(join(data, 'A', 'c1'), { recursive: true });
    await refused(['train-embedding', data, '-o', notes, '--no-progress'], /notes: this folder was not written by protolens/);
    await refused(['train-embedding', data, '-o', data, '--no-progress', '--force'], /the output is one of this command's inputs/);
    await refused(['train-embedding', join(data, 'A'), '-o', tmp + '/alphabets', '--no-progress', '--force'], /the output holds .*alphabets\/A, one of this command's inputs/);
    rmSync(data, { recursive: true });
  });
});

describe('demo', () => {
  test('a foreign report folder or working folder is refused without --force', async () => {
    await refused(['demo', '--digits', '20', '--out', notes], /notes: this folder was not written by protolens/);
    const out = join(tmp, 'demo');
    mkdirSync(`${out}-digits`);
    writeFileSync(join(`${out}-digits`, 'keep.txt'), 'mine');
    await refused(['demo', '--digits', '20', '--out', out], /demo-digits: this folder was not written by protolens/);
    rmSync(`${out}-digits`, { recursive: true });
  });
});

describe('the rules themselves', () => {
  test('empty and new folders are fine; the root, home and the working directory\'s parents are never replaced', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    assert.equal(checkOutputFolder(empty, 'report'), 'empty');
    assert.equal(checkOutputFolder(join(tmp, 'new', 'deeper'), 'report'), 'new');
    rmSync(empty, { recursive: true });
    for (const p of ['/', process.env.HOME ?? '/root', process.cwd(), join(process.cwd(), '..')]) {
      assert.throws(() => checkOutputFolder(p, 'report', { force: true }), OutputRefusedError, p);
    }
  });

  test('a model file is recognised from its first bytes; a folder\'s marker from its kind', () => {
    assert.equal(checkOutputFile(model, 'model'), 'ours');
    assert.equal(checkOutputFile(features, 'features'), 'ours');
    assert.equal(checkOutputFile(join(tmp, 'nothing.json'), 'model'), 'new');
    assert.throws(() => checkOutputFile(features.replace('.npy', '.json'), 'model'), /sidecar of the feature file features\.npy/);
  });
});
