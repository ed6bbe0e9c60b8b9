/**
 * Reading a data set split into shards (issue 20, "larger than memory"): writes N × D synthetic
 * float32 features with labels and paths as P Arrow IPC shards (one at a time, as P extract runs
 * would), then reads the folder as one feature set in a fresh process and reports the time and
 * the process's peak RSS against the data's size (4·N·D bytes). The folder is read one shard at a
 * time into the whole (src/data/shards.node.ts), so the peak is the data plus about one shard.
 *
 * usage: nice -n 10 node --import tsx bench/shards.ts [N=1000000] [D=256] [P=10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeShard, shardRange } from '../src/data/shards.node.ts';
import { rng } from '../src/linalg/random.ts';

if (process.argv[2] === '--read') {
  const { readFeatures } = await import('../src/data/features.node.ts');
  const t0 = performance.now();
  const fs = readFeatures(process.argv[3]);
  const ms = performance.now() - t0;
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  console.log(JSON.stringify({ rows: fs.X.rows, cols: fs.X.cols, ms, peakMb: hwm, labels: fs.labels.length }));
  process.exit(0);
}

const N = Number(process.argv[2] ?? 1_000_000), D = Number(process.argv[3] ?? 256), P = Number(process.argv[4] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'protolens-shardbench-'));
try {
  const r = rng(0);
  const t0 = performance.now();
  for (let i = 0; i < P; i++) {
    const [a, b] = shardRange(N, { index: i, count: P });
    const n = b - a;
    const X = new Float32Array(n * D);
    for (let k = 0; k < X.length; k++) X[k] = r.normal();
    const labels = Array.from({ length: n }, (_, k) => `class${(a + k) % 100}`);
    const paths = Array.from({ length: n }, (_, k) => `class${(a + k) % 100}/img${a + k}.png`);
    writeFileSync(join(dir, `part-${String(i).padStart(3, '0')}-of-${P}.arrow`), encodeShard({ X: { data: X, rows: n, cols: D }, labels, paths, meta: { backbone: { modelKey: 'synthetic' } } }, { index: i, count: P }, N));
  }
  const writeMs = performance.now() - t0;
  const bytes = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  const out = execFileSync(process.execPath, ['--import', 'tsx', process.argv[1], '--read', dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const res = JSON.parse(out.trim().split('\n').at(-1)!) as { rows: number; cols: number; ms: number; peakMb: number };
  const dataMb = (4 * N * D) / 2 ** 20;
  console.log(`shards: ${N} × ${D} float32 in ${P} Arrow IPC shards (${(bytes / 2 ** 20).toFixed(0)} MB on disk, written in ${(writeMs / 1000).toFixed(1)} s); ` +
    `${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; ${new Date().toISOString()}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`read as one feature set (${res.rows} × ${res.cols}) in a fresh process: ${(res.ms / 1000).toFixed(1)} s, peak RSS ${res.peakMb.toFixed(0)} MB ` +
    `for ${dataMb.toFixed(0)} MB of features (${(res.peakMb / dataMb).toFixed(2)}×; one shard is ${(dataMb / P).toFixed(0)} MB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
