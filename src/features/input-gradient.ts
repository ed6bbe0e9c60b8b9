/**
 * A layers model as a function of its input that gradients flow through cheaply: what
 * reconstructions and adversarial readings (src/interpret) differentiate, many times per image.
 *
 * The stock TF.js layers compute, in a gradient scope, more than the input's gradient and compute
 * it slowly on the wasm backend: a convolution with a bias runs as a fused op whose custom
 * gradient also returns the weights' gradient (`Conv2DBackpropFilter`, which wasm lacks), its
 * input gradient goes through wasm's generic `Conv2DBackpropInput`, batch normalisation's
 * gradient tiles its statistics over the whole feature map, and ReLU6's compares and selects.
 * Measured on MobileNetV2 (224×224, one image, wasm, a loaded machine): 4.2 s per gradient with
 * the stock layers against 0.33 s per forward pass; with the calls below, 0.6–0.7 s
 * (BENCHMARKS.md, "Reconstructions").
 *
 * So, during {@link differentiableForward} only, the layers of those kinds answer `call` with
 * inference-mode ops whose gradient is the input's alone:
 *
 * - Conv2D: the stock convolution forward; backward dx = dy·Wᵀ for a 1×1 stride-1 filter (one
 *   matrix product with Wᵀ stored once, the fast path of wasm's matMul), the convolution of dy
 *   with W rotated by 180° and its channel axes swapped for a stride-1 'same' filter of odd size
 *   (XNNPACK's convolution), and `conv2dTranspose` otherwise (the first, stride-2 layer);
 * - BatchNormalization: y = x·a + b with a = γ/√(σ² + ε), b = β − μ·a, folded into the kernel
 *   and bias of the convolution (Conv2D or DepthwiseConv2D) before it when that convolution feeds
 *   nothing else, one affine map otherwise;
 * - ReLU (capped or not) and ReLU activations: the gradient dy·[0 < y < cap] as dy·sign(y·(cap − y))
 *   (dy·step(y) uncapped), element-wise ops where the stock gradient compares and selects.
 *
 * Every other layer keeps its own `call` (DepthwiseConv2D's input gradient comes from
 * `grad-kernels.ts`). The patches are installed and removed around each synchronous call, so
 * `predict` and `embed` never see them.
 */
import * as tf from '@tensorflow/tfjs';

type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
type CustomFunc = Parameters<typeof tf.customGrad>[0];

/** The per-layer constants of a patched call (kept for the model's lifetime). */
interface Prepared {
  call: Call;
  tensors: tf.Tensor[];
}

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor4D {
  return (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
}

function activate(y: tf.Tensor, name: string): tf.Tensor {
  switch (name) {
    case 'linear': return y;
    case 'relu': return tf.relu(y);
    case 'relu6': return tf.relu6(y);
    case 'sigmoid': return tf.sigmoid(y);
    case 'tanh': return tf.tanh(y);
    default: throw new RangeError(`unsupported activation ${name}`);
  }
}

interface ConvConfig {
  strides: [number, number];
  padding: 'same' | 'valid';
  dataFormat: string;
  dilationRate: number | [number, number];
  activation: string;
  useBias: boolean;
}

/** A batch normalisation as one affine map per channel, y ← y·a + b, or folded into the convolution before it. */
interface Affine {
  a: tf.Tensor1D;
  b: tf.Tensor1D;
}

function convConfig(layer: tf.layers.Layer): ConvConfig | undefined {
  const cfg = layer.getConfig() as unknown as ConvConfig;
  const dil = Array.isArray(cfg.dilationRate) ? cfg.dilationRate : [cfg.dilationRate, cfg.dilationRate];
  if (cfg.dataFormat !== 'channelsLast' || dil[0] !== 1 || dil[1] !== 1) return undefined;
  if (!['linear', 'relu', 'relu6', 'sigmoid', 'tanh'].includes(cfg.activation)) return undefined;
  return cfg;
}

/** A convolution's kernel and bias with a following batch normalisation folded in (new tensors are listed in `kept`). */
function foldedWeights(layer: tf.layers.Layer, cfg: ConvConfig, fold: Affine | undefined, depthwise: boolean): { kernel: tf.Tensor4D; bias: tf.Tensor1D | null; kept: tf.Tensor[] } {
  const [kernel, maybeBias] = layer.getWeights() as [tf.Tensor4D, tf.Tensor1D | undefined];
  const bias = cfg.useBias && maybeBias ? maybeBias : null;
  if (!fold) return { kernel, bias, kept: [] };
  const [, , c, m] = kernel.shape;
  const k2 = tf.tidy(() => tf.mul(kernel, tf.reshape(fold.a, depthwise ? [1, 1, c, m] : [1, 1, 1, m])) as tf.Tensor4D);
  const b2 = tf.tidy(() => (bias ? tf.add(tf.mul(bias, fold.a), fold.b) : tf.clone(fold.b)) as tf.Tensor1D);
  return { kernel: k2, bias: b2, kept: [k2, b2] };
}

/** The input-gradient-only convolution of a Conv2D layer (with a folded batch norm), or undefined when it is not one we handle. */
function prepareConv(layer: tf.layers.Layer, fold?: Affine): Prepared | undefined {
  const cfg = convConfig(layer);
  if (!cfg) return undefined;
  const { kernel, bias, kept } = foldedWeights(layer, cfg, fold, false);
  const [kh, kw, cin, cout] = kernel.shape;
  const [sh, sw] = cfg.strides;
  const stride1 = sh === 1 && sw === 1;
  let back: (dy: tf.Tensor4D, x: tf.Tensor4D) => tf.Tensor4D;
  if (kh === 1 && kw === 1 && stride1) {
    const wt = tf.tidy(() => tf.transpose(tf.reshape(kernel, [cin, cout])) as tf.Tensor2D); // Cout×Cin
    kept.push(wt);
    back = (dy, x) => tf.reshape(tf.matMul(tf.reshape(dy, [-1, cout]), wt), x.shape) as tf.Tensor4D;
  } else if (stride1 && cfg.padding === 'same' && kh % 2 === 1 && kw % 2 === 1) {
    const rot = tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D); // kh×kw×Cout×Cin
    kept.push(rot);
    back = (dy) => tf.conv2d(dy, rot, 1, 'same');
  } else {
    back = (dy, x) => tf.conv2dTranspose(dy, kernel, x.shape as [number, number, number, number], [sh, sw], cfg.padding);
  }
  const conv = tf.customGrad(((x: tf.Tensor4D, save: tf.GradSaveFunc) => {
    save([x]);
    return { value: tf.conv2d(x, kernel, [sh, sw], cfg.padding), gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => back(dy, saved[0] as tf.Tensor4D) };
  }) as unknown as CustomFunc) as unknown as (x: tf.Tensor4D) => tf.Tensor4D;
  const call: Call = (inputs) => {
    let y: tf.Tensor = conv(single(inputs));
    if (bias) y = tf.add(y, bias);
    return activate(y, cfg.activation);
  };
  return { call, tensors: kept };
}

/** A DepthwiseConv2D layer with a folded batch norm (its input gradient: grad-kernels.ts). */
function prepareDepthwise(layer: tf.layers.Layer, fold: Affine): Prepared | undefined {
  const cfg = convConfig(layer);
  if (!cfg) return undefined;
  const { kernel, bias, kept } = foldedWeights(layer, cfg, fold, true);
  const call: Call = (inputs) => {
    let y: tf.Tensor = tf.depthwiseConv2d(single(inputs), kernel, cfg.strides, cfg.padding);
    if (bias) y = tf.add(y, bias);
    return activate(y, cfg.activation);
  };
  return { call, tensors: kept };
}

/** a = γ/√(σ² + ε), b = β − μ·a of an inference-mode batch normalisation over the last axis, or undefined for another layout. */
function batchNormAffine(layer: tf.layers.Layer): Affine | undefined {
  const cfg = layer.getConfig() as { axis?: number | number[]; epsilon: number; center: boolean; scale: boolean };
  const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
  if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== 3)) return undefined;
  const w = layer.getWeights();
  let k = 0;
  const gamma = cfg.scale ? w[k++] : null;
  const beta = cfg.center ? w[k++] : null;
  const mean = w[k++], variance = w[k++];
  if (!mean || !variance) return undefined;
  const a = tf.tidy(() => (gamma ? tf.mul(gamma, tf.rsqrt(tf.add(variance, cfg.epsilon))) : tf.rsqrt(tf.add(variance, cfg.epsilon))) as tf.Tensor1D);
  const b = tf.tidy(() => tf.sub(beta ?? tf.zerosLike(mean), tf.mul(mean, a)) as tf.Tensor1D);
  return { a, b };
}

/** The convolution a batch normalisation can be folded into: its only input, a linear Conv2D or DepthwiseConv2D read by nothing else. */
function foldTarget(bn: tf.layers.Layer): tf.layers.Layer | undefined {
  const nodes = (bn as unknown as { inboundNodes: Array<{ inboundLayers: tf.layers.Layer[] }> }).inboundNodes;
  if (nodes.length !== 1 || nodes[0].inboundLayers.length !== 1) return undefined;
  const conv = nodes[0].inboundLayers[0];
  const cls = conv.getClassName();
  if (cls !== 'Conv2D' && cls !== 'DepthwiseConv2D') return undefined;
  const out = (conv as unknown as { outboundNodes: unknown[] }).outboundNodes;
  const cfg = conv.getConfig() as { activation?: string };
  return out.length === 1 && cfg.activation === 'linear' ? conv : undefined;
}

/** max(0, x), or min(max(0, x), cap), with the gradient dy·sign(y·(cap − y)) (dy·step(y) uncapped). */
function clippedRelu(cap: number | null): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = cap === null ? tf.relu(x) : tf.clipByValue(x, 0, cap);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, cap === null ? tf.step(saved[0]) : tf.sign(tf.mul(saved[0], tf.sub(cap, saved[0])))),
    };
  }) as unknown as CustomFunc) as unknown as (x: tf.Tensor) => tf.Tensor;
}

/** A ReLU layer (optionally capped, as MobileNets' ReLU6) or a ReLU activation layer. */
function prepareRelu(layer: tf.layers.Layer): Prepared | undefined {
  const cfg = layer.getConfig() as { maxValue?: number | null; activation?: string };
  let cap: number | null;
  if (layer.getClassName() === 'Activation') {
    if (cfg.activation !== 'relu' && cfg.activation !== 'relu6') return undefined;
    cap = cfg.activation === 'relu6' ? 6 : null;
  } else {
    cap = cfg.maxValue ?? null;
    if (cap !== null && !(cap > 0)) return undefined;
  }
  const f = clippedRelu(cap);
  return { call: (inputs) => f(single(inputs)), tensors: [] };
}

/** The patched calls of a model's layers (see the module comment). */
function prepareLayers(model: tf.LayersModel): Map<tf.layers.Layer, Prepared> {
  const prepared = new Map<tf.layers.Layer, Prepared>();
  const identity: Call = (inputs) => single(inputs);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const bn = batchNormAffine(layer);
    if (!bn) continue;
    const conv = foldTarget(layer);
    const p = conv && (conv.getClassName() === 'Conv2D' ? prepareConv(conv, bn) : prepareDepthwise(conv, bn));
    if (conv && p) {
      prepared.set(conv, p);
      prepared.set(layer, { call: identity, tensors: [bn.a, bn.b] });
    } else {
      prepared.set(layer, { call: (inputs) => tf.add(tf.mul(single(inputs), bn.a), bn.b), tensors: [bn.a, bn.b] });
    }
  }
  for (const layer of model.layers) {
    if (prepared.has(layer)) continue;
    const cls = layer.getClassName();
    const p = cls === 'Conv2D' ? prepareConv(layer) : cls === 'ReLU' || cls === 'Activation' ? prepareRelu(layer) : undefined;
    if (p) prepared.set(layer, p);
  }
  // Prepared on first use, maybe inside tf.grad or tf.tidy: the constants outlive that scope.
  for (const p of prepared.values()) for (const t of p.tensors) tf.keep(t);
  return prepared;
}

/** A forward pass for gradients: the patched calls of a model's layers, prepared once. */
export interface DifferentiableForward {
  /** Features of `x` (the model's input), through the patched layers. Call inside tf.tidy or tf.grad. */
  (x: tf.Tensor4D): tf.Tensor;
  /** Releases the prepared constants. */
  dispose(): void;
}

/**
 * The forward pass of `run` (a model or a model cut from it, sharing its layers) with the layers
 * of `model` answering `call` through input-gradient-only ops (see the module comment) while it
 * runs.
 * @param model - the model whose layers are patched.
 * @param run - the function to differentiate, e.g. `(x) => cut.apply(x, { training: false })`.
 * @example
 * const f = differentiableForward(lm, (x) => lm.apply(x, { training: false }) as tf.Tensor);
 * const dx = tf.grad((x) => tf.sum(f(x)))(x0); // equals the stock layers' gradient (to float rounding)
 */
export function differentiableForward(model: tf.LayersModel, run: (x: tf.Tensor4D) => tf.Tensor): DifferentiableForward {
  const prepared = prepareLayers(model);
  const f = ((x: tf.Tensor4D) => {
    for (const [layer, p] of prepared) (layer as unknown as { call: Call }).call = p.call;
    try {
      return run(x);
    } finally {
      for (const layer of prepared.keys()) delete (layer as unknown as { call?: Call }).call;
    }
  }) as DifferentiableForward;
  f.dispose = () => {
    for (const p of prepared.values()) for (const t of p.tensors) t.dispose();
    prepared.clear();
  };
  return f;
}
