/**
 * Feature shards (issue 20): `extract --shard i/n` writes one Arrow IPC part; a folder of the n
 * parts reads as one feature set, equal to a single run's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeShard, parseShard, readShard, readShardFolder, shardRange, writeShard } from '../src/data/shards.node.ts';
import { readFeatures } from '../src/data/features.node.ts';
import { runProtolens } from './helpers/kill.ts';
import { greyPng } from './helpers/images.ts';

const fs3 = { X: { data: Float32Array.of(1, 2, 3, 4, 5, 6), rows: 3, cols: 2 }, labels: ['a', 'b', 'é'], paths: ['a/1.png', 'b/2.png', 'c/3.png'], meta: { backbone: { modelKey: 'k' } } };

test('shards: i/n parsed strictly; the parts of N rows are contiguous, ordered and cover every row once', () => {
  assert.deepEqual(parseShard('2/8'), { index: 2, count: 8 });
  for (const bad of ['8/8', '-1/3', '1/0', 'a/b', '1/2/3', '']) assert.throws(() => parseShard(bad), /expected i\/n with 0 ≤ i < n/);
  for (const [N, n] of [[10, 3], [7, 7], [5, 8], [4840, 10]]) {
    let next = 0;
    for (let i = 0; i < n; i++) {
      const [a, b] = shardRange(N, { index: i, count: n });
      assert.equal(a, next);
      assert.ok(b - a >= Math.floor(N / n) && b - a <= Math.ceil(N / n));
      next = b;
    }
    assert.equal(next, N);
  }
});

test('shards: an Arrow IPC file round-trips features, labels (text or numbers), paths and meta', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-shard-'));
  try {
    const f = join(dir, 's.arrow');
    writeShard(f, fs3, { index: 1, count: 4 }, 12);
    const back = readShard(f);
    assert.deepEqual(Array.from(back.X.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([back.X.rows, back.X.cols], [3, 2]);
    assert.deepEqual(back.labels, ['a', 'b', 'é']);
    assert.deepEqual(back.paths, ['a/1.png', 'b/2.png', 'c/3.png']);
    assert.deepEqual(back.shard, { index: 1, count: 4, rows: 3, total: 12 });
    assert.deepEqual(back.meta.backbone, { modelKey: 'k' });
    writeFileSync(join(dir, 'n.arrow'), encodeShard({ ...fs3, labels: [3, 1, 2] }, { index: 0, count: 1 }, 3));
    assert.deepEqual(readShard(join(dir, 'n.arrow')).labels, [3, 1, 2]);
    // rewriting its own shard is allowed; a foreign file in the way is not
    writeShard(f, fs3, { index: 1, count: 4 }, 12);
    writeFileSync(join(dir, 'mine.arrow'), 'not ours');
    assert.throws(() => writeShard(join(dir, 'mine.arrow'), fs3, { index: 0, count: 1 }, 3), /mine\.arrow exists and is not a feature shard protolens wrote/);
    assert.throws(() => readShard(join(dir, 'mine.arrow')), /mine\.arrow: not an Arrow IPC file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shards: a folder reads as one feature set in shard order; a missing, doubled or foreign part is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-shards-'));
  try {
    const part = (i: number, v: number, key = 'k') => ({ ...fs3, X: { data: new Float32Array(6).fill(v), rows: 3, cols: 2 }, meta: { backbone: { modelKey: key } } });
    writeShard(join(dir, 'z-part2.arrow'), part(2, 2), { index: 2, count: 3 }, 9);
    writeShard(join(dir, 'a-part0.arrow'), part(0, 0), { index: 0, count: 3 }, 9);
    assert.throws(() => readShardFolder(dir), new RegExp(`${dir}: shard 1/3 missing \\(2 of 3 present\\)`));
    writeShard(join(dir, 'm-part1.arrow'), part(1, 1), { index: 1, count: 3 }, 9);
    const all = readFeatures(dir);
    assert.deepEqual(Array.from(all.X.data), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    assert.equal(all.labels.length, 9);
    copyFileSync(join(dir, 'm-part1.arrow'), join(dir, 'n-again.arrow'));
    assert.throws(() => readShardFolder(dir), /n-again\.arrow: shard 1\/3 is also in .*m-part1\.arrow/);
    rmSync(join(dir, 'n-again.arrow'));
    writeShard(join(dir, 'm-part1.arrow'), part(1, 1, 'other'), { index: 1, count: 3 }, 9);
    assert.throws(() => readShardFolder(dir), /m-part1\.arrow: made by another backbone or preprocessing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('extract --shard: 3 shards run as separate processes read back as exactly what a single run gives', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-shardrun-'));
  try {
    const data = join(dir, 'images');
    for (let s = 0; s < 7; s++) {
      mkdirSync(join(data, `k${s % 3}`), { recursive: true });
      writeFileSync(join(data, `k${s % 3}`, `i${s}.png`), await greyPng(s + 40, 36, 28));
    }
    const common = ['--no-cache', '--workers', '1', '--no-progress'];
    const single = await runProtolens(['extract', data, '--out', join(dir, 'single.npy'), ...common]);
    assert.equal(single.code, 0, single.err);
    const runs = await Promise.all([0, 1, 2].map((i) => runProtolens(['extract', data, '--shard', `${i}/3`, '--out', join(dir, 'shards', `part-${i}-of-3.arrow`), ...common])));
    for (const r of runs) assert.equal(r.code, 0, r.err);
    assert.match(runs[1].err, /shard 1\/3: images 2–3 of 7/);
    const one = readFeatures(join(dir, 'single.npy'));
    const merged = readFeatures(join(dir, 'shards'));
    assert.deepEqual(merged.labels, one.labels);
    assert.deepEqual(merged.paths, one.paths);
    assert.deepEqual([merged.X.rows, merged.X.cols], [one.X.rows, one.X.cols]);
    // each image is embedded alone or with others: the same features up to float32 rounding in the network
    let worst = 0;
    for (let k = 0; k < one.X.data.length; k++) worst = Math.max(worst, Math.abs(one.X.data[k] - merged.X.data[k]));
    assert.ok(worst < 1e-5, `largest difference ${worst}`);
    assert.equal(merged.meta.shards, 3);
    const bad = await runProtolens(['extract', data, '--shard', '0/8', '--out', join(dir, 'x.arrow'), ...common]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--shard 0\/8: this part holds no images \(the data set has 7\); use at most 7 shards/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
