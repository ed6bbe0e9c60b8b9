/**
 * Choosing and starting the TF.js backend, once per thread. Browser-safe: the caller gives the
 * URL or path prefix of the wasm binaries (`backend.node.ts` does this for Node).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** Backends protolens runs features on: `wasm` (default, SIMD, one core per thread), `cpu` (pure JS), `webgl` (browser). */
export type BackendName = 'wasm' | 'cpu' | 'webgl';
export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'webgl'];

let started: Promise<BackendName> | undefined;
let startedName: BackendName | undefined;

/**
 * Starts a TF.js backend (idempotent: later calls return the first one's result).
 * @param wasmPaths - prefix where `tfjs-backend-wasm*.wasm` are found (a URL in the browser, a
 *   folder path ending in "/" in Node).
 * @throws RangeError for an unknown backend name, or when a different backend was started before.
 */
export function initTf(backend: BackendName = 'wasm', wasmPaths?: string): Promise<BackendName> {
  if (!BACKENDS.includes(backend)) {
    throw new RangeError(`unknown TF.js backend "${backend}"; expected one of: ${BACKENDS.join(', ')}`);
  }
  if (started) {
    if (startedName !== backend) throw new RangeError(`TF.js backend "${startedName}" is already running; cannot switch to "${backend}"`);
    return started;
  }
  startedName = backend;
  started = (async () => {
    if (backend === 'wasm' && wasmPaths) setWasmPaths(wasmPaths);
    const ok = await tf.setBackend(backend);
    if (!ok) throw new Error(`TF.js backend "${backend}" failed to start`);
    await tf.ready();
    return backend;
  })();
  return started;
}
