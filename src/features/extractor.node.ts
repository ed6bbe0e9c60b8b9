/**
 * Extractors that turn image files' bytes into feature vectors: in this thread, or spread over
 * worker threads that each run their own TF.js wasm backend and copy of the network (the wasm
 * backend is single-threaded in Node, so a second core needs a second thread).
 */
import { Worker } from 'node:worker_threads';
import { BadImageError } from '../data/images.ts';
import type { Backbone, BackboneInfo } from './backbone.ts';
import type { BackendName } from './backend.ts';
import { initTfNode } from './backend.node.ts';
import { decodeImage } from './decode.node.ts';
import { InputSizeError } from './onnx-backbone.ts';
import { loadBackboneNode, type LoadBackboneOptions, type LoadedBackbone } from './load.node.ts';
import type { PixelImage, Preprocessing } from './preprocess.ts';

/** One image file to embed: its bytes and its path (for messages). */
export interface FileItem {
  bytes: Uint8Array;
  where: string;
}

/** The vector of an image, or why it could not be read. */
export type ItemResult = { v: Float32Array } | { bad: string };

/** What an extractor is asked to load. */
export interface ExtractorSpec extends LoadBackboneOptions {
  /** `mobilenet_v2`, `inception_v3` or a TF.js model folder. */
  backbone: string;
  backend?: BackendName;
}

/** Something that embeds batches of image files. */
export interface Extractor {
  readonly info: BackboneInfo;
  readonly preprocessing: Preprocessing;
  /** Threads doing the work: worker threads, each with its own network (1: this thread). */
  readonly threads: number;
  /** onnxruntime's intra-op threads inside each of them (1 on TF.js). */
  readonly intraOpThreads: number;
  /** Model load time of the slowest thread, in ms, and where the weights came from. */
  readonly loadMs: number;
  readonly from: LoadedBackbone['from'];
  /** Why TF.js runs when onnxruntime was wanted, if it does. */
  readonly note?: string;
  run(items: FileItem[]): Promise<ItemResult[]>;
  close(): Promise<void>;
}

/**
 * Decoded pixels held at once before they go through the network: a batch of large photos is
 * embedded in smaller groups, so memory stays bounded whatever the images' sizes.
 */
export const PIXEL_BUDGET = 16_000_000;

/** Decodes and embeds a batch; undecodable files come back as `{ bad }` instead of failing the batch. */
export async function embedFiles(backbone: Backbone, items: readonly FileItem[]): Promise<ItemResult[]> {
  const out: ItemResult[] = new Array(items.length);
  const d = backbone.info.dim;
  let good: number[] = [];
  let imgs: PixelImage[] = [];
  let pixels = 0;
  const flush = async (): Promise<void> => {
    const v = await backbone.embed(imgs);
    for (let r = 0; r < good.length; r++) out[good[r]] = { v: v.slice(r * d, (r + 1) * d) };
    good = [];
    imgs = [];
    pixels = 0;
  };
  for (let i = 0; i < items.length; i++) {
    try {
      const img = await decodeImage(items[i].bytes, items[i].where);
      imgs.push(img);
      good.push(i);
      pixels += img.width * img.height;
    } catch (e) {
      if (!(e instanceof BadImageError)) throw e;
      out[i] = { bad: e.reason };
    }
    if (pixels >= PIXEL_BUDGET) await flush();
  }
  if (imgs.length > 0) await flush();
  return out;
}

/** An extractor in this thread. */
export async function localExtractor(spec: ExtractorSpec): Promise<Extractor> {
  await initTfNode(spec.backend ?? 'wasm');
  const { backbone, ms, from, note } = await loadBackboneNode(spec.backbone, spec);
  return {
    info: backbone.info, preprocessing: backbone.preprocessing, threads: 1, intraOpThreads: from.startsWith('onnx') ? spec.threads ?? 1 : 1, loadMs: ms, from, note,
    run: (items) => embedFiles(backbone, items),
    close: async () => backbone.dispose(),
  };
}

interface Ready { type: 'ready'; info: BackboneInfo; preprocessing: Preprocessing; ms: number; from: LoadedBackbone['from']; note?: string }
interface Failed { type: 'error'; name: string; message: string; stack?: string; subject?: string }
interface Done { type: 'done'; id: number; results: ItemResult[] }
export type WorkerReply = Ready | Failed | Done;
export type WorkerRequest = { type: 'run'; id: number; items: FileItem[] } | { type: 'close' };

function rebuild(f: Failed): Error {
  const E = f.name === 'RangeError' ? RangeError : f.name === 'TypeError' ? TypeError : Error;
  const e = f.name === 'InputSizeError' && f.subject !== undefined ? new InputSizeError(f.subject) : new E(f.message);
  if (f.stack) e.stack = f.stack;
  return e;
}

/**
 * An extractor over `n` worker threads. Batches go to whichever worker is free.
 * @throws the worker's own error (same class and message) when loading fails in a worker.
 */
export async function workerExtractor(spec: ExtractorSpec, n: number): Promise<Extractor> {
  const boot = new URL('./worker-boot.node.mjs', import.meta.url);
  const workers: Worker[] = [];
  const readies: Array<Promise<Ready>> = [];
  for (let k = 0; k < n; k++) {
    // Workers start with the loader that protolens itself was started with (tsx), through the boot file.
    const w = new Worker(boot, { workerData: spec });
    workers.push(w);
    readies.push(new Promise<Ready>((res, rej) => {
      const onMsg = (m: WorkerReply): void => {
        if (m.type === 'ready') { w.off('message', onMsg); res(m); }
        else if (m.type === 'error') { w.off('message', onMsg); rej(rebuild(m)); }
      };
      w.on('message', onMsg);
      w.once('error', rej);
      w.once('exit', (c) => rej(new Error(`feature worker exited with code ${c} while loading`)));
    }));
  }
  let ready: Ready[];
  try {
    ready = await Promise.all(readies);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  const idle: Worker[] = [...workers];
  const waiting: Array<(w: Worker) => void> = [];
  let nextId = 0;
  const acquire = (): Promise<Worker> => {
    const w = idle.pop();
    return w ? Promise.resolve(w) : new Promise((res) => waiting.push(res));
  };
  const release = (w: Worker): void => {
    const next = waiting.shift();
    if (next) next(w); else idle.push(w);
  };
  const runOn = (w: Worker, items: FileItem[]): Promise<ItemResult[]> => new Promise((res, rej) => {
    const id = nextId++;
    const onMsg = (m: WorkerReply): void => {
      if (m.type === 'done' && m.id === id) { cleanup(); res(m.results); }
      else if (m.type === 'error') { cleanup(); rej(rebuild(m)); }
    };
    const onErr = (e: Error): void => { cleanup(); rej(e); };
    const onExit = (c: number): void => { cleanup(); rej(new Error(`feature worker exited with code ${c}`)); };
    const cleanup = (): void => { w.off('message', onMsg); w.off('error', onErr); w.off('exit', onExit); };
    w.on('message', onMsg);
    w.on('error', onErr);
    w.on('exit', onExit);
    w.postMessage({ type: 'run', id, items } satisfies WorkerRequest);
  });
  return {
    info: ready[0].info,
    preprocessing: ready[0].preprocessing,
    threads: n,
    intraOpThreads: ready[0].from.startsWith('onnx') ? spec.threads ?? 1 : 1,
    loadMs: Math.max(...ready.map((r) => r.ms)),
    from: ready[0].from,
    note: ready[0].note,
    async run(items) {
      const w = await acquire();
      try {
        return await runOn(w, items);
      } finally {
        release(w);
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
