/**
 * ONNX backbones in Node: a `.onnx` file read from disk and run by `onnxruntime-node`, whose CPU
 * library ships inside its npm package (nothing is downloaded; see `.npmrc`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import type { Backbone } from './backbone.ts';
import {
  graphLayers, imageInput, onnxBackbone, onnxRecommendedPreprocess, ONNX_RECOMMENDED_PREPROCESS_KEY, type LayerInfo, type OrtRuntime, type PoolMode,
} from './onnx-backbone.ts';
import { readOnnx, typeText, type OnnxModel } from './onnx-graph.ts';
import type { Preprocessing } from './pixels.ts';
import { DEFAULT_PREPROCESS, type PreprocessMethod } from '../model/preprocess.ts';

/** onnxruntime-node as the runtime protolens's ONNX code takes. */
export const nodeRuntime: OrtRuntime = ort as unknown as OrtRuntime;

/**
 * onnxruntime session options for `threads` intra-op threads: sequential execution, every graph
 * optimisation (with onnxruntime's NCHWc layout; without it the networks measured cost 1.3–2.6×
 * the CPU time), and with more than one thread, threads that sleep rather than spin while they
 * wait (spinning cost 14–41 % more CPU per image on the shared 2-core machine). No other setting
 * measured (batch size, memory pattern, denormals, a fixed batch, a saved optimised model) changed
 * the CPU time by more than the noise; parallel execution doubled it. Figures: BENCHMARKS.md,
 * "Issue 16, second pass" (bench/onnx.ts `--parts options`).
 * @example
 * sessionOptions(2) // { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } }
 */
export function sessionOptions(threads = 1): Record<string, unknown> {
  const o: Record<string, unknown> = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
  if (threads > 1) o.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return o;
}

/** Reads a model file. @throws RangeError naming it when it is missing or a folder. */
export function readOnnxFile(file: string): { path: string; bytes: Uint8Array; model: OnnxModel } {
  const path = resolve(file);
  if (!existsSync(path)) throw new RangeError(`${file}: no such file (expected an ONNX model)`);
  if (!statSync(path).isFile()) throw new RangeError(`${file}: a folder, not an ONNX model file`);
  const bytes = new Uint8Array(readFileSync(path));
  return { path, bytes, model: readOnnx(bytes, file) };
}

/** Options of {@link loadOnnxBackboneNode}. */
export interface OnnxLoadOptions {
  layer?: string;
  pool?: PoolMode;
  preset?: string;
  preprocessing?: Partial<Preprocessing>;
  /** onnxruntime intra-op threads (default 1). */
  threads?: number;
  /** Test-time shifts in input pixels (`tta.ts`). */
  tta?: number;
}

/**
 * Loads an ONNX model file as a backbone (name: the file name without `.onnx`; weights hash:
 * SHA-256 of the file).
 * @throws RangeError naming the file: missing, not ONNX, no image input, no input size, unknown layer.
 * @example
 * const bb = await loadOnnxBackboneNode('resnet18.onnx', { layer: '/layer4/layer4.1/relu_1/Relu' });
 */
export async function loadOnnxBackboneNode(file: string, o: OnnxLoadOptions = {}): Promise<Backbone> {
  const { path, bytes } = readOnnxFile(file);
  return onnxBackbone(nodeRuntime, bytes, {
    name: basename(path).replace(/\.onnx$/i, ''), where: file, layer: o.layer, pool: o.pool, tta: o.tta, preset: o.preset,
    preprocessing: o.preprocessing, weightsHash: createHash('sha256').update(bytes).digest('hex'), source: path,
    sessionOptions: sessionOptions(o.threads),
  });
}

/** What `protolens backbones FILE` shows of an ONNX model. */
export interface OnnxDescription {
  file: string;
  producer: string;
  opsets: string;
  inputs: string[];
  outputs: string[];
  /** The input's layout and size when it is an image input, else why not. */
  image: string;
  /** The feature preprocessing the model declares in its `metadata_props`, if it declares a valid one. */
  recommendedPreprocess?: PreprocessMethod;
  /** What `--preprocess auto` does with this model's features, and why (or why `extract` refuses it). */
  preprocess: string;
  layers: LayerInfo[];
}

/**
 * The line `protolens backbones` prints about the feature preprocessing a model declares under
 * {@link ONNX_RECOMMENDED_PREPROCESS_KEY}: the method, or the default when none is declared, or
 * the reason `extract` would refuse the value (the description itself does not fail on it).
 */
function declaredPreprocess(model: OnnxModel, file: string): { recommendedPreprocess?: PreprocessMethod; preprocess: string } {
  const key = `metadata_props ${ONNX_RECOMMENDED_PREPROCESS_KEY}`;
  try {
    const m = onnxRecommendedPreprocess(model, file);
    return m === undefined
      ? { preprocess: `none declared → ${DEFAULT_PREPROCESS} by default (--preprocess auto; a model declares one with ${key})` }
      : { recommendedPreprocess: m, preprocess: `${m} (declared in ${key}; --preprocess auto follows it)` };
  } catch (e) {
    return { preprocess: `invalid, extract refuses this model: ${(e as Error).message.replace(`${file}: `, '')}` };
  }
}

/**
 * Describes an ONNX model: inputs, outputs, and every tensor the graph computes with its type and
 * shape (run once on a blank image when the input size is known, so the shapes are concrete), and
 * the feature preprocessing it declares ({@link onnxRecommendedPreprocess}).
 * @throws RangeError naming the file when it is missing or not ONNX.
 * @example
 * (await describeOnnxFile('net.onnx')).preprocess // 'none declared → sqrt-l2 by default (--preprocess auto; …)'
 */
export async function describeOnnxFile(file: string, size?: [number, number]): Promise<OnnxDescription> {
  const { model } = readOnnxFile(file);
  let image: string;
  let probe: Parameters<typeof graphLayers>[2];
  try {
    const input = imageInput(model, file);
    const s = size ?? input.size;
    image = `${input.layout.toUpperCase()}, ${s ? `${s[0]}×${s[1]}` : 'size not fixed (give --input-size)'}`;
    if (s) probe = { input, size: s };
  } catch (e) {
    image = `not an image input: ${(e as Error).message.replace(`${file}: `, '')}`;
  }
  return {
    file, producer: model.producer, image, ...declaredPreprocess(model, file),
    opsets: model.opsets.map((s) => `${s.domain || 'ai.onnx'} ${s.version}`).join(', '),
    inputs: model.feeds.map((v) => `${v.name}: ${typeText(v.type)}`),
    outputs: model.outputs.map((v) => `${v.name}: ${typeText(v.type)}`),
    layers: await graphLayers(nodeRuntime, model, probe),
  };
}
