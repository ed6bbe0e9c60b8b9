/**
 * The bundled networks (and, on request, a user's TF.js layers model) on onnxruntime: converted
 * from their TF.js form to ONNX by `keras-onnx.ts` at first use, cached beside the plain TF.js copy
 * (`<cache>/models/<name>-<key>/model-onnx-v<converter version>.onnx` with `onnx.json`), then run
 * by onnxruntime-node like any ONNX backbone, fed the same preprocessing as on TF.js. Their features
 * equal TF.js's to 1e-4 (test: test/converted.test.ts; figures in BENCHMARKS.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../data/atomic.node.ts';
import type { Backbone } from './backbone.ts';
import { CONVERTER_VERSION, kerasToOnnx, type WeightSpec } from './keras-onnx.ts';
import type { PoolMode } from './onnx-backbone.ts';
import type { Preprocessing } from './pixels.ts';

/** What to convert and how to describe the backbone. */
export interface ConvertedSpec {
  name: string;
  /** The TF.js model: topology, weight specs, weight bytes (read only when no cached copy exists). */
  read: () => { topology: unknown; specs: WeightSpec[]; weights: Uint8Array; hash: string };
  /** Folder of the cached copy, or undefined for none. */
  dir?: string;
  layer?: string;
  pool?: PoolMode;
  /** Test-time shifts (`tta.ts`). */
  tta?: number;
  preprocessing: Preprocessing;
  source: string;
  threads?: number;
  /** The feature preprocessing the network's definition recommends (`BackboneInfo.recommendedPreprocess`). */
  recommendedPreprocess?: Backbone['info']['recommendedPreprocess'];
}

/** The cached ONNX file of a converted model. */
export function convertedOnnxFile(dir: string): string {
  return join(dir, `model-onnx-v${CONVERTER_VERSION}.onnx`);
}

/**
 * A converted network as a backbone on onnxruntime; `from` says whether the ONNX graph was read
 * from the cache or converted now (and then cached).
 * @throws UnsupportedLayerError when the model has a layer the converter does not handle; the
 *   errors of onnxruntime-node's loading (the caller falls back to TF.js on either).
 */
export async function loadConverted(s: ConvertedSpec): Promise<{ backbone: Backbone; from: 'onnx-cache' | 'onnx-converted' }> {
  const { nodeRuntime, sessionOptions } = await import('./onnx.node.ts');
  const { onnxBackbone } = await import('./onnx-backbone.ts');
  const { bytes, hash, from } = convertedBytes(s);
  const { height, width } = s.preprocessing;
  const backbone = await onnxBackbone(nodeRuntime, bytes, {
    name: s.name, where: s.name, layer: s.layer, pool: s.pool, tta: s.tta, preset: s.preprocessing.preset ?? 'tfjs',
    preprocessing: { ...s.preprocessing, height, width }, weightsHash: hash, source: `${s.source}, converted to ONNX`,
    sessionOptions: sessionOptions(s.threads), recommendedPreprocess: s.recommendedPreprocess,
  });
  return { backbone, from };
}

/**
 * The ONNX graph of a converted network: read from the cache, or converted now (and cached).
 * @throws UnsupportedLayerError when the model has a layer the converter does not handle.
 */
export function convertedBytes(s: Pick<ConvertedSpec, 'read' | 'dir' | 'source'>): { bytes: Uint8Array; hash: string; from: 'onnx-cache' | 'onnx-converted' } {
  const file = s.dir ? convertedOnnxFile(s.dir) : undefined;
  const meta = file ? join(s.dir!, 'onnx.json') : undefined;
  let bytes: Uint8Array;
  let hash: string;
  let from: 'onnx-cache' | 'onnx-converted';
  if (file && meta && existsSync(file) && existsSync(meta)) {
    bytes = new Uint8Array(readFileSync(file));
    hash = (JSON.parse(readFileSync(meta, 'utf8')) as { weightsHash: string }).weightsHash;
    from = 'onnx-cache';
  } else {
    const m = s.read();
    hash = m.hash;
    bytes = kerasToOnnx(m.topology, m.specs, m.weights.buffer.slice(m.weights.byteOffset, m.weights.byteOffset + m.weights.byteLength) as ArrayBuffer);
    if (file && meta) {
      writeFileAtomicSync(file, bytes);
      writeFileAtomicSync(meta, JSON.stringify({ weightsHash: hash, converter: CONVERTER_VERSION, source: s.source }));
    }
    from = 'onnx-converted';
  }
  return { bytes, hash, from };
}
