/**
 * The streamed fit against data size (issue 20, "larger than memory"): N × D synthetic float32
 * features (rows drawn from the blobs of a twisted-classes space: 20 classes of 1–3 Gaussian
 * blobs each, unit spread, every row a blob chosen at random) written as Arrow IPC shards of
 * 25,000 rows, and a test set of 20,000 rows from the same blobs (another seed). Each fit runs in a
 * fresh process, which reports its time and its peak RSS (VmHWM):
 *  - the in-memory fit (PrototypeClassifier.fit) on the first `subset` rows, read as one feature set;
 *  - the streamed fit (fitStreamed over openShardStream, chunks of 8,192 rows) on the same subset;
 *  - the streamed fit on all N rows.
 * J = the number of blobs, every other setting the model's default; the native GEMM on one thread.
 *
 * usage: nice -n 10 node --import tsx bench/streamed.ts [N=1000000] [D=256] [subset=100000] [epochs=3] [separation=0.35]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeShard, shardRange } from '../src/data/shards.node.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import { rng } from '../src/linalg/random.ts';
import type { Matrix } from '../src/linalg/matrix.ts';

const SHARD_ROWS = 25_000, TEST_ROWS = 20_000, CHUNK_ROWS = 8192;

/** The blob space (centres and their classes) of the benchmark, from its separation. */
function space(D: number, separation: number): { centres: Matrix; blobClass: string[] } {
  return twistedClasses({ nClasses: 20, dim: D, blobsPerClass: [1, 3], samplesPerBlob: [1, 1], singleton: false, separation, seed: 3 });
}

/** n rows of the blob space, seeded: the rows [a, a + n) of stream `seed` when drawn in order. */
function rows(sp: ReturnType<typeof space>, n: number, r: ReturnType<typeof rng>): { X: Matrix; y: string[] } {
  const D = sp.centres.cols, B = sp.centres.rows, X = new Float32Array(n * D), y: string[] = [];
  for (let i = 0; i < n; i++) {
    const b = r.int(B);
    for (let d = 0; d < D; d++) X[i * D + d] = sp.centres.data[b * D + d] + r.normal();
    y.push(sp.blobClass[b]);
  }
  return { X: { data: X, rows: n, cols: D }, y };
}

function peakMb(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
}

async function child(mode: string, dir: string, D: number, separation: number, epochs: number): Promise<void> {
  const { enableNodeGemm } = await import('../src/linalg/gemm-native.node.ts');
  const backend = enableNodeGemm({ threads: 1 }).backend;
  const sp = space(D, separation);
  const test = rows(sp, TEST_ROWS, rng(2));
  const J = sp.centres.rows;
  const t0 = performance.now();
  let model, epochMs: number[] = [], rowsFitted: number;
  if (mode === 'inmem') {
    const { readFeatures } = await import('../src/data/features.node.ts');
    const { PrototypeClassifier } = await import('../src/model/prototype.ts');
    const fs = readFeatures(dir);
    rowsFitted = fs.X.rows;
    model = new PrototypeClassifier({ nPrototypes: J, seed: 0 }).fit(fs.X, fs.labels);
  } else {
    const { openShardStream } = await import('../src/data/shards.node.ts');
    const { fitStreamed } = await import('../src/model/streamed.ts');
    const source = await openShardStream(dir, CHUNK_ROWS);
    rowsFitted = source.rows;
    let last = performance.now();
    model = await fitStreamed(source, { nPrototypes: J, seed: 0, epochs }, (rec) => {
      if (rec.step === 'epoch') { const now = performance.now(); epochMs.push(now - last); last = now; }
    });
    await source.close();
  }
  const ms = performance.now() - t0;
  const acc = model.score(test.X, test.y);
  const last = model.history_.at(-1)!;
  console.log(JSON.stringify({ mode, rows: rowsFitted, ms, epochMs, peakMb: peakMb(), testAccuracy: acc, trainLoss: last.loss, trainAccuracy: last.accuracy, nIter: model.nIter_, backend }));
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  await child(args[1], args[2], Number(args[3]), Number(args[4]), Number(args[5]));
  process.exit(0);
}

const N = Number(args[0] ?? 1_000_000), D = Number(args[1] ?? 256), SUB = Number(args[2] ?? 100_000), EPOCHS = Number(args[3] ?? 3), SEP = Number(args[4] ?? 0.35);
const root = mkdtempSync(join(tmpdir(), 'protolens-streambench-'));
try {
  const sp = space(D, SEP);
  const all = join(root, 'all'), sub = join(root, 'subset');
  mkdirSync(all); mkdirSync(sub);
  const t0 = performance.now();
  // The subset is the first SUB rows of the same stream, written as its own split.
  for (const [dir, n] of [[all, N], [sub, SUB]] as const) {
    const r = rng(1), P = Math.ceil(n / SHARD_ROWS);
    for (let i = 0; i < P; i++) {
      const [a, b] = shardRange(n, { index: i, count: P });
      const part = rows(sp, b - a, r);
      writeFileSync(join(dir, `part-${String(i).padStart(4, '0')}.arrow`), encodeShard({ X: part.X, labels: part.y, meta: { backbone: { modelKey: 'synthetic' } } }, { index: i, count: P }, n));
    }
  }
  const size = (dir: string) => readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0) / 2 ** 20;
  console.log(`streamed-fit bench: ${N} × ${D} (${size(all).toFixed(0)} MB in ${readdirSync(all).length} shards; subset ${SUB} rows, ${size(sub).toFixed(0)} MB), ` +
    `${sp.centres.rows} blobs in 20 classes, separation ${SEP}; data written in ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
    `${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; ${new Date().toISOString()}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const [mode, dir] of [['inmem', sub], ['stream', sub], ['stream', all]] as const) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', process.argv[1], '--child', mode, dir, String(D), String(SEP), String(EPOCHS)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { rows: number; ms: number; epochMs: number[]; peakMb: number; testAccuracy: number; trainLoss: number; nIter: number; backend: string };
    const dataMb = (4 * r.rows * D) / 2 ** 20;
    console.log(`${mode === 'inmem' ? 'in memory' : 'streamed '} ${r.rows} rows (${dataMb.toFixed(0)} MB of features): ${(r.ms / 1000).toFixed(1)} s` +
      (r.epochMs.length ? ` (per epoch ${r.epochMs.map((m) => (m / 1000).toFixed(1)).join(', ')} s; ${r.nIter} epochs)` : ` (${r.nIter} iterations)`) +
      `, peak RSS ${r.peakMb.toFixed(0)} MB; test accuracy ${r.testAccuracy.toFixed(4)} (${TEST_ROWS} rows), training loss ${r.trainLoss.toFixed(4)}; ${r.backend}; ` +
      `load average ${loadavg()[0].toFixed(1)}`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
