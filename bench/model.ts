/**
 * Benchmark of the prototype model at the size: N = 10,000 samples, D = 2048, L = 100
 * classes, J = 300 prototypes (synthetic: two blobs per class). Prints fit and predict times, and
 * the same algorithm in numpy (bench/numpy_model.py) when python3 and numpy are present, as a ratio.
 *
 * Both run a fixed amount of work: OUTER outer iterations (tol = 0), each a class step of at most
 * CLASS_ITER L-BFGS iterations and one prototype step. Predict is timed as the best of 3 calls on
 * both sides, each computing the norms of the X it is given.
 *
 * usage: node --import tsx bench/model.ts [N] [D] [L] [J] [OUTER] [CLASS_ITER]
 * GEMM: the native addon on every core when it is built, else the WebAssembly kernel on worker
 * threads (the line printed first says which, and why). PROTOLENS_GEMM=native|wasm|js forces one;
 * PROTOLENS_GEMM_THREADS=1 keeps ours on one thread and OPENBLAS_NUM_THREADS=1 numpy's (the fair
 * comparison when other jobs hold a core).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { twistedClasses } from '../src/data/synthetic.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { medianPairSqDistance } from '../src/model/scale.ts';
import { describeNodeGemm, enableNodeGemm } from '../src/linalg/gemm-native.node.ts';
import { rng } from '../src/linalg/random.ts';
import { encodeLabels } from '../src/model/labels.ts';
import type { Label } from '../src/model/types.ts';

const gemmChoice = enableNodeGemm();
const [N, D, L, J, OUTER, CLASS_ITER] = process.argv.slice(2).map(Number);
const n = N || 10000, dim = D || 2048, nClasses = L || 100, nProto = J || 300, outer = OUTER || 5, classIter = CLASS_ITER || 20;
const perBlob = Math.round(n / (2 * nClasses));
const data = twistedClasses({ seed: 0, nClasses, dim, blobsPerClass: [2, 2], samplesPerBlob: [perBlob, perBlob], singleton: false });
const X = data.X;
const alpha = 1e-3;
const tau = (0.1 * medianPairSqDistance(X, rng(0))) / 2;
console.log(`prototype model benchmark: N=${X.rows} D=${dim} L=${nClasses} J=${nProto}, ${outer} outer iterations × ≤${classIter} L-BFGS iterations; ` +
  `${describeNodeGemm(gemmChoice)}; ${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; ${new Date().toISOString()}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

const model = new PrototypeClassifier({ nPrototypes: nProto, alpha, tau, maxIter: outer, tol: 0, classIter, seed: 0 });
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
let t0 = performance.now(), c0 = process.cpuUsage();
model.fit(X, data.y);
const fitS = (performance.now() - t0) / 1000, fitCpu = cpuSeconds(process.cpuUsage(c0));
// Predict: best of 3 calls (one call's time is mostly noise when other jobs run), like the numpy side.
let pred: Label[] = [], predS = Infinity, predCpu = Infinity;
for (let r = 0; r < 3; r++) {
  t0 = performance.now(); c0 = process.cpuUsage();
  pred = model.predict(X);
  predS = Math.min(predS, (performance.now() - t0) / 1000);
  predCpu = Math.min(predCpu, cpuSeconds(process.cpuUsage(c0)));
}
const acc = pred.filter((p, i) => p === data.y[i]).length / pred.length;
console.log(`protolens: fit ${fitS.toFixed(2)} s (${fitCpu.toFixed(2)} s CPU; class-step evaluations ${model.fitStats_.classEvaluations}, prototype trials ${model.fitStats_.prototypeTrials}), ` +
  `predict ${predS.toFixed(2)} s (${predCpu.toFixed(2)} s CPU), training accuracy ${acc.toFixed(3)}, final loss ${model.history_.at(-1)!.loss.toFixed(6)}`);

const dir = '/tmp/protolens-bench-model';
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/X.f32`, Buffer.from(X.data.buffer, X.data.byteOffset, X.data.byteLength));
writeFileSync(`${dir}/y.i32`, Buffer.from(encodeLabels(data.y).codes.buffer));
writeFileSync(`${dir}/meta.json`, JSON.stringify({ N: X.rows, D: dim, L: nClasses, alpha, tau }));
try {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE; delete env.OPENBLAS_L2_SIZE; // see the env notes: they slow a current numpy
  const out = execFileSync('python3', [new URL('./numpy_model.py', import.meta.url).pathname, dir, String(nProto), String(outer), String(classIter)], { env, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  console.log(`numpy ${r.numpy} (OPENBLAS_NUM_THREADS=${env.OPENBLAS_NUM_THREADS ?? 'unset'}): fit ${r.fit_s.toFixed(2)} s (${r.fit_cpu_s.toFixed(2)} s CPU; class-step evaluations ${r.class_evals}), ` +
    `predict ${r.predict_s.toFixed(2)} s (${r.predict_cpu_s.toFixed(2)} s CPU), training accuracy ${r.train_accuracy.toFixed(3)}, final loss ${r.final_loss.toFixed(6)}`);
  console.log(`ratio protolens / numpy: fit ${(fitS / r.fit_s).toFixed(2)}, predict ${(predS / r.predict_s).toFixed(2)}; ` +
    `per class-step evaluation ${((fitS / model.fitStats_.classEvaluations) / (r.fit_s / r.class_evals)).toFixed(2)}`);
} catch (e) {
  console.log(`numpy comparison skipped: ${(e as Error).message.split('\n')[0]}`);
}
