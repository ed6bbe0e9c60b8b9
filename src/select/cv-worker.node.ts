/**
 * A cross-validation worker thread: receives the data once (X in shared memory, labels, folds,
 * candidates), then scores the jobs it is sent one at a time (src/select/cv.ts, runJob).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runJob, type CVJob, type SearchCandidate } from './cv.ts';
import type { Label } from '../model/types.ts';

interface Data { X: Float32Array; rows: number; cols: number; y: Label[]; fold: Int32Array; candidates: Array<SearchCandidate['params']>; seed: number }
const d = workerData as Data;
const X = { data: d.X, rows: d.rows, cols: d.cols };
parentPort!.on('message', (job: CVJob & { id: number }) => {
  try {
    parentPort!.postMessage({ id: job.id, score: runJob(X, d.y, d.fold, job, d.candidates, d.seed) });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message, name: (e as Error).name });
  }
});
