/**
 * Training throughput of the Conv-4 embedding (issue 7): images per second, forward and
 * backward, for one Adam-free gradient step on a batch of 28×28 images, by backend and
 * implementation:
 *
 * - `stock layers`: `tf.layers` Conv-4 with TF.js's own gradients (on wasm this needs our
 *   Conv2DBackpropFilter kernel, which is registered; everything else is stock);
 * - `protolens ops`: TF.js ops with hand-written gradients (ops.ts; `--passes tfjs`);
 * - `protolens engine`: our Float32Array passes (conv4-gemm.ts; `--passes gemm`, the default), with
 *   the GEMM on one thread and on the backend the CLI installs (both cores), and where the time
 *   goes, by phase;
 *
 * plus the weight-gradient kernel alone and forward-only inference.
 *
 *   node --import tsx bench/embedding-throughput.ts [--quick] [--engine-only]
 */
import * as tf from '@tensorflow/tfjs';
import { initTfNode } from '../src/features/backend.node.ts';
import { conv2dBackpropFilter, registerWasmTrainingKernels } from '../src/embedding/kernels.ts';
import { Conv4 } from '../src/embedding/conv4.ts';
import { Conv4Gemm, convKernelsName, protonetLoss } from '../src/embedding/conv4-gemm.ts';
import { enableNativeConvKernels } from '../src/embedding/conv-native.node.ts';
import { gemmBackendName } from '../src/linalg/gemm.ts';
import { enableNodeGemm } from '../src/linalg/gemm-native.node.ts';
import type { BatchStats } from '../src/embedding/ops.ts';
import { rng } from '../src/linalg/random.ts';

const quick = process.argv.includes('--quick');
const engineOnly = process.argv.includes('--engine-only');
await initTfNode('wasm');
registerWasmTrainingKernels();

function stockModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.inputLayer({ inputShape: [28, 28, 1] }));
  for (let i = 0; i < 4; i++) {
    m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', useBias: false }));
    m.add(tf.layers.batchNormalization({}));
    m.add(tf.layers.reLU());
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  m.add(tf.layers.flatten());
  return m;
}

/** Mean ms of `reps` calls after one warm-up. */
function time(reps: number, f: () => void): number {
  f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

const rows: string[] = ['| backend | implementation | batch | ms per step | images/s (fwd+bwd) |', '|---|---|---|---|---|'];
async function trainStep(backend: 'wasm' | 'cpu', impl: 'stock layers' | 'protolens ops', B: number, reps: number): Promise<void> {
  await tf.setBackend(backend);
  const x = tf.randomUniform([B, 28, 28, 1]) as tf.Tensor4D;
  let ms: number;
  if (impl === 'stock layers') {
    const m = stockModel();
    const vars = m.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    ms = time(reps, () => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, vars);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  } else {
    const net = Conv4.create({}, rng(0));
    ms = time(reps, () => {
      const stats: BatchStats[] = [];
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.embedTrain(x, stats))) as tf.Scalar, net.variables());
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
      net.updateRunningStats(stats);
    });
    net.dispose();
  }
  x.dispose();
  rows.push(`| ${backend} | ${impl} | ${B} | ${ms.toFixed(0)} | ${(B / ms * 1000).toFixed(1)} |`);
  process.stderr.write(rows[rows.length - 1] + '\n');
}

/**
 * One protonet training step (30-way episodes: B/60 support and query images per class) on our
 * engine, Adam excluded; also the per-phase split at the largest batch.
 */
function engineSteps(batches: number[], reps: number): string[] {
  const phaseRows: string[] = [];
  const net = Conv4.create({}, rng(0));
  const engine = new Conv4Gemm(net.state());
  net.dispose();
  const r = rng(1);
  for (const B of batches) {
    const x = Float32Array.from({ length: B * 784 }, () => r.next());
    const k = B / 60;
    const step = () => { const { embedding } = engine.forwardTrain(x, B); engine.backward(protonetLoss(embedding, 64, 30, k, k).grad); };
    const ms = time(reps, step);
    rows.push(`| – | protolens engine, GEMM ${gemmBackendName()}, element-wise ${convKernelsName()} | ${B} | ${ms.toFixed(0)} | ${(B / ms * 1000).toFixed(1)} |`);
    process.stderr.write(rows[rows.length - 1] + '\n');
    if (B === batches[batches.length - 1]) {
      engine.profile = new Map();
      for (let i = 0; i < reps; i++) step();
      const byPhase = new Map<string, number>();
      for (const [name, v] of engine.profile) {
        const phase = name.replace(/ \d+$/, '');
        byPhase.set(phase, (byPhase.get(phase) ?? 0) + v / reps);
      }
      phaseRows.push(`| phase (B = ${B}, GEMM ${gemmBackendName()}, element-wise ${convKernelsName()}) | ms per step |`, '|---|---|');
      for (const [phase, v] of [...byPhase].sort((a, b) => b[1] - a[1])) phaseRows.push(`| ${phase} | ${v.toFixed(0)} |`);
      engine.profile = null;
    }
  }
  return phaseRows;
}

const batches = quick ? [300] : [100, 200, 300, 600];
const phases = engineSteps(batches, quick ? 2 : 3);
process.stderr.write(`GEMM backend for the CLI: ${enableNodeGemm()}; element-wise kernels: ${enableNativeConvKernels()}\n`);
phases.push('', ...engineSteps(batches, quick ? 2 : 3));
if (engineOnly) {
  process.stdout.write(`${rows.join('\n')}\n\n${phases.join('\n')}\n`);
  process.exit(0);
}

await trainStep('wasm', 'protolens ops', 200, quick ? 2 : 4);
await trainStep('wasm', 'stock layers', 200, quick ? 1 : 2);
if (!quick) {
  for (const B of [50, 100, 300, 600]) await trainStep('wasm', 'protolens ops', B, 2);
  await trainStep('cpu', 'protolens ops', 50, 1);
  await trainStep('cpu', 'stock layers', 50, 1);
}

// The weight gradient of the second block alone: 200 images, 14×14×64 → 14×14×64.
const kernelRows: string[] = ['| backend | Conv2DBackpropFilter, x 200×14×14×64, dy 200×14×14×64 | ms | GFLOP/s |', '|---|---|---|---|'];
const flops = 2 * 200 * 14 * 14 * 9 * 64 * 64;
for (const backend of (quick ? ['wasm'] : ['wasm', 'cpu']) as Array<'wasm' | 'cpu'>) {
  await tf.setBackend(backend);
  const x = tf.randomUniform([200, 14, 14, 64]) as tf.Tensor4D, dy = tf.randomUniform([200, 14, 14, 64]) as tf.Tensor4D;
  const run = (f: () => tf.Tensor) => time(backend === 'cpu' ? 1 : 3, () => { const r = f(); r.dataSync(); r.dispose(); });
  const ours = run(() => conv2dBackpropFilter(x, dy, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 64, 64] }));
  kernelRows.push(`| ${backend} | ours (9 slices, transpose, matMul) | ${ours.toFixed(0)} | ${(flops / ours / 1e6).toFixed(1)} |`);
  if (backend === 'cpu') {
    const stock = run(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 64, 64] } as unknown as tf.NamedAttrMap) as tf.Tensor);
    kernelRows.push(`| cpu | TF.js's own kernel | ${stock.toFixed(0)} | ${(flops / stock / 1e6).toFixed(1)} |`);
  }
  tf.dispose([x, dy]);
}

// Forward-only inference, as used to embed validation and test images.
await tf.setBackend('wasm');
const net = Conv4.create({}, rng(0));
const xb = tf.randomUniform([500, 28, 28, 1]) as tf.Tensor4D;
const inf = time(quick ? 1 : 3, () => { const e = tf.tidy(() => net.embedInfer(xb)); e.dataSync(); e.dispose(); });
process.stdout.write(`${rows.join('\n')}\n\n${phases.join('\n')}\n\n${kernelRows.join('\n')}\n\nwasm inference (forward only, running statistics), batch 500: ${(500 / inf * 1000).toFixed(0)} images/s\n`);
