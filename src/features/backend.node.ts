/** Starts TF.js in Node, pointing the wasm backend at its `.wasm` files in node_modules. */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { initTf, type BackendName } from './backend.ts';

/** Folder (ending in "/") holding `tfjs-backend-wasm*.wasm`. */
export function wasmDir(): string {
  const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  return dirname(main) + '/';
}

/** Starts the backend (default wasm) for this thread. */
export function initTfNode(backend: BackendName = 'wasm'): Promise<BackendName> {
  return initTf(backend, backend === 'wasm' ? wasmDir() : undefined);
}
