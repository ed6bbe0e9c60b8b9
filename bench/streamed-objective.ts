/**
 * The streamed fit's objective over all rows, epoch by epoch (BENCHMARKS.md, "The streamed fit's
 * α"), on test/streamed.test.ts's data: 6,000 training rows of a twisted-classes space (6 classes,
 * 16 dimensions, J = the 9 blobs) and 3,000 test rows. For each α, fitStreamed is run with 1, 2, …,
 * E epochs (the fits share their first epochs, so the e-th is the model after epoch e) and each
 * model's NLL and penalty over all training rows are computed here, independently of its records;
 * the history's epoch records are printed beside them.
 *
 *   node --import tsx bench/streamed-objective.ts [alphas=1e-5,1e-3] [E=6] [chunkRows=1000] [decay=true] [shards|memory]
 *
 * `shards`: the test's three Arrow shards of batches of 250 rows (openShardStream); `memory`:
 * memoryChunks (rows dealt at random into chunks).
 */
import { blobRows, twistedClasses } from '../src/data/synthetic.ts';
import { fitStreamed, memoryChunks, type ChunkSource } from '../src/model/streamed.ts';
import { encodeShard, openShardStream, shardRange } from '../src/data/shards.node.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { penalty } from '../src/model/objective.ts';
import type { Matrix } from '../src/linalg/matrix.ts';
import type { PrototypeClassifier } from '../src/model/prototype.ts';

function blobs(n: number, seed: number): { X: Matrix; y: string[]; nBlobs: number } {
  const t = twistedClasses({ nClasses: 6, dim: 16, blobsPerClass: [1, 3], samplesPerBlob: [1, 1], singleton: false, separation: 0.6, seed: 3 });
  return blobRows(t, n, seed);
}
function whole(m: PrototypeClassifier, X: Matrix, y: string[], alpha: number) {
  const C = m.predictProba(X).data, L = m.classes_.length;
  let nll = 0, ok = 0;
  for (let i = 0; i < X.rows; i++) {
    const c = m.classes_.indexOf(y[i]);
    nll -= Math.log(Math.max(C[i * L + c], 1e-300));
    let b = 0; for (let k = 1; k < L; k++) if (C[i * L + k] > C[i * L + b]) b = k;
    if (b === c) ok++;
  }
  nll /= X.rows;
  const pen = penalty(m.W_!.data, alpha, 'l2');
  let w2 = 0; for (const v of m.W_!.data) w2 += v * v;
  return { nll, pen, obj: nll + pen, acc: ok / X.rows, wnorm: Math.sqrt(w2) };
}
const alphas = (process.argv[2] ?? '1e-5,1e-3').split(',').map(Number);
const E = Number(process.argv[3] ?? 6);
const chunk = Number(process.argv[4] ?? 1000);
const decay = (process.argv[5] ?? 'true') === 'true';
const train = blobs(6000, 1), test = blobs(3000, 2);
const useShards = (process.argv[6] ?? 'shards') === 'shards';
const dir = mkdtempSync(join(tmpdir(), 'sa-shards-'));
for (let i = 0; i < 3; i++) {
  const [a, b] = shardRange(train.X.rows, { index: i, count: 3 });
  const fs = { X: { data: train.X.data.slice(a * 16, b * 16), rows: b - a, cols: 16 }, labels: train.y.slice(a, b), meta: { backbone: { modelKey: 'synthetic' } } };
  writeFileSync(join(dir, `part-${i}.arrow`), encodeShard(fs, { index: i, count: 3 }, train.X.rows, 250));
}
const shardSource = await openShardStream(dir, chunk);
for (const alpha of alphas) {
  console.log(`α=${alpha} chunk=${chunk} decay=${decay}`);
  console.log('epoch  nll(all)   penalty    objective  train-acc  test-acc  |W|    epoch-record(loss, nll)');
  for (let e = 1; e <= E; e++) {
    const src: ChunkSource = useShards ? shardSource : memoryChunks(train.X, train.y, chunk);
    const m = await fitStreamed(src, { nPrototypes: train.nBlobs, seed: 0, epochs: e, alpha, decay });
    if (e === 1) { const h = m.history_[0]; console.log(`start  (init record) loss ${h.loss.toFixed(5)} nll ${h.nll.toFixed(5)} pen ${h.penalty.toFixed(5)}`); }
    const w = whole(m, train.X, train.y, alpha), t = whole(m, test.X, test.y, alpha);
    const recs = m.history_.filter((r) => r.step === "epoch").map((r) => `${r.loss.toFixed(4)}/${r.nll.toFixed(4)}${r.undone === undefined ? "" : ` (undone: ${r.undone.toFixed(4)})`}`).join(" ");
    console.log(`${e}      ${w.nll.toFixed(5)}  ${w.pen.toFixed(5)}  ${w.obj.toFixed(5)}  ${w.acc.toFixed(4)}     ${t.acc.toFixed(4)}    ${w.wnorm.toFixed(1)}  ${recs}`);
  }
}

await shardSource.close();
rmSync(dir, { recursive: true, force: true });
