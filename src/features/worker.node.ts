/**
 * A feature worker thread: loads its own TF.js backend and backbone from `workerData`
 * (an {@link ExtractorSpec}), then embeds the batches it is sent. See `extractor.node.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { embedFiles, type ExtractorSpec, type WorkerReply, type WorkerRequest } from './extractor.node.ts';
import { initTfNode } from './backend.node.ts';
import { loadBackboneNode } from './load.node.ts';

const port = parentPort;
if (!port) throw new Error('worker.node.ts must run in a worker thread');

function fail(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  const subject = (err as { subject?: unknown }).subject;
  port!.postMessage({ type: 'error', name: err.name, message: err.message, stack: err.stack, subject: typeof subject === 'string' ? subject : undefined } satisfies WorkerReply);
}

try {
  const spec = workerData as ExtractorSpec;
  await initTfNode(spec.backend ?? 'wasm');
  const { backbone, ms, from, note } = await loadBackboneNode(spec.backbone, spec);
  port.on('message', (m: WorkerRequest) => {
    if (m.type === 'close') { backbone.dispose(); port.close(); return; }
    embedFiles(backbone, m.items).then((results) => {
      const transfer = results.flatMap((r) => ('v' in r ? [r.v.buffer as ArrayBuffer] : []));
      port.postMessage({ type: 'done', id: m.id, results } satisfies WorkerReply, transfer);
    }, fail);
  });
  port.postMessage({ type: 'ready', info: backbone.info, preprocessing: backbone.preprocessing, ms, from, note } satisfies WorkerReply);
} catch (e) {
  fail(e);
}
