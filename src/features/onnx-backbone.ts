/**
 * A backbone from an ONNX model, run by onnxruntime: `onnxruntime-node` in Node
 * (`onnx.node.ts`), `onnxruntime-web` in the browser. Browser-safe: the runtime is passed in as an
 * {@link OrtRuntime}, which both packages satisfy.
 *
 * The model's one image input is found and checked (float32, rank 4, three channels first or
 * last); the graph is cut at the feature layer (any tensor it computes, by name: nodes the layer
 * does not need are dropped); images are preprocessed in TypeScript (`pixels.ts`) straight into
 * the input's layout; the layer's output becomes one vector per image: a rank-4 map, taken as
 * N×C×H×W (ONNX's convention), is averaged (`avg`, default) or maximised (`max`) over H×W, or
 * flattened (`none`); a rank-3 N×L×D output is pooled over L the same way; rank 2 is used as it is.
 */
import type { Backbone, BackboneInfo } from './backbone.ts';
import { FLOAT, NotOnnxError, readOnnx, rewriteOnnx, tensorNames, typeText, type OnnxModel, type ValueInfo } from './onnx-graph.ts';
import { checkTtaShift, shiftArray, ttaOffsets } from './tta.ts';
import { checkPreprocessing, pixelBatch, presetPreprocessing, type Layout, type PixelImage, type Preprocessing } from './pixels.ts';
import { PREPROCESS_METHODS, type PreprocessMethod } from '../model/preprocess.ts';

export { NotOnnxError };

/**
 * The `metadata_props` key by which an ONNX model declares the feature preprocessing its features
 * want (`BackboneInfo.recommendedPreprocess`, which `extract` records and `--preprocess auto` follows).
 */
export const ONNX_RECOMMENDED_PREPROCESS_KEY = 'protolens.recommended_preprocess';

/**
 * The feature preprocessing an ONNX model declares under {@link ONNX_RECOMMENDED_PREPROCESS_KEY}
 * in its `metadata_props`, or undefined when it declares none.
 * @param m The model read by `readOnnx`.
 * @param where The file, for messages.
 * @throws RangeError naming the file, the key and the expected values when the value is not a method.
 * @example
 * onnxRecommendedPreprocess(readOnnx(bytes, 'net.onnx'), 'net.onnx') // 'none' (metadata_props: protolens.recommended_preprocess = none)
 */
export function onnxRecommendedPreprocess(m: OnnxModel, where: string): PreprocessMethod | undefined {
  const v = m.metadata.get(ONNX_RECOMMENDED_PREPROCESS_KEY);
  if (v === undefined) return undefined;
  if (!(PREPROCESS_METHODS as readonly string[]).includes(v)) {
    throw new RangeError(`${where}: metadata_props key "${ONNX_RECOMMENDED_PREPROCESS_KEY}" is ${JSON.stringify(v)}; expected one of: ${PREPROCESS_METHODS.join(', ')}`);
  }
  return v as PreprocessMethod;
}

/** An onnxruntime tensor, as much as protolens uses. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

/** Metadata of a session's output (onnxruntime ≥ 1.21). */
export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

/** An onnxruntime inference session, as much as protolens uses. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** The part of `onnxruntime-node` / `onnxruntime-web` protolens uses. */
export interface OrtRuntime {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
}

/** How a feature map becomes a vector. */
export type PoolMode = 'avg' | 'max' | 'none';
export const POOL_MODES: readonly PoolMode[] = ['avg', 'max', 'none'];

/**
 * Checks a pooling name.
 * @throws RangeError listing the choices.
 * @example
 * checkPool('max') // 'max'
 */
export function checkPool(s: string): PoolMode {
  if (!(POOL_MODES as readonly string[]).includes(s)) throw new RangeError(`unknown pooling "${s}"; expected one of: ${POOL_MODES.join(', ')}`);
  return s as PoolMode;
}

/** The model's input is not an image tensor (a text model's token ids, several inputs…). */
export class NotImageInputError extends RangeError {}

/**
 * The input size can be neither read from the model nor from the options. `subject` says what
 * was found; the message ends with the library option to set, which the CLI replaces by its flag.
 */
export class InputSizeError extends RangeError {
  constructor(readonly subject: string) {
    super(`${subject}; give the input size (preprocessing height and width)`);
    this.name = 'InputSizeError';
  }
}

/** The feature layer is not a tensor of the graph; the message lists the candidates. */
export class UnknownLayerError extends RangeError {}

/** The image input of a model: its name, layout and fixed size and batch, when the model fixes them. */
export interface ImageInput {
  name: string;
  layout: Layout;
  size?: [number, number];
  batch?: number;
}

/**
 * Finds the model's image input: one fed input (not an initializer), float32, rank 4, with 3 (or
 * 1) channels first (N×C×H×W) or last (N×H×W×C).
 * @throws NotImageInputError naming the file and describing the inputs found.
 */
export function imageInput(m: OnnxModel, where: string): ImageInput {
  const describe = (v: ValueInfo): string => `"${v.name}" (${typeText(v.type)})`;
  const expected = 'protolens feeds images: expected one float32 input shaped N×3×H×W or N×H×W×3';
  if (m.feeds.length !== 1) {
    throw new NotImageInputError(`${where}: ${m.feeds.length} inputs, ${m.feeds.map(describe).join(', ')}; ${expected}`);
  }
  const v = m.feeds[0];
  const shape = v.type?.shape;
  if (v.type?.elemType !== FLOAT || !shape || shape.length !== 4) {
    throw new NotImageInputError(`${where}: input ${describe(v)} is not an image tensor; ${expected}`);
  }
  const isC = (d: number | string): boolean => d === 3;
  const layout: Layout | undefined = isC(shape[1]) ? 'nchw' : isC(shape[3]) ? 'nhwc' : undefined;
  if (!layout) throw new NotImageInputError(`${where}: input ${describe(v)} has no dimension of 3 colour channels in position 2 or 4; ${expected}`);
  const [h, w] = layout === 'nchw' ? [shape[2], shape[3]] : [shape[1], shape[2]];
  const fixed = (d: number | string): d is number => typeof d === 'number' && d > 0;
  return {
    name: v.name, layout,
    size: fixed(h) && fixed(w) ? [h, w] : undefined,
    batch: fixed(shape[0]) ? shape[0] : undefined,
  };
}

/** The tensor a layer name stands for: a tensor's own name, or a node's (its first output). */
function layerTensor(m: OnnxModel, name: string): string {
  if (tensorNames(m).includes(name)) return name;
  return m.nodes.find((n) => n.name === name && n.outputs.length > 0)?.outputs[0] ?? name;
}

/** Options of {@link onnxBackbone}. */
export interface OnnxBackboneOptions {
  /** Backbone name recorded in feature files (the file name without `.onnx`). */
  name: string;
  /** The model's file or URL, for messages. */
  where: string;
  /** Feature layer: any tensor the graph computes, or a node (its first output); default: the first graph output. */
  layer?: string;
  /** How a spatial map becomes a vector (default avg). */
  pool?: PoolMode;
  /** Preset the preprocessing starts from (default torchvision, the convention of ONNX exports). */
  preset?: string;
  /** Changes to the preset (input size, range, mean, std, resize). */
  preprocessing?: Partial<Preprocessing>;
  weightsHash: string;
  source: string;
  /** onnxruntime session options (threads…). */
  sessionOptions?: Record<string, unknown>;
  /** Test-time shifts, in input pixels (`tta.ts`); 0 or absent: none. */
  tta?: number;
  /**
   * The feature preprocessing the backbone's card recommends (`BackboneInfo.recommendedPreprocess`;
   * the bundled networks converted to ONNX); default: the one the model declares in its
   * `metadata_props` ({@link onnxRecommendedPreprocess}), else none.
   */
  recommendedPreprocess?: BackboneInfo['recommendedPreprocess'];
}

/** The preprocessing of a model: its preset, sized by the options, else the model, else the explicit preset. */
function preprocessingFor(input: ImageInput, o: OnnxBackboneOptions): Preprocessing {
  const p = o.preprocessing ?? {};
  const size: [number, number] | undefined = p.height !== undefined && p.width !== undefined ? [p.height, p.width]
    : input.size ?? (o.preset === 'torchvision' || o.preset === 'clip' ? [224, 224] : undefined);
  if (!size) {
    const dims = input.layout === 'nchw' ? 'N×3×H×W' : 'N×H×W×3';
    throw new InputSizeError(`${o.where}: input "${input.name}" (${dims}) does not fix its height and width, so the input size cannot be inferred`);
  }
  return checkPreprocessing({ ...presetPreprocessing(o.preset ?? 'torchvision', size), ...p, height: size[0], width: size[1] });
}

/** The feature vectors of an output: pooled over the spatial (or token) axes, or flattened. */
function toVectors(out: OrtTensor, pool: PoolMode, where: string): { v: Float32Array; dim: number; pooling: BackboneInfo['pooling'] } {
  const data = out.data as Float32Array;
  const dims = out.dims;
  const n = dims[0];
  if (out.type !== 'float32') throw new RangeError(`${where}: the feature layer is ${out.type}; expected float32`);
  const rank = dims.length;
  if ((rank === 4 || rank === 3) && pool !== 'none') {
    const c = rank === 4 ? dims[1] : dims[2];
    const s = rank === 4 ? dims[2] * dims[3] : dims[1];
    const v = new Float32Array(n * c);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < c; k++) {
        // rank 4: N×C×H×W, the map of channel k is contiguous; rank 3: N×L×D, token t's vector is.
        const at = (t: number): number => (rank === 4 ? data[(i * c + k) * s + t] : data[(i * s + t) * c + k]);
        let acc = pool === 'max' ? -Infinity : 0;
        for (let t = 0; t < s; t++) acc = pool === 'max' ? Math.max(acc, at(t)) : acc + at(t);
        v[i * c + k] = pool === 'max' ? acc : acc / s;
      }
    }
    return { v, dim: c, pooling: pool === 'max' ? 'global-max' : 'global-average' };
  }
  if (rank < 2 && pool !== 'none') throw new RangeError(`${where}: the feature layer has shape ${dims.join('×')}; expected a batch of vectors or maps`);
  const dim = n === 0 ? 0 : data.length / n;
  return { v: data.slice(), dim, pooling: rank === 2 ? 'none' : 'flatten' };
}

/**
 * Builds a {@link Backbone} from the bytes of an ONNX model.
 * @throws NotOnnxError (not an ONNX file), NotImageInputError (no image input), InputSizeError
 *   (no size to give the input), UnknownLayerError (listing the candidate layers with their
 *   shapes), RangeError (a declared recommended preprocessing that is not a method), each naming the file.
 * @example
 * const bb = await onnxBackbone(ort, bytes, { name: 'resnet18', where: 'resnet18.onnx', weightsHash, source: 'resnet18.onnx' });
 * (await bb.embed([image])).length // bb.info.dim (512)
 */
export async function onnxBackbone(ort: OrtRuntime, bytes: Uint8Array, o: OnnxBackboneOptions): Promise<Backbone> {
  const m = readOnnx(bytes, o.where);
  const recommended = o.recommendedPreprocess ?? onnxRecommendedPreprocess(m, o.where);
  const input = imageInput(m, o.where);
  const prep = preprocessingFor(input, o);
  const layer = o.layer === undefined ? m.outputs[0]?.name : layerTensor(m, o.layer);
  if (!tensorNames(m).includes(layer)) throw await unknownLayer(ort, m, o, layer, prep, input);
  const session = await ort.InferenceSession.create(rewriteOnnx(m, { outputs: [layer] }), o.sessionOptions);
  const pool = o.pool ?? 'avg';
  const shift = checkTtaShift(o.tta ?? 0, `${o.where}: tta`);
  const offsets = ttaOffsets(shift);
  const feed = (x: Float32Array, n: number) => new ort.Tensor('float32', x, input.layout === 'nchw' ? [n, 3, prep.height, prep.width] : [n, prep.height, prep.width, 3]);
  const step = input.batch ?? Infinity;
  // Input arrays are reused from one batch to the next (a new one per call would cost the page faults of
  // writing fresh memory, ~0.15 ms per 224×224 image); a call made while another runs takes its own.
  const spare: Array<Float32Array<ArrayBuffer>> = [];
  const inputArray = (length: number, used: number): Float32Array<ArrayBuffer> => {
    const i = spare.findIndex((a) => a.length === length);
    const x = i < 0 ? new Float32Array(length) : spare.splice(i, 1)[0];
    return x.fill(0, used); // a fixed batch is padded with zeros
  };
  const run = async (images: readonly PixelImage[]): Promise<{ v: Float32Array; dim: number; pooling: BackboneInfo['pooling'] }> => {
    const parts = [];
    for (let s = 0; s < images.length; s += step) {
      const chunk = images.slice(s, s + step);
      const n = input.batch ?? chunk.length;
      const per = 3 * prep.height * prep.width;
      const x = inputArray(n * per, chunk.length * per);
      pixelBatch(chunk, prep, input.layout, x);
      let r: ReturnType<typeof toVectors> | undefined;
      try {
        for (const [dx, dy] of offsets) {
          const xs = dx === 0 && dy === 0 ? x : shiftArray(x, n, prep.height, prep.width, input.layout, dx, dy);
          const out = (await session.run({ [input.name]: feed(xs, n) }))[layer];
          const ri = toVectors(out, pool, `${o.where}, layer "${layer}"`);
          if (r === undefined) r = { ...ri, v: offsets.length === 1 ? ri.v : Float32Array.from(ri.v) };
          else for (let k = 0; k < r.v.length; k++) r.v[k] += ri.v[k];
        }
      } finally {
        if (spare.length < 2) spare.push(x);
      }
      if (offsets.length > 1) for (let k = 0; k < r!.v.length; k++) r!.v[k] /= offsets.length;
      parts.push({ ...r!, v: r!.v.subarray(0, chunk.length * r!.dim) });
    }
    const dim = parts[0].dim;
    const v = new Float32Array(images.length * dim);
    parts.forEach((p, i) => v.set(p.v, i * (step === Infinity ? 0 : step) * dim));
    return { v, dim, pooling: parts[0].pooling };
  };
  const blank: PixelImage = { width: prep.width, height: prep.height, channels: 1, data: new Uint8Array(prep.width * prep.height) };
  const probe = await run([blank]);
  const info: BackboneInfo = {
    name: o.name, layer, dim: probe.dim, pooling: probe.pooling, weightsHash: o.weightsHash, source: o.source, kind: 'onnx', ...(shift ? { tta: shift } : {}),
    ...(recommended ? { recommendedPreprocess: recommended } : {}),
  };
  return {
    info,
    preprocessing: prep,
    async embed(images) {
      return images.length === 0 ? new Float32Array(0) : (await run(images)).v;
    },
    dispose: () => { void session.release(); },
  };
}

/** A layer the graph computes, with its type and shape as onnxruntime infers them. */
export interface LayerInfo {
  name: string;
  op: string;
  type: string;
  shape?: ReadonlyArray<number | string>;
}

/**
 * Every tensor the graph computes, with the element type and shape onnxruntime infers (symbolic
 * dimensions by name). With `probe`, the model is run once on a blank image so that every shape
 * is concrete.
 * @example
 * (await graphLayers(ort, m)).filter((l) => l.type === 'float32') // [{ name: 'relu1', op: 'Relu', type: 'float32', shape: ['N', 8, 16, 16] }, …]
 */
export async function graphLayers(ort: OrtRuntime, m: OnnxModel, probe?: { input: ImageInput; size: [number, number] }): Promise<LayerInfo[]> {
  const names = tensorNames(m);
  const op = new Map(m.nodes.flatMap((n) => n.outputs.map((t) => [t, n.opType] as const)));
  const session = await ort.InferenceSession.create(rewriteOnnx(m, { outputs: names, untyped: true, prune: false }));
  try {
    const meta = new Map((session.outputMetadata ?? []).map((d) => [d.name, d]));
    // onnxruntime names a dimension it could not infer ""; we print "?".
    const known = (s: ReadonlyArray<number | string> | undefined) => s?.map((d) => (d === '' ? '?' : d));
    let shapes = new Map<string, ReadonlyArray<number | string> | undefined>(names.map((n) => [n, known(meta.get(n)?.shape)]));
    let types = new Map(names.map((n) => [n, meta.get(n)?.type ?? '?']));
    if (probe) {
      const [h, w] = probe.size;
      const dims = probe.input.layout === 'nchw' ? [1, 3, h, w] : [1, h, w, 3];
      const out = await session.run({ [probe.input.name]: new ort.Tensor('float32', new Float32Array(3 * h * w), dims) });
      shapes = new Map(names.map((n) => [n, out[n]?.dims ?? shapes.get(n)]));
      types = new Map(names.map((n) => [n, out[n]?.type ?? types.get(n) ?? '?']));
    }
    return names.map((name) => ({ name, op: op.get(name) ?? '?', type: types.get(name)!, shape: shapes.get(name) }));
  } finally {
    await session.release();
  }
}

/** Candidate feature layers: float32 tensors of rank 2 to 4 (a batch of vectors, tokens or maps). */
export function featureCandidates(layers: readonly LayerInfo[]): LayerInfo[] {
  return layers.filter((l) => l.type === 'float32' && (l.shape === undefined || (l.shape.length >= 2 && l.shape.length <= 4)));
}

/** The error for an unknown layer, listing the candidates with their shapes (first and last 20 of many). */
async function unknownLayer(ort: OrtRuntime, m: OnnxModel, o: OnnxBackboneOptions, layer: string, prep: Preprocessing, input: ImageInput): Promise<UnknownLayerError> {
  let listed: string[];
  try {
    listed = featureCandidates(await graphLayers(ort, m, { input, size: [prep.height, prep.width] }))
      .map((l) => `${l.name} (${l.op}, ${l.shape ? l.shape.join('×') : '?'})`);
  } catch {
    listed = tensorNames(m);
  }
  const shown = listed.length > 40 ? [...listed.slice(0, 20), '…', ...listed.slice(-20)] : listed;
  return new UnknownLayerError(`${o.where}: no layer named "${layer}". Candidate feature layers (${listed.length}): ${shown.join(', ')}`);
}
