/** Starts TF.js in Node, pointing the wasm backend at its `.wasm` files in node_modules. */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { initTf, type BackendName } from './backend.ts';

/** The backends that run in Node (webgl needs a browser). */
export const NODE_BACKENDS: readonly BackendName[] = ['wasm', 'cpu'];

/**
 * Checks a backend name for Node.
 * @throws RangeError listing the backends that run in Node.
 * @example
 * checkNodeBackend('cpu') // 'cpu'; checkNodeBackend('webgl') throws '… expected one of: wasm, cpu'
 */
export function checkNodeBackend(name: string): BackendName {
  if (!(NODE_BACKENDS as readonly string[]).includes(name)) throw new RangeError(`TF.js backend "${name}" does not run in Node; expected one of: ${NODE_BACKENDS.join(', ')}`);
  return name as BackendName;
}

/** Folder (ending in "/") holding `tfjs-backend-wasm*.wasm`. */
export function wasmDir(): string {
  const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  return dirname(main) + '/';
}

/**
 * Starts the backend (default wasm) for this thread.
 * @throws RangeError for a backend that does not run in Node ({@link checkNodeBackend}).
 */
export function initTfNode(backend: BackendName = 'wasm'): Promise<BackendName> {
  return initTf(checkNodeBackend(backend), backend === 'wasm' ? wasmDir() : undefined);
}
