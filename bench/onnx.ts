/**
 * Extraction on onnxruntime against TF.js-wasm, for the two bundled networks (converted to ONNX by
 * src/features/keras-onnx.ts) and any ONNX files given (e.g. torchvision's networks exported by
 * bench/torch_throughput.py).
 *
 *   nice -n 10 node --import tsx bench/onnx.ts [--n 96] [--n-inception 32] [--n-diff 200] [--repeat 2]
 *     [--models a.onnx,b.onnx] [--only NAME] [--skip-tfjs] [--parts runtime,extraction,share,difference]
 *     [--torch]
 *
 * Three tables, every mode measured --repeat times, interleaved, the best kept; besides wall time
 * each row gives the CPU seconds per image (all threads), which says what the work costs on a
 * machine shared with other jobs:
 *
 * 1. **Runtime alone**: a batch of 8 blank images at the input size, through `session.run` of
 *    onnxruntime (1 and 2 intra-op threads) and TF.js-wasm's `model.predict` on one thread (the
 *    bundled networks only): what the network costs, without decoding or resizing. With `--torch`,
 *    an ONNX file named after a torchvision network (mobilenet_v2.onnx, inception_v3.onnx, as
 *    bench/torch_throughput.py --export writes them), and the bundled network of the same
 *    architecture, is also compared with torchvision's network on PyTorch (1 and 2 threads,
 *    /usr/bin/python3 bench/torch_throughput.py --only NAME --json), once per repeat between the
 *    onnxruntime runs, so that the ratios come from the same minutes of a shared machine.
 * 2. **Extraction** (`extractDataset`, no cache): the first N Omniglot images (105×105 PNG) decoded,
 *    resized to the input, through the network, pooled: TF.js-wasm on 1 thread and 2 worker threads
 *    (today's path), onnxruntime on 1 thread, 1 thread with 2 intra-op threads, 2 worker threads.
 * 3. **Our share**: on one thread, the CPU time per image spent outside onnxruntime (decoding,
 *    preprocessing) against the whole, measured on the same batches of Omniglot images.
 *
 * Then, for the bundled networks, the largest absolute difference between the converted graph's
 * features and TF.js's on the same images. `--compare A.npy,B.npy` instead prints the largest and
 * mean absolute difference between two feature files of the same images.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { openImageDataset, type ImageDataset } from '../src/data/images.node.ts';
import { readFeatures } from '../src/data/features.node.ts';
import { extractDataset } from '../src/features/extract.node.ts';
import { initTfNode } from '../src/features/backend.node.ts';
import { BUILTIN_BACKBONES, isBuiltin, loadBackboneNode } from '../src/features/load.node.ts';
import { decodeImage, decodeWithSharp } from '../src/features/decode.node.ts';
import { kerasToOnnx, type WeightSpec } from '../src/features/keras-onnx.ts';
import { readNsfwjsBundle, type BuiltinBackbone } from '../src/features/load.node.ts';
import { imageInput, type OrtSession } from '../src/features/onnx-backbone.ts';
import { readOnnx, rewriteOnnx, writeOnnx } from '../src/features/onnx-graph.ts';
import { nodeRuntime, sessionOptions } from '../src/features/onnx.node.ts';
import { pixelBatch, type PixelImage } from '../src/features/pixels.ts';
import type { Backbone } from '../src/features/backbone.ts';
import { referencePixelBatch } from '../test/helpers/pixels-reference.ts';

const DATA = process.env.PROTOLENS_BENCH_DATA ?? '/work/shared/data/omniglot/images_background_small';
const log = (s: string): void => { process.stderr.write(s + '\n'); };

interface Rate { n: number; s: number; cpu: number }
const perSec = (r: Rate): number => r.n / r.s;

/** Wall seconds and CPU seconds (all threads of this process) of `f`. */
async function timed(n: number, f: () => Promise<unknown>): Promise<Rate> {
  const c0 = process.cpuUsage(), t0 = performance.now();
  await f();
  const c = process.cpuUsage(c0);
  return { n, s: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** Keeps the best rate of each mode and logs each run. */
class Best {
  readonly best = new Map<string, Rate>();
  keep(name: string, mode: string, r: Rate): void {
    const b = this.best.get(mode);
    if (!b || perSec(r) > perSec(b)) this.best.set(mode, r);
    log(`${name}: ${mode}: ${perSec(r).toFixed(2)} img/s, ${(r.cpu / r.n).toFixed(4)} CPU s/img`);
  }
}

/** An ONNX model's bytes: a file, or a bundled network converted now. */
function onnxBytes(model: string): Uint8Array {
  if (!isBuiltin(model)) return new Uint8Array(readFileSync(model));
  const b = readNsfwjsBundle(model);
  const specs = (b.json.weightsManifest as Array<{ weights: WeightSpec[] }>).flatMap((g) => g.weights);
  return kerasToOnnx(b.json.modelTopology, specs, b.weights.buffer.slice(b.weights.byteOffset, b.weights.byteOffset + b.weights.byteLength) as ArrayBuffer);
}

/** The torchvision networks bench/torch_throughput.py times. */
const TORCH_NETS = new Set(['mobilenet_v2', 'inception_v3']);

/** PyTorch's rates for one network (1 and 2 threads, batch 8 of zeros), from bench/torch_throughput.py. */
function torchRates(name: string, b: Best): void {
  const out = execFileSync('/usr/bin/python3', [new URL('torch_throughput.py', import.meta.url).pathname, '--only', name, '--repeat', '1', '--json'], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { torch: string; rates: Record<string, { ips: number; cpu: number }> };
  for (const [t, { ips, cpu }] of Object.entries(r.rates)) {
    const n = 24; // 3 rounds of 8, as for onnxruntime
    b.keep(name, `PyTorch ${r.torch}, ${t} thread${t === '1' ? '' : 's'}`, { n, s: n / ips, cpu: cpu * n });
  }
}

/** Runtime alone: onnxruntime session.run with 1 and 2 intra-op threads, TF.js predict on one; PyTorch with `torch`. */
async function runtimeAlone(model: string, repeat: number, rows: string[], torch = false): Promise<void> {
  const bytes = onnxBytes(model);
  const input = imageInput(readOnnx(bytes, model), model);
  const [h, w] = input.size ?? [224, 224];
  const batch = 8, rounds = 3;
  const x = new nodeRuntime.Tensor('float32', new Float32Array(batch * 3 * h * w), input.layout === 'nchw' ? [batch, 3, h, w] : [batch, h, w, 3]);
  const sessions = new Map([[1, await nodeRuntime.InferenceSession.create(bytes, sessionOptions(1))], [2, await nodeRuntime.InferenceSession.create(bytes, sessionOptions(2))]]);
  let tfjs: Backbone | undefined;
  if (isBuiltin(model)) tfjs = (await loadBackboneNode(model, { runtime: 'tfjs', cacheDir: false })).backbone;
  const blank: PixelImage[] = Array.from({ length: batch }, () => ({ width: w, height: h, channels: 3, data: new Uint8Array(w * h * 3) }));
  const b = new Best();
  for (const s of sessions.values()) await s.run({ [input.name]: x }); // warm-up
  for (let k = 0; k < repeat; k++) {
    for (const [t, s] of sessions) b.keep(model, `onnxruntime, ${t} thread${t > 1 ? 's' : ''}`, await timed(batch * rounds, async () => { for (let r = 0; r < rounds; r++) await s.run({ [input.name]: x }); }));
    if (tfjs) b.keep(model, 'TF.js-wasm, 1 thread', await timed(batch, () => tfjs!.embed(blank)));
    if (torch && TORCH_NETS.has(basename(model, '.onnx'))) torchRates(basename(model, '.onnx'), b);
  }
  for (const s of sessions.values()) await s.release();
  tfjs?.dispose();
  const name = isBuiltin(model) ? `${model} (nsfwjs, converted)` : basename(model);
  for (const [mode, r] of b.best) rows.push(`| ${name} | ${h}×${w} | ${mode} | ${perSec(r).toFixed(1)} | ${(r.cpu / r.n).toFixed(4)} |`);
}

/** Extraction through extractDataset in each mode. */
async function extraction(model: string, ds: ImageDataset, repeat: number, skipTfjs: boolean, rows: string[]): Promise<void> {
  const modes: Array<[string, Parameters<typeof extractDataset>[1]]> = [];
  const base = { backbone: model, cacheDir: false as const, batchSize: 8 };
  if (isBuiltin(model) && !skipTfjs) {
    modes.push(['TF.js-wasm, 1 thread', { ...base, runtime: 'tfjs', workers: 1 }], ['TF.js-wasm, 2 worker threads', { ...base, runtime: 'tfjs', workers: 2 }]);
  }
  modes.push(
    ['onnxruntime, 1 thread', { ...base, runtime: 'onnx', workers: 1, threads: 1 }],
    ['onnxruntime, 1 worker × 2 intra-op threads', { ...base, runtime: 'onnx', workers: 1, threads: 2 }],
    ['onnxruntime, 2 worker threads × 1', { ...base, runtime: 'onnx', workers: 2, threads: 1 }],
  );
  const b = new Best();
  for (let k = 0; k < repeat; k++) {
    for (const [mode, o] of modes) {
      let cReady = process.cpuUsage();
      const r = await extractDataset(ds, { ...o, onReady: () => { cReady = process.cpuUsage(); } });
      const c = process.cpuUsage(cReady);
      b.keep(model, mode, { n: r.X.rows, s: r.stats.extractMs / 1000, cpu: (c.user + c.system) / 1e6 });
    }
  }
  const ref = b.best.get('TF.js-wasm, 1 thread');
  for (const [mode, r] of b.best) {
    rows.push(`| ${isBuiltin(model) ? model : basename(model)} | ${mode} | ${r.n} | ${perSec(r).toFixed(2)} | ${ref ? `${(perSec(r) / perSec(ref)).toFixed(1)}×` : '–'} | ${(r.cpu / r.n).toFixed(4)} |`);
  }
}

/**
 * Our share on one thread: decoding and preprocessing against the whole (theirs: onnxruntime's run
 * and pooling), per image, today and as protolens did it before (every file through sharp, the
 * preprocessing of test/helpers/pixels-reference.ts), on the same batches in the same minutes.
 */
async function share(model: string, ds: ImageDataset, rows: string[]): Promise<void> {
  const { backbone } = await loadBackboneNode(model, { runtime: 'onnx', cacheDir: false, threads: 1 });
  const p = backbone.preprocessing;
  const entries = ds.entries.slice(0, 64);
  const files = await Promise.all(entries.map((e) => ds.read(e)));
  // CPU time (all threads of the process), which other jobs on the machine do not inflate as they do wall time.
  const cpuMs = (): number => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
  const ms = { decode: 0, sharp: 0, prep: 0, prepBefore: 0, theirs: 0 };
  for (let round = 0; round < 2; round++) { // the first round warms up
    for (const k of Object.keys(ms) as Array<keyof typeof ms>) ms[k] = 0;
    for (let s = 0; s < files.length; s += 8) {
      const batch = files.slice(s, s + 8);
      const t0 = cpuMs();
      const imgs = await Promise.all(batch.map((f, i) => decodeImage(f, `image ${s + i}`)));
      const t1 = cpuMs();
      await Promise.all(batch.map((f, i) => decodeWithSharp(f, `image ${s + i}`)));
      const t2 = cpuMs();
      pixelBatch(imgs, p, 'nchw'); // what embed does first, timed alone
      const t3 = cpuMs();
      referencePixelBatch(imgs, p, 'nchw');
      const t4 = cpuMs();
      await backbone.embed(imgs);
      const t5 = cpuMs();
      ms.decode += t1 - t0; ms.sharp += t2 - t1; ms.prep += t3 - t2; ms.prepBefore += t4 - t3; ms.theirs += t5 - t4 - (t3 - t2); // embed repeats the preprocessing
    }
  }
  backbone.dispose();
  const n = files.length;
  const per = (v: number): string => `${(v / n).toFixed(2)} ms`;
  const pct = (ours: number): string => `${(100 * ours / (ours + ms.theirs)).toFixed(1)} %`;
  rows.push(`| ${isBuiltin(model) ? model : basename(model)} (${p.preset ?? 'tfjs'}) | ${per(ms.theirs)} | ${per(ms.decode)} (${per(ms.sharp)}) | ${per(ms.prep)} (${per(ms.prepBefore)}) | ${pct(ms.decode + ms.prep)} (${pct(ms.sharp + ms.prepBefore)}) |`);
}

/** Multiply-adds per image (billions), torchvision's figures for these architectures at their input sizes. */
const MACS: Array<[RegExp, number]> = [[/inception/, 5.71], [/mobilenet/, 0.30]];

/** A session setting measured by {@link sessionSweep}: onnxruntime options, the batch fed, and graph rewrites. */
interface Variant { name: string; options: Record<string, unknown>; batch: number; fixBatch?: boolean; save?: boolean }

/** The settings compared by `--parts options`, each a change from protolens's default (sessionOptions(1), batch 8). */
function variants(): Variant[] {
  const base = sessionOptions(1);
  return [
    { name: 'default: sessionOptions(1), batch 8', options: base, batch: 8 },
    { name: 'batch 1', options: base, batch: 1 },
    { name: 'batch 4', options: base, batch: 4 },
    { name: 'batch 16', options: base, batch: 16 },
    { name: "graphOptimizationLevel 'extended' (no NCHWc layout)", options: { ...base, graphOptimizationLevel: 'extended' }, batch: 8 },
    { name: 'enableCpuMemArena false', options: { ...base, enableCpuMemArena: false }, batch: 8 },
    { name: 'enableMemPattern false', options: { ...base, enableMemPattern: false }, batch: 8 },
    { name: 'set_denormal_as_zero', options: { ...base, extra: { session: { set_denormal_as_zero: '1' } } }, batch: 8 },
    { name: 'batch fixed to 8 in the graph', options: base, batch: 8, fixBatch: true },
    { name: 'optimised model saved, then loaded', options: base, batch: 8, save: true },
    { name: "executionMode 'parallel', 2 inter-op threads", options: { ...base, executionMode: 'parallel', interOpNumThreads: 2 }, batch: 8 },
    { name: "2 intra-op threads, spinning (onnxruntime's default)", options: { ...sessionOptions(2), extra: { session: { intra_op: { allow_spinning: '1' } } } }, batch: 8 },
    { name: '2 intra-op threads, allow_spinning 0 (sessionOptions(2))', options: sessionOptions(2), batch: 8 },
  ];
}

/**
 * onnxruntime's settings side by side (`--parts options`): each variant's session runs the same
 * Omniglot images (preprocessed once, so only the runtime is timed), interleaved over `repeat`
 * rounds, the least CPU time kept; CPU seconds per image and the ratio to the default, plus the
 * largest difference of its features from the default's (a setting must not change them beyond 1e-5).
 */
async function sessionSweep(model: string, ds: ImageDataset, repeat: number, rows: string[]): Promise<void> {
  const bytes = onnxBytes(model);
  const m = readOnnx(bytes, model);
  const input = imageInput(m, model);
  const { backbone } = await loadBackboneNode(model, { runtime: 'onnx', cacheDir: false, threads: 1 });
  const p = backbone.preprocessing, out = backbone.info.layer;
  backbone.dispose();
  const nImages = 16;
  const imgs = await Promise.all(ds.entries.slice(0, nImages).map(async (e, i) => decodeImage(await ds.read(e), `image ${i}`)));
  const x = pixelBatch(imgs, p, input.layout);
  const per = 3 * p.height * p.width;
  const saved = join(tmpdir(), `protolens-bench-${process.pid}-optimised.onnx`);
  const b = new Best();
  const cpuOf = new Map<string, number>();
  const features = new Map<string, Float32Array>();
  const vs = variants();
  const sessions = new Map<string, OrtSession>();
  for (const v of vs) {
    const graph = rewriteOnnx(m, { outputs: [out], batch: v.fixBatch ? v.batch : undefined }); // cut at the feature layer, as extraction runs it
    const t0 = process.cpuUsage();
    if (v.save) await (await nodeRuntime.InferenceSession.create(graph, { ...v.options, optimizedModelFilePath: saved })).release();
    const s = await nodeRuntime.InferenceSession.create(v.save ? new Uint8Array(readFileSync(saved)) : graph, v.options);
    const c = process.cpuUsage(t0);
    log(`${model}: ${v.name}: session created in ${((c.user + c.system) / 1e6).toFixed(2)} CPU s`);
    sessions.set(v.name, s);
  }
  if (existsSync(saved)) unlinkSync(saved);
  const runAll = async (v: Variant, s: OrtSession): Promise<Float32Array> => {
    const parts: Float32Array[] = [];
    for (let i = 0; i < nImages; i += v.batch) {
      const dims = input.layout === 'nchw' ? [v.batch, 3, p.height, p.width] : [v.batch, p.height, p.width, 3];
      const r = await s.run({ [input.name]: new nodeRuntime.Tensor('float32', x.subarray(i * per, (i + v.batch) * per), dims) });
      parts.push(r[out].data as Float32Array);
    }
    const all = new Float32Array(parts.reduce((a, q) => a + q.length, 0));
    parts.reduce((o, q) => { all.set(q, o); return o + q.length; }, 0);
    return all;
  };
  for (const v of vs) features.set(v.name, await runAll(v, sessions.get(v.name)!)); // warm-up, and the features compared
  for (let k = 0; k < repeat; k++) {
    for (const v of vs) {
      const r = await timed(nImages, () => runAll(v, sessions.get(v.name)!));
      b.keep(model, v.name, r);
      cpuOf.set(v.name, Math.min(cpuOf.get(v.name) ?? Infinity, r.cpu / r.n));
    }
  }
  for (const s of sessions.values()) await s.release();
  const ref = features.get(vs[0].name)!, cpu0 = cpuOf.get(vs[0].name)!;
  for (const v of vs) {
    const f = features.get(v.name)!;
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(f[i] - ref[i]));
    const cpu = cpuOf.get(v.name)!;
    const gflop = 2 * (MACS.find(([re]) => re.test(basename(model)))?.[1] ?? NaN);
    rows.push(`| ${isBuiltin(model) ? model : basename(model)} | ${v.name} | ${cpu.toFixed(4)} | ${(cpu / cpu0).toFixed(3)} | ${(gflop / cpu).toFixed(0)} | ${d.toExponential(1)} |`);
  }
}

/**
 * What one core can do: onnxruntime's float32 matrix product (1024×1024 by 1024×1024, one thread),
 * in GFLOP/s of CPU time — the ceiling a convolutional network's rate on onnxruntime approaches.
 */
async function gemmCeiling(): Promise<number> {
  const n = 1024;
  const w = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const bytes = writeOnnx({ nodes: [{ op: 'MatMul', inputs: ['a', 'w'], outputs: ['y'] }], inputs: [{ name: 'a', shape: [n, n] }], outputs: [{ name: 'y' }], initializers: [{ name: 'w', dims: [n, n], data: w }] });
  const s = await nodeRuntime.InferenceSession.create(bytes, sessionOptions(1));
  const a = new nodeRuntime.Tensor('float32', w.slice(), [n, n]);
  await s.run({ a });
  let best = Infinity;
  for (let k = 0; k < 3; k++) best = Math.min(best, (await timed(1, async () => { for (let r = 0; r < 10; r++) await s.run({ a }); })).cpu / 10);
  await s.release();
  return 2 * n ** 3 / best / 1e9;
}

/** The largest |converted − TF.js| over the features of the first n images. */
async function difference(model: BuiltinBackbone, ds: ImageDataset, n: number, rows: string[]): Promise<void> {
  const sub = { ...ds, entries: ds.entries.slice(0, n) };
  const a = await extractDataset(sub, { backbone: model, runtime: 'onnx', cacheDir: false, workers: 2 });
  const b = await extractDataset(sub, { backbone: model, runtime: 'tfjs', cacheDir: false, workers: 2 });
  let d = 0, m = 0;
  for (let i = 0; i < a.X.data.length; i++) { d = Math.max(d, Math.abs(a.X.data[i] - b.X.data[i])); m = Math.max(m, Math.abs(b.X.data[i])); }
  rows.push(`| ${model} | ${n} | ${BUILTIN_BACKBONES[model].layer} (${a.X.cols}) | ${d.toExponential(2)} | ${m.toFixed(3)} |`);
}

const { values } = parseArgs({ args: process.argv.slice(2), options: {
  n: { type: 'string', default: '96' },
  'n-inception': { type: 'string', default: '32' },
  'n-diff': { type: 'string', default: '200' },
  repeat: { type: 'string', default: '1' },
  models: { type: 'string' },
  only: { type: 'string' },
  'skip-tfjs': { type: 'boolean', default: false },
  parts: { type: 'string', default: 'runtime,extraction,share,difference' },
  compare: { type: 'string' },
  torch: { type: 'boolean', default: false },
} });
const parts = new Set(values.parts.split(','));
if (values.compare) {
  // Two feature files of the same images (e.g. extracted on TF.js and on onnxruntime): the largest difference.
  const [a, b] = values.compare.split(',').map((f) => readFeatures(f));
  if (a.X.rows !== b.X.rows || a.X.cols !== b.X.cols || a.paths?.some((p, i) => p !== b.paths?.[i])) throw new Error('--compare: the files hold different images or dimensions');
  let d = 0, m = 0, sum = 0;
  for (let i = 0; i < a.X.data.length; i++) { const e = Math.abs(a.X.data[i] - b.X.data[i]); d = Math.max(d, e); sum += e; m = Math.max(m, Math.abs(a.X.data[i])); }
  process.stdout.write(`| ${values.compare.split(',').join(' vs ')} | ${a.X.rows}×${a.X.cols} | ${d.toExponential(2)} | ${(sum / a.X.data.length).toExponential(2)} | ${m.toFixed(3)} |\n`);
  process.exit(0);
}
await initTfNode();
const repeat = Number(values.repeat);
const load0 = loadavg()[0];
const ds = openImageDataset(DATA);
const bundled: BuiltinBackbone[] = values.only ? (isBuiltin(values.only) ? [values.only] : []) : ['mobilenet_v2', 'inception_v3'];
const files = values.models ? values.models.split(',').filter((m) => !values.only || basename(m).startsWith(values.only)) : [];
const [raw, ext, ours, diff, opts]: string[][] = [[], [], [], [], []];
log(`TF.js wasm: simd ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`);
for (const m of [...bundled, ...files]) {
  if (parts.has('runtime')) await runtimeAlone(m, repeat, raw, values.torch);
  const n = Number(/inception/.test(m) ? values['n-inception'] : values.n);
  if (parts.has('extraction')) await extraction(m, { ...ds, entries: ds.entries.slice(0, n) }, repeat, values['skip-tfjs'], ext);
  if (parts.has('share')) await share(m, ds, ours);
  if (parts.has('options')) await sessionSweep(m, ds, repeat, opts);
}
if (parts.has('options')) opts.push(`| (ceiling) | onnxruntime MatMul 1024×1024 · 1024×1024, 1 thread: ${(await gemmCeiling()).toFixed(0)} GFLOP/s of CPU time | | | | |`);
if (parts.has('difference')) for (const m of bundled) await difference(m, ds, Number(values['n-diff']), diff);
const nproc = execFileSync('nproc').toString().trim();
process.stdout.write([
  `Machine: ${nproc} cores (nproc), ${cpus()[0]?.model ?? '?'}, Node ${process.version}; ${new Date().toISOString().slice(0, 16)} UTC; ` +
    `1-minute load average ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; best of ${repeat}.`,
  '',
  '| network | input | runtime (batch 8, blank images) | img/s | CPU s / image |',
  '|---|---|---|---|---|',
  ...raw,
  '',
  '| network | mode | images | img/s (wall) | vs TF.js 1 thread | CPU s / image |',
  '|---|---|---|---|---|---|',
  ...ext,
  '',
  '| network (preset) | onnxruntime + pooling per image, one thread | decoding (before: sharp) | preprocessing (before) | our share (before) |',
  '|---|---|---|---|---|',
  ...ours,
  '',
  '| network | images | layer (dim) | max \\|converted − TF.js\\| | max \\|TF.js feature\\| |',
  '|---|---|---|---|---|',
  ...diff,
  '',
  '| network | onnxruntime setting (16 Omniglot images, runtime alone) | CPU s / image | vs default | GFLOP/s | max \\|features − default\\| |',
  '|---|---|---|---|---|---|',
  ...opts,
  '',
].join('\n'));
