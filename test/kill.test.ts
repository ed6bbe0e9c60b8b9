/**
 * Kill tests (issue 20), a few seeded trials: a command SIGKILLed at a random moment leaves its
 * earlier output byte for byte intact and loadable, and running it again completes; a cache entry
 * cut short is detected by its checksum and recomputed; a checkpoint interrupted between its data
 * file and its JSON leaves the previous one usable. Many trials per command: bench/kill.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../src/data/atomic.node.ts';
import { recoverKilledWrite } from '../src/data/outputs.node.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { featureCases, killTrial, runProtolens } from './helpers/kill.ts';
import { DiskFeatureCache, cacheEntry } from '../src/features/cache.node.ts';
import { readCheckpoint, writeCheckpoint } from '../src/embedding/io.node.ts';
import { rng } from '../src/linalg/random.ts';
import type { TrainerState } from '../src/embedding/train.ts';

test('a cache entry cut short, overwritten or of another length is treated as missing; a whole one (or one of the first format) is read', async () => {
  const root = mkdtempSync(join(tmpdir(), 'protolens-cache-'));
  try {
    const c = new DiskFeatureCache(root, 'ab'.repeat(32), 4, {});
    const v = Float32Array.of(1, -2, 3.5, 4);
    await c.set('cd'.repeat(32), v);
    const file = join(c.dir, 'cd', `${'cd'.repeat(32)}.f32`);
    assert.equal(readFileSync(file).length, 16 + 8);
    assert.deepEqual(await c.get('cd'.repeat(32)), v);
    truncateSync(file, 20); // cut short inside the checksum
    assert.equal(await c.get('cd'.repeat(32)), undefined);
    const whole = cacheEntry(v);
    whole[5] ^= 1;
    writeFileSync(file, whole);
    assert.equal(await c.get('cd'.repeat(32)), undefined, 'a flipped bit is caught by the CRC');
    writeFileSync(file, new Uint8Array(v.buffer)); // the first format: the bare vector
    assert.deepEqual(await c.get('cd'.repeat(32)), v);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a checkpoint killed between its data file and its JSON leaves the previous checkpoint readable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-ckpt-kill-'));
  try {
    const state = (episode: number) => ({ episode, net: { w: Float32Array.of(episode, 2) }, adam: { m: Float32Array.of(0) }, options: { seed: 1 } }) as unknown as TrainerState;
    writeCheckpoint(dir, state(1));
    const first = readdirSync(dir).sort();
    // what a kill after the second data file but before its JSON leaves: a second data file only
    writeFileSync(join(dir, 'checkpoint-0123456789abcdef.bin'), new Uint8Array(64));
    assert.equal(readCheckpoint(dir)!.episode, 1);
    writeCheckpoint(dir, state(2));
    assert.equal(readCheckpoint(dir)!.episode, 2);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.bin')).length, 1, 'older data files are removed');
    assert.equal(first.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGKILL at seeded random moments (2 for fit, 1 for explain): fit and explain leave their earlier outputs intact and loadable; reruns complete', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-kill-'));
  try {
    const cases = featureCases(dir).filter((c) => c.name !== 'bench');
    for (const c of cases) {
      const first = await runProtolens(c.args);
      assert.equal(first.code, 0, first.err);
      c.load();
    }
    const r = rng(20);
    for (const c of cases) {
      for (let t = 0; t < (c.name === 'fit' ? 2 : 1); t++) {
        const delay = Math.round(300 + r.next() * c.spanMs * 0.6);
        const o = await killTrial(c, t, delay);
        assert.ok(o.intact && o.rerun, JSON.stringify(o));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what a killed write leaves is cleaned by the next: stale temporary files go, and an output moved aside between two renames comes back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-stale-'));
  try {
    const dead = 2 ** 22 + 12345; // above Linux's largest pid: no such process
    writeFileSync(join(dir, `.m.json.${dead}.abcdefabcdef.tmp`), 'half');
    writeFileSync(join(dir, `.m.json.${process.pid}.abcdefabcdef.tmp`), 'a live run writing');
    writeFileAtomicSync(join(dir, 'm.json'), '{}');
    assert.deepEqual(readdirSync(dir).sort(), [`.m.json.${process.pid}.abcdefabcdef.tmp`, 'm.json']);
    // killed between "earlier output → .old" and ".tmp → output"
    mkdirSync(join(dir, `.rep.old-${dead}-abcdef01`));
    writeFileSync(join(dir, `.rep.old-${dead}-abcdef01`, 'report.html'), 'earlier');
    mkdirSync(join(dir, `.rep.tmp-${dead}-abcdef01`));
    recoverKilledWrite(join(dir, 'rep'));
    assert.equal(readFileSync(join(dir, 'rep', 'report.html'), 'utf8'), 'earlier');
    assert.ok(!readdirSync(dir).some((f) => f.startsWith('.rep.')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
