/**
 * ONNX model files without a protobuf library: reading a model's graph (its inputs, outputs,
 * nodes and initializer names, never copying the weights), writing a model from a description
 * (the converter of the bundled networks and the tests build theirs this way), and the surgery
 * that feature extraction needs: cutting the graph at an intermediate tensor, with optional
 * pooling nodes after it. Browser-safe.
 *
 * Field numbers are those of onnx/onnx.proto (IR version 3 and later). Fields we do not read are
 * copied byte for byte when a model is rewritten.
 */
import { fields, ints, text, Writer, WireError, type Field } from './onnx-proto.ts';

/** TensorProto.DataType codes and their names (as onnxruntime prints them). */
export const DATA_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};
export const FLOAT = 1;
export const INT64 = 7;

/** A tensor's element type and shape; a dimension is a size, a symbolic name, or "?" when unknown. */
export interface TensorType {
  elemType: number;
  shape?: Array<number | string>;
}

/** A named value of the graph (an input, an output, or an intermediate tensor with a known type). */
export interface ValueInfo {
  name: string;
  type?: TensorType;
}

/** A node of the graph; `raw` is its encoded NodeProto, copied as is when the graph is rewritten. */
export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** True when an attribute holds a sub-graph (If, Loop, Scan), which may read outer tensors. */
  hasSubgraph: boolean;
  raw: Uint8Array;
}

/** An initializer (a weight): its shape and type, not its data. */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  dataType: number;
  /** Stored in a separate file (TensorProto.data_location = EXTERNAL). */
  external: boolean;
  raw: Uint8Array;
}

/** What {@link readOnnx} returns. */
export interface OnnxModel {
  irVersion: number;
  producer: string;
  opsets: Array<{ domain: string; version: number }>;
  nodes: OnnxNode[];
  /** Every graph input, initializers listed as inputs included (older exporters do that). */
  inputs: ValueInfo[];
  /** The graph inputs that are not initializers: what a run must feed. */
  feeds: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  initializers: Map<string, OnnxInitializer>;
  /** The model's `metadata_props` (ModelProto field 14), key → value; a key given twice keeps its last value. */
  metadata: Map<string, string>;
  /** The encoded ModelProto read. */
  bytes: Uint8Array;
}

/** Thrown for bytes that are not an ONNX model; the message names the file. */
export class NotOnnxError extends RangeError {}

function readTensorType(b: Uint8Array): TensorType | undefined {
  for (const f of fields(b)) {
    if (f.no !== 1 || f.wire !== 2) continue; // tensor_type; sequences, maps… are not tensors
    let elemType = 0;
    let shape: TensorType['shape'];
    for (const g of fields(f.bytes)) {
      if (g.no === 1) elemType = g.value;
      else if (g.no === 2) {
        shape = [];
        for (const d of fields(g.bytes)) {
          if (d.no !== 1) continue;
          let dim: number | string = '?';
          for (const e of fields(d.bytes)) dim = e.no === 1 ? e.value : e.no === 2 ? text(e) : dim;
          shape.push(dim);
        }
      }
    }
    return { elemType, shape };
  }
  return undefined;
}

function readValueInfo(b: Uint8Array): ValueInfo {
  const v: ValueInfo = { name: '' };
  for (const f of fields(b)) {
    if (f.no === 1) v.name = text(f);
    else if (f.no === 2) v.type = readTensorType(f.bytes);
  }
  return v;
}

function readNode(b: Uint8Array): OnnxNode {
  const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], hasSubgraph: false, raw: b };
  for (const f of fields(b)) {
    if (f.no === 1) n.inputs.push(text(f));
    else if (f.no === 2) n.outputs.push(text(f));
    else if (f.no === 3) n.name = text(f);
    else if (f.no === 4) n.opType = text(f);
    else if (f.no === 7) n.domain = text(f);
    else if (f.no === 5) {
      for (const a of fields(f.bytes)) if (a.no === 6 || a.no === 11) n.hasSubgraph = true;
    }
  }
  return n;
}

function readInitializer(b: Uint8Array): OnnxInitializer {
  const t: OnnxInitializer = { name: '', dims: [], dataType: 0, external: false, raw: b };
  for (const f of fields(b)) {
    if (f.no === 1) t.dims.push(...ints(f));
    else if (f.no === 2) t.dataType = f.value;
    else if (f.no === 8) t.name = text(f);
    else if (f.no === 14) t.external = f.value === 1;
  }
  return t;
}

function readGraph(b: Uint8Array, m: OnnxModel): void {
  for (const f of fields(b)) {
    if (f.no === 1) m.nodes.push(readNode(f.bytes));
    else if (f.no === 5) { const t = readInitializer(f.bytes); m.initializers.set(t.name, t); }
    else if (f.no === 11) m.inputs.push(readValueInfo(f.bytes));
    else if (f.no === 12) m.outputs.push(readValueInfo(f.bytes));
    else if (f.no === 13) m.valueInfo.push(readValueInfo(f.bytes));
  }
  m.feeds = m.inputs.filter((v) => !m.initializers.has(v.name));
}

/**
 * Reads the structure of an ONNX model (ModelProto): graph inputs, outputs, nodes, initializer
 * shapes. Weights are not copied.
 * @param where - the file, for messages.
 * @throws NotOnnxError naming `where` when the bytes are not protobuf, or carry no IR version or
 *   graph (a JPEG, a text file, a TF.js model.json…).
 * @example
 * const m = readOnnx(readFileSync('net.onnx'), 'net.onnx'); // m.feeds[0].type.shape → [1, 3, 224, 224]
 */
export function readOnnx(bytes: Uint8Array, where: string): OnnxModel {
  const m: OnnxModel = {
    irVersion: 0, producer: '', opsets: [], nodes: [], inputs: [], feeds: [], outputs: [], valueInfo: [],
    initializers: new Map(), metadata: new Map(), bytes,
  };
  let graph: Uint8Array | undefined;
  try {
    for (const f of fields(bytes)) {
      if (f.no === 1 && f.wire === 0) m.irVersion = f.value;
      else if (f.no === 2 && f.wire === 2) m.producer = text(f);
      else if (f.no === 7 && f.wire === 2) graph = f.bytes;
      else if (f.no === 8 && f.wire === 2) {
        const o = { domain: '', version: 0 };
        for (const g of fields(f.bytes)) { if (g.no === 1) o.domain = text(g); else if (g.no === 2) o.version = g.value; }
        m.opsets.push(o);
      } else if (f.no === 14 && f.wire === 2) {
        // StringStringEntryProto: key = 1, value = 2.
        let key = '', value = '';
        for (const g of fields(f.bytes)) { if (g.no === 1) key = text(g); else if (g.no === 2) value = text(g); }
        m.metadata.set(key, value);
      }
    }
    if (m.irVersion < 1 || !graph) throw new WireError(m.irVersion < 1 ? 'no IR version' : 'no graph');
    readGraph(graph, m);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    throw new NotOnnxError(`${where}: not an ONNX model (${e.message}); expected a .onnx file as written by torch.onnx.export, tf2onnx or onnx.save`);
  }
  if (m.nodes.length === 0) throw new NotOnnxError(`${where}: not an ONNX model (its graph has no nodes)`);
  return m;
}

/** "1×3×224×224", with symbolic dimensions by name. */
export function shapeText(shape: ReadonlyArray<number | string> | undefined): string {
  return shape ? (shape.length === 0 ? 'scalar' : shape.join('×')) : 'unknown shape';
}

/** "float32 [1×3×224×224]" */
export function typeText(t: TensorType | undefined): string {
  return t ? `${DATA_TYPES[t.elemType] ?? `type ${t.elemType}`} ${shapeText(t.shape)}` : 'untyped';
}

// ---------------------------------------------------------------------------------------------
// Writing

/** An attribute value: `{i}` int, `{f}` float, `{s}` string, `{ints}`, `{floats}`, `{t}` tensor. */
export type AttrValue = { i: number } | { f: number } | { s: string } | { ints: number[] } | { floats: number[] } | { t: TensorSpec };

/** A node to write. */
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, AttrValue>;
}

/** A tensor to write (an initializer or an attribute). */
export interface TensorSpec {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array;
}

/** A graph input or output to write; `elemType` defaults to float32, no shape when omitted. */
export interface ValueInfoSpec {
  name: string;
  elemType?: number;
  shape?: Array<number | string>;
}

/** A whole model to write. */
export interface ModelSpec {
  nodes: NodeSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
  initializers: TensorSpec[];
  /** Default opset 13 of the default domain. */
  opset?: number;
  producer?: string;
  graphName?: string;
  docString?: string;
  /** `metadata_props`: key → value. */
  metadata?: Record<string, string>;
}

function dataTypeOf(t: TensorSpec): number {
  return t.data instanceof Float32Array ? FLOAT : t.data instanceof BigInt64Array ? INT64 : 6;
}

function writeTensor(w: Writer, t: TensorSpec): void {
  w.packedInts(1, t.dims).varint(2, dataTypeOf(t)).string(8, t.name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data, little-endian
}

function writeAttr(w: Writer, name: string, v: AttrValue): void {
  w.string(1, name);
  if ('f' in v) w.float(2, v.f).varint(20, 1);
  else if ('i' in v) w.varint(3, v.i).varint(20, 2);
  else if ('s' in v) w.string(4, v.s).varint(20, 3);
  else if ('t' in v) w.message(5, (x) => writeTensor(x, v.t)).varint(20, 4);
  else if ('floats' in v) w.packedFloats(7, v.floats).varint(20, 6);
  else w.packedInts(8, v.ints).varint(20, 7);
}

/** An encoded NodeProto. */
export function encodeNode(n: NodeSpec): Uint8Array {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, (x) => writeAttr(x, k, v));
  return w.finish();
}

/** An encoded ValueInfoProto. */
export function encodeValueInfo(v: ValueInfoSpec): Uint8Array {
  return new Writer().string(1, v.name).message(2, (t) => t.message(1, (tt) => {
    tt.varint(1, v.elemType ?? FLOAT);
    if (v.shape) {
      tt.message(2, (s) => {
        for (const d of v.shape!) s.message(1, (x) => (typeof d === 'number' ? x.varint(1, d) : x.string(2, d)));
      });
    }
  })).finish();
}

/** An encoded TensorProto. */
export function encodeTensor(t: TensorSpec): Uint8Array {
  const w = new Writer();
  writeTensor(w, t);
  return w.finish();
}

/**
 * Encodes a model (IR version 8, one opset of the default domain).
 * @example
 * const bytes = writeOnnx({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
 *   inputs: [{ name: 'x', shape: [1, 3, 4, 4] }], outputs: [{ name: 'y' }], initializers: [] });
 * readOnnx(bytes, 'relu.onnx').nodes[0].opType // 'Relu'
 */
export function writeOnnx(spec: ModelSpec): Uint8Array {
  const w = new Writer().varint(1, 8).string(2, spec.producer ?? 'protolens');
  if (spec.docString) w.string(6, spec.docString);
  w.message(7, (g) => {
    for (const n of spec.nodes) g.bytes(1, encodeNode(n));
    g.string(2, spec.graphName ?? 'graph');
    for (const t of spec.initializers) g.bytes(5, encodeTensor(t));
    for (const v of spec.inputs) g.bytes(11, encodeValueInfo(v));
    for (const v of spec.outputs) g.bytes(12, encodeValueInfo(v));
  });
  w.message(8, (o) => o.string(1, '').varint(2, spec.opset ?? 13));
  for (const [k, v] of Object.entries(spec.metadata ?? {})) w.message(14, (e) => e.string(1, k).string(2, v));
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Surgery

/** The names of the tensors the graph computes (node outputs), in node order. */
export function tensorNames(m: OnnxModel): string[] {
  return m.nodes.flatMap((n) => n.outputs.filter((o) => o !== ''));
}

/** The nodes needed to compute `targets`, in graph order; all of them when a needed node has a sub-graph. */
export function ancestors(m: OnnxModel, targets: readonly string[]): OnnxNode[] {
  const producer = new Map<string, number>();
  m.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const keep = new Uint8Array(m.nodes.length);
  const stack = [...targets];
  while (stack.length) {
    const i = producer.get(stack.pop()!);
    if (i === undefined || keep[i]) continue;
    keep[i] = 1;
    if (m.nodes[i].hasSubgraph) return m.nodes; // its sub-graph may read any outer tensor
    stack.push(...m.nodes[i].inputs);
  }
  return m.nodes.filter((_, i) => keep[i]);
}

/** How a rewritten graph ends. */
export interface RewriteOptions {
  /** Tensors to output (each as a float32 graph output, or untyped with `untyped`). */
  outputs: string[];
  /** Nodes appended after the kept ones (e.g. pooling of the cut tensor). */
  extraNodes?: NodeSpec[];
  /** Keep only the nodes the outputs need (default true). */
  prune?: boolean;
  /** Declare the outputs without a type, for tensors whose type is not known yet. */
  untyped?: boolean;
  /** Fix the batch dimension of the fed (image) input to this size, so shape inference knows every shape. */
  batch?: number;
}

/**
 * A copy of the model whose graph outputs are `outputs`: the graph is cut there (nodes that do
 * not lead to them dropped, with the initializers only they used), `extraNodes` appended.
 * Everything else is copied byte for byte.
 * @example
 * const cut = rewriteOnnx(m, { outputs: ['relu1'] }); // a model whose only output is relu1
 */
export function rewriteOnnx(m: OnnxModel, o: RewriteOptions): Uint8Array {
  const nodes = o.prune === false ? m.nodes : ancestors(m, o.outputs.concat((o.extraNodes ?? []).flatMap((n) => n.inputs)));
  const used = new Set(nodes.flatMap((n) => n.inputs).concat((o.extraNodes ?? []).flatMap((n) => n.inputs)));
  const w = new Writer();
  for (const f of fields(m.bytes)) {
    if (f.no !== 7) { w.raw(m.bytes.subarray(f.start, f.end)); continue; }
    w.message(7, (g) => {
      for (const n of nodes) g.bytes(1, n.raw);
      for (const n of o.extraNodes ?? []) g.bytes(1, encodeNode(n));
      for (const h of fields(f.bytes)) copyGraphField(g, h, f.bytes, used, m, o.batch);
      for (const name of o.outputs) {
        g.bytes(12, o.untyped ? new Writer().string(1, name).finish() : encodeValueInfo({ name }));
      }
    });
  }
  return w.finish();
}

/** Copies a graph field other than nodes and outputs; drops initializers no kept node reads. */
function copyGraphField(g: Writer, h: Field, graph: Uint8Array, used: Set<string>, m: OnnxModel, batch?: number): void {
  if (h.no === 1 || h.no === 12) return;
  if (h.no === 11 && batch !== undefined) {
    const v = readValueInfo(h.bytes);
    const feed = m.feeds.length === 1 && m.feeds[0].name === v.name ? v.type : undefined;
    if (feed?.shape) { g.bytes(11, encodeValueInfo({ name: v.name, elemType: feed.elemType, shape: [batch, ...feed.shape.slice(1)] })); return; }
  }
  if (h.no === 5) {
    const name = readInitializer(h.bytes).name;
    if (!used.has(name)) return;
  }
  if (h.no === 11) {
    // Initializers listed as inputs go with their initializer.
    const name = readValueInfo(h.bytes).name;
    if (m.initializers.has(name) && !used.has(name)) return;
  }
  g.raw(graph.subarray(h.start, h.end));
}
