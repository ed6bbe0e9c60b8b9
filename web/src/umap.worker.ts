/**
 * The UMAP view (umap-js), computed in a Web Worker from the samples' leading principal-component
 * scores (the server's `/api/scores.f32`): UMAP's neighbour search then works in 16 dimensions
 * instead of thousands, for the same neighbourhoods up to the discarded variance.
 */
import { UMAP } from 'umap-js';

export interface UmapRequest {
  scores: Float32Array;
  rows: number;
  cols: number;
  seed: number;
}

export type UmapReply =
  | { type: 'progress'; epoch: number; epochs: number }
  | { type: 'done'; points: Float32Array }
  | { type: 'error'; message: string };

/** mulberry32: a small seeded generator, so that the layout is the same at every visit. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const post = (m: UmapReply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

self.onmessage = (e: MessageEvent<UmapRequest>) => {
  const { scores, rows, cols, seed } = e.data;
  try {
    const data: number[][] = [];
    for (let i = 0; i < rows; i++) data.push(Array.from(scores.subarray(i * cols, (i + 1) * cols)));
    const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(15, rows - 1), minDist: 0.1, random: seeded(seed) });
    const epochs = umap.initializeFit(data);
    for (let ep = 0; ep < epochs; ep++) {
      umap.step();
      if (ep % 10 === 0) post({ type: 'progress', epoch: ep, epochs });
    }
    const emb = umap.getEmbedding();
    const points = new Float32Array(rows * 2);
    for (let i = 0; i < rows; i++) { points[2 * i] = emb[i][0]; points[2 * i + 1] = -emb[i][1]; }
    post({ type: 'done', points }, [points.buffer]);
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
  }
};
