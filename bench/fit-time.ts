/**
 * One default fit of the prototype model on a feature file, timed, with a fingerprint of the
 * fitted model: to compare two versions of protolens on the same data (same fingerprint = the same
 * model, bit for bit). `--root` is the checkout whose src/ is used (default: this one), so an older
 * version is timed with `git worktree add /tmp/before <commit>` and `--root /tmp/before`.
 *
 *   node --import tsx bench/fit-time.ts --features F.npy [--max-iter 100] [--alpha A] [--root DIR]
 *
 * Prints seconds, outer iterations, final loss, sha256 prefixes of P and W, and fitStats_.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: {
  features: { type: 'string' }, 'max-iter': { type: 'string', default: '100' }, alpha: { type: 'string' },
  root: { type: 'string', default: resolve(import.meta.dirname, '..') },
} });
if (!values.features) throw new Error('usage: --features F.npy [--max-iter N] [--alpha A] [--root DIR]');
const src = (p: string) => pathToFileURL(resolve(values.root, 'src', p)).href;
const { readFeatures } = await import(src('data/features.node.ts'));
const { enableNodeGemm } = await import(src('linalg/gemm-native.node.ts'));
const { PrototypeClassifier } = await import(src('model/prototype.ts'));
const gemm = enableNodeGemm();
const fs = readFeatures(values.features);
const t0 = Date.now();
const m = new PrototypeClassifier({ maxIter: Number(values['max-iter']), seed: 0, ...(values.alpha ? { alpha: Number(values.alpha) } : {}) }).fit(fs.X, fs.labels);
const seconds = (Date.now() - t0) / 1000;
const h = (a: Float32Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
console.log(`${values.root} (${gemm.backend}), ${values.features}: ${seconds.toFixed(1)} s, ${m.nIter_} iterations${m.converged_ ? ' (converged)' : ''}, final loss ${m.history_.at(-1).loss}, α ${m.getParams().alpha}; P ${h(m.prototypes_.data)}, W ${h(m.W_.data)}; ${JSON.stringify(m.fitStats_)}`);
