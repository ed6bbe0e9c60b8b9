/**
 * Feature extraction speed: images per second for both bundled backbones on one thread versus
 * both cores (worker threads in one process, or two separate processes), and model load time in a
 * fresh process (nsfwjs's own `load()`, our reader of its bundles, and the converted copy).
 *
 *   nice -n 10 node --import tsx bench/features.ts [--n-mobilenet 160] [--n-inception 48] [--only NAME] [--repeat 2]
 *
 * Images are the first N of the Omniglot development set (105×105 PNG); features are not cached
 * (every image goes through the network) and load times are excluded from the rates. Besides wall
 * time, each row gives the CPU seconds spent per image (all threads of the process, or both
 * processes): on a machine shared with other jobs the wall-clock rates depend on what else runs,
 * while CPU time per image says what the work costs. With `--repeat R` every mode is measured R
 * times, interleaved, and the best rate is kept. Prints a Markdown table for BENCHMARKS.md.
 *
 * Internal modes: `--child-rate BACKBONE START COUNT` and `--child-load MODE BACKBONE CACHE` run
 * one measurement in a fresh process and print JSON.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { openImageDataset, type ImageDataset } from '../src/data/images.node.ts';
import { extractDataset } from '../src/features/extract.node.ts';
import { initTfNode } from '../src/features/backend.node.ts';
import { loadBackboneNode, type BuiltinBackbone } from '../src/features/load.node.ts';

const DATA = process.env.PROTOLENS_BENCH_DATA ?? '/work/shared/data/omniglot/images_background_small';
const self = fileURLToPath(import.meta.url);

interface Rate { n: number; s: number; cpu: number }

function subset(ds: ImageDataset, start: number, count: number): ImageDataset {
  return { ...ds, entries: ds.entries.slice(start, start + count) };
}

async function rate(backbone: BuiltinBackbone, ds: ImageDataset, workers: number): Promise<Rate> {
  let cReady = process.cpuUsage();
  const r = await extractDataset(ds, { backbone, workers, cacheDir: false, batchSize: 8, onReady: () => { cReady = process.cpuUsage(); } });
  const c1 = process.cpuUsage(cReady);
  return { n: r.X.rows, s: r.stats.extractMs / 1000, cpu: (c1.user + c1.system) / 1e6 };
}

function child<T>(args: string[]): Promise<T> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [...process.execArgv, self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += String(d); });
    p.on('exit', (c) => (c === 0 ? res(JSON.parse(out) as T) : rej(new Error(`child ${args.join(' ')} exited ${c}`))));
  });
}

/** Seconds to load in this (fresh) process: nsfwjs's `load()`, our bundle reader, or the converted copy. */
async function loadOnce(mode: string, name: BuiltinBackbone, cache: string): Promise<number> {
  await initTfNode();
  const t = performance.now();
  if (mode === 'nsfwjs') {
    const nsfw = await import('nsfwjs');
    const info = console.info;
    console.info = () => {};
    const defs = name === 'mobilenet_v2'
      ? [(await import('nsfwjs/models/mobilenet_v2')).MobileNetV2Model]
      : [(await import('nsfwjs/models/inception_v3')).InceptionV3Model];
    await nsfw.load(name === 'mobilenet_v2' ? 'MobileNetV2' : 'InceptionV3', { modelDefinitions: defs } as Parameters<typeof nsfw.load>[1]);
    console.info = info;
  } else {
    const { backbone } = await loadBackboneNode(name, { cacheDir: mode === 'bundle' ? false : cache });
    backbone.dispose();
  }
  return (performance.now() - t) / 1000;
}

const args = process.argv.slice(2);
if (args[0] === '--child-rate') {
  const [, backbone, start, count] = args;
  const ds = subset(openImageDataset(DATA), Number(start), Number(count));
  process.stdout.write(JSON.stringify(await rate(backbone as BuiltinBackbone, ds, 1)));
} else if (args[0] === '--child-load') {
  const [, mode, name, cache] = args;
  process.stdout.write(JSON.stringify(await loadOnce(mode, name as BuiltinBackbone, cache)));
} else {
  const { values } = parseArgs({ args, options: {
    'n-mobilenet': { type: 'string', default: '160' },
    'n-inception': { type: 'string', default: '48' },
    repeat: { type: 'string', default: '1' },
    only: { type: 'string' },
  } });
  await initTfNode();
  const log = (s: string): void => { process.stderr.write(s + '\n'); };
  const ds = openImageDataset(DATA);
  const repeat = Number(values.repeat);
  const rateRows: string[] = [];
  const loadRows: string[] = [];
  const names: BuiltinBackbone[] = values.only ? [values.only as BuiltinBackbone] : ['mobilenet_v2', 'inception_v3'];
  const load0 = loadavg()[0];
  log(`wasm multithread support: ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}, simd: ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}`);
  for (const name of names) {
    const cache = mkdtempSync(join(tmpdir(), 'protolens-bench-'));
    try {
      const own = await child<number>(['--child-load', 'nsfwjs', name, cache]);
      const bundle = await child<number>(['--child-load', 'bundle', name, cache]);
      await child<number>(['--child-load', 'cached', name, cache]); // writes the converted copy
      const cached = await child<number>(['--child-load', 'cached', name, cache]);
      log(`${name}: load in a fresh process: nsfwjs ${own.toFixed(1)} s, bundle ${bundle.toFixed(1)} s, converted copy ${cached.toFixed(1)} s`);
      loadRows.push(`| ${name} | ${own.toFixed(1)} s | ${bundle.toFixed(1)} s | ${cached.toFixed(1)} s |`);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
    const n = Number(name === 'mobilenet_v2' ? values['n-mobilenet'] : values['n-inception']);
    const sub = subset(ds, 0, n);
    const half = Math.ceil(n / 2);
    const best: Record<string, Rate & { r: number }> = {};
    const keep = (k: string, x: Rate): void => {
      const r = x.n / x.s;
      if (!best[k] || r > best[k].r) best[k] = { ...x, r };
      log(`${name}: ${k}: ${r.toFixed(2)} img/s, ${(x.cpu / x.n).toFixed(3)} CPU s/img`);
    };
    for (let k = 0; k < repeat; k++) {
      keep('1 thread', await rate(name, sub, 1));
      keep('2 worker threads', await rate(name, sub, 2));
      const [a, b] = await Promise.all([child<Rate>(['--child-rate', name, '0', String(half)]), child<Rate>(['--child-rate', name, String(half), String(n - half)])]);
      keep('2 processes', { n: a.n + b.n, s: Math.max(a.s, b.s), cpu: a.cpu + b.cpu });
    }
    const r1 = best['1 thread'].r;
    for (const k of ['1 thread', '2 worker threads', '2 processes']) {
      const x = best[k];
      rateRows.push(`| ${name} | ${k} | ${n} | ${x.r.toFixed(2)} | ${(x.r / r1).toFixed(2)}× | ${(x.cpu / x.n).toFixed(3)} |`);
    }
  }
  const cpu = cpus()[0]?.model ?? '?';
  const nproc = execFileSync('nproc').toString().trim();
  process.stdout.write([
    `Machine: ${nproc} cores (nproc), ${cpu}, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}; ` +
      `1-minute load average ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; best of ${repeat}.`,
    '',
    '| backbone | mode | images | img/s (wall) | vs 1 thread | CPU s / image |',
    '|---|---|---|---|---|---|',
    ...rateRows,
    '',
    '| backbone | nsfwjs `load()` | our reader of the nsfwjs bundle | converted copy in the cache |',
    '|---|---|---|---|',
    ...loadRows,
    '',
  ].join('\n'));
}
