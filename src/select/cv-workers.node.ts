/**
 * Cross-validation on every core (Node): a {@link JobRunner} that spreads the fits of a search
 * over worker threads, one job at a time to whichever worker is free. Each worker gets the data
 * once, X in shared memory. Scores come back in job order, equal to a run in one thread (each job
 * is seeded by its fold, not by where it runs).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Matrix } from '../linalg/matrix.ts';
import type { Label } from '../model/types.ts';
import type { ValidationScore } from './grid.ts';
import type { CVJob, JobRunner, SearchCandidate } from './cv.ts';

/**
 * A runner over `threads` workers (default: the available cores, at most the number of jobs).
 * `onJob(done, total)` is called with 0 before the first fit of the search and then as each one
 * ends (in the order they end), for a progress bar: a search on thousands of rows takes minutes.
 * @example
 * await new PrototypeClassifierCV().fitWith(workerRunner(), X, y);
 * await new PrototypeClassifierCV().fitWith(workerRunner(2, (done, total) => console.log(`${done}/${total}`)), X, y);
 */
export function workerRunner(threads = availableParallelism(), onJob?: (done: number, total: number) => void) {
  return (X: Matrix, y: readonly Label[], fold: Int32Array, candidates: ReadonlyArray<SearchCandidate['params']>, seed: number): JobRunner =>
    async (jobs: CVJob[]): Promise<ValidationScore[]> => {
      const n = Math.max(1, Math.min(threads, jobs.length));
      onJob?.(0, jobs.length);
      if (n === 1 || jobs.length < 4) {
        const { runJob } = await import('./cv.ts');
        return jobs.map((j, k) => { const score = runJob(X, y, fold, j, candidates, seed); onJob?.(k + 1, jobs.length); return score; });
      }
      const shared = new Float32Array(new SharedArrayBuffer(X.data.byteLength));
      shared.set(X.data);
      const boot = new URL('./cv-worker-boot.node.mjs', import.meta.url);
      const workerData = { X: shared, rows: X.rows, cols: X.cols, y: y.slice(), fold, candidates, seed };
      const workers = Array.from({ length: n }, () => new Worker(boot, { workerData }));
      const out: ValidationScore[] = new Array(jobs.length);
      let next = 0, done = 0;
      try {
        await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
          const send = () => {
            if (next >= jobs.length) { resolve(); return; }
            const id = next++;
            w.postMessage({ ...jobs[id], id });
          };
          w.on('message', (m: { id: number; score?: ValidationScore; error?: string; name?: string }) => {
            if (m.error !== undefined) {
              const E = m.name === 'TypeError' ? TypeError : m.name === 'RangeError' ? RangeError : Error;
              reject(new E(m.error));
              return;
            }
            out[m.id] = m.score!;
            onJob?.(++done, jobs.length);
            send();
          });
          w.once('error', reject);
          send();
        })));
      } finally {
        await Promise.all(workers.map((w) => w.terminate()));
      }
      return out;
    };
}
