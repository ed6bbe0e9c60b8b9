/**
 * Refits the prototype model in a Web Worker, so the page stays responsive: receives the
 * features, labels and options, posts progress after every outer iteration, then the fitted
 * model (its JSON) and the map's new model view.
 */
import { PrototypeClassifier, type PrototypeOptions } from '../../src/model/prototype.ts';
import { describeModel } from '../../src/viz/mapdata.ts';
import type { Label } from '../../src/model/types.ts';

export interface RefitRequest {
  X: Float32Array;
  rows: number;
  cols: number;
  y: Label[];
  options: PrototypeOptions;
}

export type RefitReply =
  | { type: 'progress'; iter: number; maxIter: number; loss: number; accuracy: number }
  | { type: 'done'; model: ReturnType<PrototypeClassifier['toJSON']>; view: ReturnType<typeof describeModel>; ms: number }
  | { type: 'error'; message: string };

const post = (m: RefitReply) => (self as unknown as Worker).postMessage(m);

self.onmessage = (e: MessageEvent<RefitRequest>) => {
  const { X, rows, cols, y, options } = e.data;
  try {
    const t0 = performance.now();
    const Xm = { data: X, rows, cols };
    const m = new PrototypeClassifier(options);
    let last = -1;
    m.fit(Xm, y, (r, maxIter) => {
      if (r.step === 'prototype' || r.iter !== last) post({ type: 'progress', iter: r.iter, maxIter, loss: r.loss, accuracy: r.accuracy });
      last = r.iter;
    });
    post({ type: 'done', model: m.toJSON(), view: describeModel(m, Xm, y), ms: performance.now() - t0 });
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
  }
};
