/**
 * Kill trials (issue 20): a protolens command is started as its own process, SIGKILLed after a
 * random delay, and then checked — its earlier output is byte for byte what it was and still
 * loads, and running the command again completes (resuming where it can). Shared by
 * test/kill.test.ts (a few seeded trials) and bench/kill.ts (many trials per command).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from './data.ts';
import { greyPng } from './images.ts';
import { writeFeatures, readFeatures } from '../../src/data/features.node.ts';
import { readModelFile } from '../../src/data/modelfile.node.ts';
import { twistedClasses } from '../../src/data/synthetic.ts';
import { readCheckpoint } from '../../src/embedding/io.node.ts';
import { DiskFeatureCache } from '../../src/features/cache.node.ts';

const BIN = join(repoRoot, 'bin', 'protolens.mjs');

/** How a run ended: exit code (null when killed) and its stderr. */
export interface RunResult { code: number | null; signal: string | null; err: string; ms: number }

/**
 * Runs `protolens args…`; with `killAfterMs`, sends SIGKILL then (if it is still running).
 * One thread for the products, so that trials share the machine politely.
 */
export function runProtolens(args: string[], killAfterMs?: number, cwd = repoRoot): Promise<RunResult> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, PROTOLENS_GEMM_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', rej);
    child.on('close', (code, signal) => { clearTimeout(timer); res({ code, signal, err, ms: performance.now() - t0 }); });
  });
}

/** SHA-256 of a file, or of every file under a folder (names and contents, sorted). */
export function fingerprint(path: string): string {
  const h = createHash('sha256');
  const add = (p: string, rel: string): void => {
    if (statSync(p).isDirectory()) for (const f of readdirSync(p).sort()) add(join(p, f), `${rel}/${f}`);
    else h.update(rel).update(readFileSync(p));
  };
  add(path, '');
  return h.digest('hex');
}

/** Temporary files and folders protolens leaves beside `path` when killed mid-write. */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.tmp(-|$)|\.old-/.test(f));
}

/** One command under test: how to run it, how long a run takes, and what to check. */
export interface KillCase {
  name: string;
  /** Arguments of the run that is killed (and then rerun). */
  args: string[];
  /** The output that must survive a kill unchanged (written by a complete run first). */
  output: string;
  /** Checks that the output loads; throws otherwise. */
  load(): void;
  /** Upper bound of the kill delay, ms (about one run). */
  spanMs: number;
  /** Prepares a trial (a fresh cache, say); called before each killed run. */
  before?(trial: number): void;
  /** Checks after the kill, before the rerun (cache entries, checkpoint); returns a note. */
  afterKill?(): string;
  /** Checks the rerun's stderr; returns a note (e.g. "resumed"). */
  afterRerun?(err: string): string;
}

/** Synthetic labelled features: 3,000 × 64, 10 classes (a fit of a few seconds). */
export function killFeatures(dir: string): string {
  const d = twistedClasses({ seed: 3, nClasses: 10, dim: 64, samplesPerBlob: [100, 200], singleton: false });
  const f = join(dir, 'features.npy');
  writeFeatures(f, { X: d.X, labels: d.y, meta: { seed: 3 } });
  return f;
}

/** The fit, explain and bench cases on one folder of synthetic features. */
export function featureCases(dir: string): KillCase[] {
  const f = killFeatures(dir);
  const model = join(dir, 'model.json');
  return [
    { name: 'fit', args: ['fit', f, '--out', model, '--prototypes', '30', '--seed', '1', '--no-progress'], output: model, spanMs: 6000, load: () => { readModelFile(model); } },
    {
      name: 'explain', args: ['explain', model, '--features', f, '--out', join(dir, 'report'), '--no-png'], output: join(dir, 'report'), spanMs: 8000,
      load: () => { JSON.parse(readFileSync(join(dir, 'report', 'analysis.json'), 'utf8')); },
    },
    {
      name: 'bench', args: ['bench', 'episodes', '--features', f, '--ways', '5', '--shots', '1,5', '--episodes', '100', '--classifiers', 'prototype,class-mean', '--out', join(dir, 'bench'), '--no-progress'],
      output: join(dir, 'bench'), spanMs: 10000, load: () => { JSON.parse(readFileSync(join(dir, 'bench', 'episodes.json'), 'utf8')); },
    },
  ];
}

/** The extract case: 40 small PNGs in 2 classes, a fresh cache per trial (so there is work to kill). */
export async function extractCase(dir: string): Promise<KillCase> {
  const data = join(dir, 'images');
  for (let s = 0; s < 40; s++) {
    mkdirSync(join(data, `c${s % 2}`), { recursive: true });
    writeFileSync(join(data, `c${s % 2}`, `i${s}.png`), await greyPng(s, 40, 30));
  }
  const out = join(dir, 'images.npy');
  let cache = join(dir, 'cache-0');
  const args = (c: string) => ['extract', data, '--out', out, '--cache-dir', c, '--workers', '1', '--batch-size', '4', '--no-progress'];
  // The first complete run's features: every rerun must give them bit for bit, so a damaged cache
  // entry read as features would show.
  let reference: Float32Array | undefined;
  const kase: KillCase = {
    name: 'extract', args: args(cache), output: out, spanMs: 9000,
    load: () => {
      const fs = readFeatures(out);
      if (fs.X.rows !== 40) throw new Error(`${fs.X.rows} rows`);
      reference ??= fs.X.data.slice();
      if (fs.X.data.some((v, k) => v !== reference![k])) throw new Error('the rerun\'s features differ from the first run\'s (a damaged cache entry read as features?)');
    },
    before: (trial) => { cache = join(dir, `cache-${trial + 1}`); kase.args = args(cache); },
    afterKill: () => {
      // Every entry the killed run left is whole (atomic writes); one of them is then cut to half
      // its length, as a disk or a copy might: the rerun must detect it (CRC-32) and recompute it.
      const root = join(cache, 'features');
      const entries: string[] = [];
      if (existsSync(root)) {
        for (const key of readdirSync(root)) for (const sub of readdirSync(join(root, key))) {
          if (sub.length === 2) for (const f of readdirSync(join(root, key, sub))) if (f.endsWith('.f32')) entries.push(join(root, key, sub, f));
        }
      }
      if (entries.length === 0) return '0 cache entries';
      const cut = entries.sort()[0];
      truncateSync(cut, Math.floor(statSync(cut).size / 2));
      return `${entries.length} cache entries, 1 cut short`;
    },
    afterRerun: (err) => {
      const m = /(\d+) computed, (\d+) from cache/.exec(err);
      return m ? `rerun computed ${m[1]} and took ${m[2]} from the cache` : '';
    },
  };
  return kase;
}

/**
 * The train-embedding case on a tiny tree of links into Omniglot (3 training characters): a few
 * episodes with a checkpoint at every one, so kills land before, between and inside checkpoints.
 */
export function trainEmbeddingCase(dir: string, omniglot: string): KillCase {
  const root = join(dir, 'tree');
  const link = (alphabet: string, from: string, n: number) => {
    mkdirSync(join(root, alphabet), { recursive: true });
    for (let i = 1; i <= n; i++) symlinkSync(join(omniglot, from, `character0${i}`), join(root, alphabet, `character0${i}`));
  };
  link('Train', 'Greek', 3); link('Val', 'Latin', 5); link('Test', 'Korean', 1);
  const out = join(dir, 'embedding');
  const args = ['train-embedding', root, '--out', out, '--val-alphabets', 'Val', '--test-alphabets', 'Test', '--no-progress',
    '--way', '5', '--shot', '2', '--query', '2', '--val-way', '5', '--val-shot', '1', '--val-query', '2', '--val-episodes', '2',
    '--eval-every', '1', '--filters', '8', '--seed', '4', '--patience', '1000'];
  let episodes = 4;
  const kase: KillCase = {
    name: 'train-embedding', args: [...args, '--max-episodes', String(episodes)], output: join(out, 'model.json'), spanMs: 12000,
    load: () => { JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')); },
    // each trial asks for 2 more episodes, so a kill can land inside new checkpoints
    before: () => { episodes += 2; kase.args = [...args, '--max-episodes', String(episodes)]; },
    afterKill: () => { const st = readCheckpoint(out); return st ? `checkpoint at episode ${st.episode} readable` : 'no checkpoint'; },
    afterRerun: (err) => (/resuming from the checkpoint at episode (\d+)/.exec(err) ? `resumed at episode ${/resuming from the checkpoint at episode (\d+)/.exec(err)![1]}` : 'started afresh'),
  };
  return kase;
}

/** What one trial found. */
export interface TrialOutcome { killedAtMs: number; killed: boolean; intact: boolean; rerun: boolean; note: string; leftovers: number }

/**
 * One trial: the killed run, then the checks, then the rerun.
 * @throws Error when the earlier output changed or no longer loads, or the rerun failed.
 */
export async function killTrial(c: KillCase, trial: number, delayMs: number): Promise<TrialOutcome> {
  c.before?.(trial);
  const before = fingerprint(c.output);
  const r = await runProtolens(c.args, delayMs);
  const killed = r.signal === 'SIGKILL';
  if (!killed && r.code !== 0) throw new Error(`${c.name}: the run ended with code ${r.code} before the kill: ${r.err}`);
  if (killed && fingerprint(c.output) !== before) throw new Error(`${c.name}: killed at ${delayMs} ms, the earlier output ${c.output} changed`);
  c.load();
  const note1 = c.afterKill?.() ?? '';
  const again = await runProtolens(c.args);
  if (again.code !== 0) throw new Error(`${c.name}: the rerun after a kill at ${delayMs} ms failed (code ${again.code}): ${again.err}`);
  c.load();
  const note2 = c.afterRerun?.(again.err) ?? '';
  const left = leftovers(resolve(c.output, '..'));
  return { killedAtMs: delayMs, killed, intact: true, rerun: true, note: [note1, note2].filter(Boolean).join('; '), leftovers: left.length };
}
