/**
 * What `protolens backbones` shows: the bundled backbones, and for a model (a `.onnx` file, a
 * TF.js model folder, or a bundled name) its inputs, outputs and the layers a feature can be
 * taken from, with their shapes. Today's alternative is to get a layer name wrong and read the
 * error's list.
 */
import { existsSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { isGraphModel } from './backbone.ts';
import { initTfNode } from './backend.node.ts';
import { BUILTIN_BACKBONES, BUILTIN_NAMES, BUNDLED_EMBEDDINGS, inputSizeOf, isBuiltin, isOnnxPath, modelArtifactsNode, nsfwjsModelsDir } from './load.node.ts';
import { featureCandidates, type LayerInfo } from './onnx-backbone.ts';
import type { PreprocessMethod } from '../model/preprocess.ts';

/** One bundled backbone, as listed. */
export interface BundledBackbone {
  name: string;
  network: string;
  input: string;
  layer: string;
  dim: number;
  source: string;
}

/**
 * The bundled backbones: name, network, input size, default feature layer and dimension, origin.
 * @example
 * bundledBackbones()[0] // { name: 'mobilenet_v2', network: 'MobileNetV2', input: '224×224', layer: 'flatten_1', dim: 1280, source: 'nsfwjs 4.4.0' }
 */
export function bundledBackbones(): BundledBackbone[] {
  const { version } = nsfwjsModelsDir();
  const nsfwjs = BUILTIN_NAMES.filter(isBuiltin).map((name) => {
    const s = BUILTIN_BACKBONES[name];
    return { name, network: s.title, input: `${s.size}×${s.size}`, layer: s.layer, dim: s.dim, source: `nsfwjs ${version}` };
  });
  const ours = Object.entries(BUNDLED_EMBEDDINGS).map(([name, s]) => (
    { name, network: s.title, input: `${s.size}×${s.size}`, layer: 'output', dim: s.dim, source: `protolens (models/${s.folder})` }));
  return [...nsfwjs, ...ours];
}

/** A model's description. */
export interface ModelDescription {
  model: string;
  kind: 'onnx' | 'layers' | 'graph';
  /** "producer …, opsets …" (ONNX), "TF.js layers model" … */
  about: string;
  inputs: string[];
  outputs: string[];
  /** How protolens would feed it: layout and size, or why it cannot. */
  image: string;
  /** ONNX: the feature preprocessing the model declares in its `metadata_props`, if valid. */
  recommendedPreprocess?: PreprocessMethod;
  /** ONNX: what `--preprocess auto` does with its features and why ("none declared → sqrt-l2 by default …"). */
  preprocess?: string;
  /** Every layer (TF.js) or tensor (ONNX) with its type and shape. */
  layers: LayerInfo[];
  /** The ones a feature can be taken from: float32, rank 2 to 4. */
  candidates: LayerInfo[];
}

/** A TF.js layers model's layers with their output shapes (batch dimension "N"). */
async function describeTfjs(model: string): Promise<ModelDescription> {
  const artifacts = modelArtifactsNode(model);
  const size = inputSizeOf(artifacts);
  const image = size ? `NHWC, ${size[0]}×${size[1]}` : 'size not fixed (give --input-size)';
  const shapeOf = (s: unknown): Array<number | string> | undefined =>
    Array.isArray(s) && !Array.isArray(s[0]) ? s.map((d) => (d === null ? 'N' : d)) : undefined;
  if (isGraphModel(artifacts)) {
    const nodes = (artifacts.modelTopology as { node: Array<{ name: string; op: string }> }).node;
    const layers = nodes.map((n) => ({ name: n.name, op: n.op, type: '?' }));
    return { model, kind: 'graph', about: 'TF.js graph model', inputs: [], outputs: [], image, layers, candidates: layers.filter((l) => l.op !== 'Const' && l.op !== 'Placeholder') };
  }
  await initTfNode('wasm');
  const lm = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    const layers: LayerInfo[] = lm.layers.map((l) => ({ name: l.name, op: l.getClassName(), type: 'float32', shape: shapeOf(l.outputShape) }));
    return {
      model, kind: 'layers', about: 'TF.js layers model', image, layers,
      inputs: lm.inputs.map((t) => `${t.name}: float32 ${shapeOf(t.shape)?.join('×')}`),
      outputs: lm.outputs.map((t) => `${t.name}: float32 ${shapeOf(t.shape)?.join('×')}`),
      candidates: featureCandidates(layers.filter((l) => l.op !== 'InputLayer')),
    };
  } finally {
    lm.dispose();
  }
}

/**
 * Describes a model: a `.onnx` file (its tensors with the shapes onnxruntime infers, concrete when
 * the input size is known), a TF.js model folder or a bundled backbone's name.
 * @param inputSize - the input's height and width, for models that do not fix it.
 * @throws RangeError naming the model when it is missing, not a model, or not ONNX.
 * @example
 * (await describeModel('mobilenet_v2')).candidates.at(-4) // { name: 'flatten_1', op: 'Flatten', type: 'float32', shape: ['N', 1280] }
 */
export async function describeModel(model: string, inputSize?: [number, number]): Promise<ModelDescription> {
  if (!isBuiltin(model) && isOnnxPath(model) && !(existsSync(model) && statSync(model).isDirectory())) {
    const { describeOnnxFile } = await import('./onnx.node.ts');
    const d = await describeOnnxFile(model, inputSize);
    return {
      model, kind: 'onnx', about: `ONNX (producer ${d.producer || '?'}, opsets ${d.opsets})`, inputs: d.inputs, outputs: d.outputs,
      image: d.image, recommendedPreprocess: d.recommendedPreprocess, preprocess: d.preprocess, layers: d.layers, candidates: featureCandidates(d.layers),
    };
  }
  return describeTfjs(model);
}
