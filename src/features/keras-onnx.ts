/**
 * A converter from Keras layers models in TF.js form (`model.json` topology + weights) to ONNX
 * graphs, so that onnxruntime runs the networks TF.js-wasm runs today, several times faster.
 * Browser-safe, written for the layer types of the two bundled nsfwjs networks (MobileNetV2,
 * InceptionV3) and the common ones around them; any other layer is refused by name
 * ({@link UnsupportedLayerError}), and the caller keeps TF.js.
 *
 * Layouts: Keras works channels-last (N×H×W×C), ONNX's Conv channels-first. The graph takes
 * N×3×H×W and stays channels-first; kernels are transposed once here (Conv2D's kh×kw×in×out to
 * out×in×kh×kw; DepthwiseConv2D's kh×kw×in×m to a grouped Conv's (in·m)×1×kh×kw), channel axes
 * are renumbered (Concatenate, BatchNormalization), and `Flatten` of a rank-4 map transposes back
 * to channels-last first so that its order, and every Dense after it, is Keras's.
 *
 * Each Keras layer's output is the ONNX tensor of the same name, so a layer named for TF.js
 * (`flatten_1`, `block_16_project`, …) names the same features here. Batch normalisation stays a
 * BatchNormalization node (onnxruntime folds it into the convolution); "same" padding is
 * `auto_pad = SAME_UPPER`, TF's rule (the extra pixel after); average pooling excludes padding, as
 * TF does. Quantised weights are dequantised exactly as TF.js does (`q · scale + min`, stored as
 * float32), so both runtimes see the same numbers.
 */
import { FLOAT, writeOnnx, type AttrValue, type NodeSpec, type TensorSpec } from './onnx-graph.ts';

/** Version of the conversion, part of the cached file's name: bump it when the graphs it writes change. */
export const CONVERTER_VERSION = 1;

/** A weight as TF.js's weights manifest describes it. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number };
}

/** A layer the converter does not know (or a setting of a known one it does not handle). */
export class UnsupportedLayerError extends RangeError {}

/** A decoded weight. */
interface Weight {
  shape: number[];
  data: Float32Array;
}

/**
 * The float32 weights of a TF.js weights manifest, dequantised as TF.js does (uint8 and uint16:
 * `q · scale + min` in double precision, stored as float32).
 * @throws UnsupportedLayerError for a weight type other than float32 or uint8/uint16-quantised float32.
 */
export function decodeWeights(specs: readonly WeightSpec[], data: ArrayBuffer): Map<string, Weight> {
  const out = new Map<string, Weight>();
  let offset = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const q = s.quantization;
    if (s.dtype !== 'float32') throw new UnsupportedLayerError(`weight ${s.name}: dtype ${s.dtype}; the converter reads float32 weights`);
    let values: Float32Array;
    if (!q) {
      values = new Float32Array(data.slice(offset, offset + 4 * n));
      offset += 4 * n;
    } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      const size = q.dtype === 'uint8' ? 1 : 2;
      const raw = q.dtype === 'uint8' ? new Uint8Array(data.slice(offset, offset + n)) : new Uint16Array(data.slice(offset, offset + 2 * n));
      values = new Float32Array(n);
      for (let i = 0; i < n; i++) values[i] = raw[i] * q.scale! + q.min!;
      offset += size * n;
    } else throw new UnsupportedLayerError(`weight ${s.name}: ${q.dtype} quantisation; the converter reads uint8 and uint16`);
    out.set(s.name, { shape: s.shape, data: values });
  }
  return out;
}

/** A Keras layer as the topology gives it. */
interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, any>;
  inbound: string[];
}

/** The layers of a functional or sequential model, each with the names of the layers it reads. */
function kerasLayers(topology: Record<string, any>): KerasLayer[] {
  const cfg = topology.model_config ?? topology;
  const cls = cfg.class_name;
  const raw = (Array.isArray(cfg.config) ? cfg.config : cfg.config?.layers) as Array<Record<string, any>> | undefined;
  if (!raw) throw new UnsupportedLayerError(`not a Keras layers model (class ${String(cls)})`);
  if (cls === 'Sequential') {
    const layers: KerasLayer[] = [];
    const first = raw[0]?.config ?? {};
    if (raw[0]?.class_name !== 'InputLayer') layers.push({ class_name: 'InputLayer', name: 'input', config: { batch_input_shape: first.batch_input_shape ?? first.batchInputShape }, inbound: [] });
    for (const l of raw) layers.push({ class_name: l.class_name, name: l.config.name, config: l.config, inbound: layers.length ? [layers[layers.length - 1].name] : [] });
    return layers;
  }
  return raw.map((l) => ({
    class_name: l.class_name, name: l.name ?? l.config.name, config: l.config,
    inbound: (l.inbound_nodes?.[0] ?? []).map((n: unknown[]) => String(n[0])),
  }));
}

/** Collects the ONNX nodes and initializers of a conversion. */
class Graph {
  nodes: NodeSpec[] = [];
  inits: TensorSpec[] = [];
  /** Rank of each tensor (4 for maps, 2 for vectors). */
  rank = new Map<string, number>();

  node(op: string, inputs: string[], output: string, attrs?: Record<string, AttrValue>): string {
    this.nodes.push({ op, inputs, outputs: [output], name: output, attrs });
    return output;
  }

  init(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    this.inits.push({ name, dims, data });
    return name;
  }
}

function pair(v: unknown, what: string, layer: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw new UnsupportedLayerError(`layer ${layer}: ${what} ${JSON.stringify(v)}; expected a number or two`);
}

/** Conv/pool attributes of a Keras layer: kernel, strides, dilations, padding. */
function windowAttrs(l: KerasLayer, kernel: [number, number]): Record<string, AttrValue> {
  const c = l.config;
  if (c.data_format && c.data_format !== 'channels_last') throw new UnsupportedLayerError(`layer ${l.name}: data_format ${c.data_format}; the converter reads channels_last models`);
  const strides = pair(c.strides ?? kernel, 'strides', l.name);
  const attrs: Record<string, AttrValue> = { kernel_shape: { ints: kernel }, strides: { ints: strides } };
  if (c.dilation_rate !== undefined) attrs.dilations = { ints: pair(c.dilation_rate, 'dilation_rate', l.name) };
  if (c.padding === 'same') attrs.auto_pad = { s: 'SAME_UPPER' };
  else if (c.padding !== 'valid' && c.padding !== undefined) throw new UnsupportedLayerError(`layer ${l.name}: padding ${c.padding}`);
  return attrs;
}

/** `x` through a Keras activation; the last tensor is named `out`. */
function activation(g: Graph, x: string, act: string | undefined, out: string, l: KerasLayer): string {
  const rank = g.rank.get(x) ?? 4;
  g.rank.set(out, rank);
  switch (act ?? 'linear') {
    case 'linear': return g.node('Identity', [x], out);
    case 'relu': return g.node('Relu', [x], out);
    case 'relu6': return g.node('Clip', [x, g.init(`${out}/min`, [], Float32Array.of(0)), g.init(`${out}/max`, [], Float32Array.of(6))], out);
    case 'sigmoid': return g.node('Sigmoid', [x], out);
    case 'tanh': return g.node('Tanh', [x], out);
    case 'elu': return g.node('Elu', [x], out);
    case 'softmax': return g.node('Softmax', [x], out, { axis: { i: rank === 4 ? 1 : -1 } });
    case 'swish': return g.node('Mul', [x, g.node('Sigmoid', [x], `${out}/sigmoid`)], out);
    default: throw new UnsupportedLayerError(`layer ${l.name}: activation ${act}`);
  }
}

function weight(w: Map<string, Weight>, l: KerasLayer, param: string): Weight {
  const v = w.get(`${l.name}/${param}`);
  if (!v) throw new UnsupportedLayerError(`layer ${l.name}: no weight ${l.name}/${param} in the manifest`);
  return v;
}

/** Keras kh×kw×in×out (or ×m for depthwise) as ONNX out×in×kh×kw, or (in·m)×1×kh×kw when `depthwise`. */
function convKernel(k: Weight, depthwise: boolean): { dims: number[]; data: Float32Array } {
  const [kh, kw, cin, cm] = k.shape;
  const out = new Float32Array(k.data.length);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let m = 0; m < cm; m++) {
    const src = ((i * kw + j) * cin + c) * cm + m;
    const dst = depthwise ? ((c * cm + m) * kh + i) * kw + j : ((m * cin + c) * kh + i) * kw + j;
    out[dst] = k.data[src];
  }
  return { dims: depthwise ? [cin * cm, 1, kh, kw] : [cm, cin, kh, kw], data: out };
}

function convLayer(g: Graph, w: Map<string, Weight>, l: KerasLayer, x: string, depthwise: boolean): string {
  const k = weight(w, l, depthwise ? 'depthwise_kernel' : 'kernel');
  const { dims, data } = convKernel(k, depthwise);
  const attrs = windowAttrs(l, [k.shape[0], k.shape[1]]);
  const groups = depthwise ? k.shape[2] : (l.config.groups ?? 1);
  if (groups !== 1) attrs.group = { i: groups };
  const inputs = [x, g.init(`${l.name}/W`, dims, data)];
  if (l.config.use_bias) inputs.push(g.init(`${l.name}/B`, [dims[0]], weight(w, l, 'bias').data));
  const act = l.config.activation ?? 'linear';
  const y = g.node('Conv', inputs, act === 'linear' ? l.name : `${l.name}/conv`, attrs);
  g.rank.set(y, 4);
  return act === 'linear' ? y : activation(g, y, act, l.name, l);
}

function batchNorm(g: Graph, w: Map<string, Weight>, l: KerasLayer, x: string): string {
  const c = l.config;
  const rank = g.rank.get(x) ?? 4;
  const axis = Array.isArray(c.axis) ? c.axis[0] : c.axis;
  if (!(axis === -1 || axis === rank - 1)) throw new UnsupportedLayerError(`layer ${l.name}: batch normalisation over axis ${axis}; the converter handles the channel axis`);
  const mean = weight(w, l, 'moving_mean');
  const n = mean.data.length;
  const gamma = c.scale === false ? new Float32Array(n).fill(1) : weight(w, l, 'gamma').data;
  const beta = c.center === false ? new Float32Array(n) : weight(w, l, 'beta').data;
  g.rank.set(l.name, rank);
  return g.node('BatchNormalization', [
    x, g.init(`${l.name}/gamma`, [n], gamma), g.init(`${l.name}/beta`, [n], beta),
    g.init(`${l.name}/mean`, [n], mean.data), g.init(`${l.name}/var`, [n], weight(w, l, 'moving_variance').data),
  ], l.name, { epsilon: { f: c.epsilon ?? 1e-3 } });
}

function reluLayer(g: Graph, l: KerasLayer, x: string): string {
  const { max_value: max, negative_slope: slope = 0, threshold = 0 } = l.config;
  g.rank.set(l.name, g.rank.get(x) ?? 4);
  if (threshold !== 0) throw new UnsupportedLayerError(`layer ${l.name}: ReLU with threshold ${threshold}`);
  if (slope === 0 && (max === null || max === undefined)) return g.node('Relu', [x], l.name);
  if (slope === 0) return g.node('Clip', [x, g.init(`${l.name}/min`, [], Float32Array.of(0)), g.init(`${l.name}/max`, [], Float32Array.of(max))], l.name);
  if (max === null || max === undefined) return g.node('LeakyRelu', [x], l.name, { alpha: { f: slope } });
  throw new UnsupportedLayerError(`layer ${l.name}: ReLU with both a negative slope and a maximum`);
}

function zeroPadding(g: Graph, l: KerasLayer, x: string): string {
  const p = l.config.padding;
  const [[t, b], [left, r]] = typeof p === 'number' ? [[p, p], [p, p]] : (p as unknown[]).map((v) => pair(v, 'padding', l.name));
  g.rank.set(l.name, 4);
  return g.node('Pad', [x, g.init(`${l.name}/pads`, [8], BigInt64Array.from([0, 0, t, left, 0, 0, b, r].map(BigInt)))], l.name);
}

function pooling(g: Graph, l: KerasLayer, x: string, op: 'MaxPool' | 'AveragePool'): string {
  g.rank.set(l.name, 4);
  return g.node(op, [x], l.name, windowAttrs(l, pair(l.config.pool_size, 'pool_size', l.name)));
}

function globalPooling(g: Graph, l: KerasLayer, x: string, op: 'GlobalAveragePool' | 'GlobalMaxPool'): string {
  if (l.config.keepdims) throw new UnsupportedLayerError(`layer ${l.name}: keepdims`);
  g.rank.set(l.name, 2);
  return g.node('Flatten', [g.node(op, [x], `${l.name}/pool`)], l.name, { axis: { i: 1 } });
}

function flatten(g: Graph, l: KerasLayer, x: string): string {
  g.rank.set(l.name, 2);
  if ((g.rank.get(x) ?? 4) !== 4) return g.node('Flatten', [x], l.name, { axis: { i: 1 } });
  // Keras flattens channels-last: back to N×H×W×C first.
  const nhwc = g.node('Transpose', [x], `${l.name}/nhwc`, { perm: { ints: [0, 2, 3, 1] } });
  return g.node('Flatten', [nhwc], l.name, { axis: { i: 1 } });
}

function dense(g: Graph, w: Map<string, Weight>, l: KerasLayer, x: string): string {
  if ((g.rank.get(x) ?? 4) !== 2) throw new UnsupportedLayerError(`layer ${l.name}: Dense on a rank-${g.rank.get(x)} tensor; the converter handles vectors`);
  const k = weight(w, l, 'kernel');
  const inputs = [x, g.init(`${l.name}/W`, k.shape, k.data)];
  if (l.config.use_bias) inputs.push(g.init(`${l.name}/B`, [k.shape[1]], weight(w, l, 'bias').data));
  const act = l.config.activation ?? 'linear';
  const y = g.node('Gemm', inputs, act === 'linear' ? l.name : `${l.name}/gemm`);
  g.rank.set(y, 2);
  return act === 'linear' ? y : activation(g, y, act, l.name, l);
}

function merge(g: Graph, l: KerasLayer, xs: string[]): string {
  const rank = g.rank.get(xs[0]) ?? 4;
  g.rank.set(l.name, rank);
  const ops: Record<string, string> = { Add: 'Sum', Average: 'Mean', Maximum: 'Max', Minimum: 'Min', Multiply: 'Mul' };
  if (l.class_name === 'Concatenate') {
    const a = l.config.axis ?? -1;
    // channels-last axis → channels-first axis
    const axis = rank === 4 ? ({ [-1]: 1, 3: 1, 1: 2, 2: 3 } as Record<number, number>)[a] : a;
    if (axis === undefined) throw new UnsupportedLayerError(`layer ${l.name}: Concatenate over axis ${a}`);
    return g.node('Concat', xs, l.name, { axis: { i: axis } });
  }
  if (l.class_name === 'Multiply' && xs.length > 2) throw new UnsupportedLayerError(`layer ${l.name}: Multiply of ${xs.length} inputs`);
  return g.node(ops[l.class_name], xs, l.name);
}

/** Converts one layer, whose inputs are already in the graph; returns its output tensor. Long: one case per layer type. */
function convertLayer(g: Graph, w: Map<string, Weight>, l: KerasLayer): string {
  const xs = l.inbound;
  const x = xs[0];
  const same = (): string => { g.rank.set(l.name, g.rank.get(x) ?? 4); return g.node('Identity', [x], l.name); };
  switch (l.class_name) {
    case 'Conv2D': return convLayer(g, w, l, x, false);
    case 'DepthwiseConv2D':
      if ((l.config.depth_multiplier ?? 1) < 1) throw new UnsupportedLayerError(`layer ${l.name}: depth_multiplier ${l.config.depth_multiplier}`);
      return convLayer(g, w, l, x, true);
    case 'BatchNormalization': return batchNorm(g, w, l, x);
    case 'ReLU': return reluLayer(g, l, x);
    case 'Activation': return activation(g, x, l.config.activation, l.name, l);
    case 'ZeroPadding2D': return zeroPadding(g, l, x);
    case 'MaxPooling2D': return pooling(g, l, x, 'MaxPool');
    case 'AveragePooling2D': return pooling(g, l, x, 'AveragePool');
    case 'GlobalAveragePooling2D': return globalPooling(g, l, x, 'GlobalAveragePool');
    case 'GlobalMaxPooling2D': return globalPooling(g, l, x, 'GlobalMaxPool');
    case 'Flatten': return flatten(g, l, x);
    case 'Dense': return dense(g, w, l, x);
    case 'Add': case 'Average': case 'Maximum': case 'Minimum': case 'Multiply': case 'Concatenate': return merge(g, l, xs);
    case 'Dropout': case 'SpatialDropout2D': case 'GaussianNoise': case 'GaussianDropout': case 'ActivityRegularization': return same();
    default: throw new UnsupportedLayerError(`layer ${l.name}: ${l.class_name} is not a layer type the ONNX converter handles`);
  }
}

/**
 * Converts a Keras layers model (TF.js topology and weights) into an ONNX model taking
 * N×3×H×W float32 input; every layer's output is the tensor of the layer's name, the model's
 * outputs are the graph's.
 * @param topology - the `modelTopology` of a TF.js layers model.json.
 * @throws UnsupportedLayerError naming the first layer (or weight) the converter cannot handle.
 * @example
 * const bytes = kerasToOnnx(json.modelTopology, weightSpecs, weightData);
 * readOnnx(bytes, 'm.onnx').feeds[0].type.shape // ['N', 3, 224, 224]
 */
export function kerasToOnnx(topology: unknown, specs: readonly WeightSpec[], weightData: ArrayBuffer, producer = 'protolens keras-onnx'): Uint8Array {
  const layers = kerasLayers(topology as Record<string, any>);
  const w = decodeWeights(specs, weightData);
  const g = new Graph();
  const inputs = layers.filter((l) => l.class_name === 'InputLayer');
  if (inputs.length !== 1) throw new UnsupportedLayerError(`${inputs.length} input layers; the converter handles models with one image input`);
  const shape = inputs[0].config.batch_input_shape ?? inputs[0].config.batchInputShape;
  if (!Array.isArray(shape) || shape.length !== 4 || shape[3] !== 3) throw new UnsupportedLayerError(`input ${inputs[0].name}: shape ${JSON.stringify(shape)}; expected [null, H, W, 3]`);
  g.rank.set(inputs[0].name, 4);
  const consumed = new Set<string>();
  for (const l of layers) {
    if (l.class_name === 'InputLayer') continue;
    for (const i of l.inbound) consumed.add(i);
    convertLayer(g, w, l);
  }
  const cfg = (topology as Record<string, any>).model_config ?? topology;
  const declared = cfg.config?.output_layers as Array<[string, number, number]> | undefined;
  const outputs = (declared ? declared.map((o) => o[0]) : layers.filter((l) => !consumed.has(l.name) && l.class_name !== 'InputLayer').map((l) => l.name))
    .map((name) => ({ name }));
  return writeOnnx({
    nodes: g.nodes, initializers: g.inits, outputs, producer,
    inputs: [{ name: inputs[0].name, elemType: FLOAT, shape: ['N', 3, shape[1] ?? 'height', shape[2] ?? 'width'] }],
  });
}

