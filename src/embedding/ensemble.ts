/**
 * Several trained embeddings as one: a TF.js layers model whose towers are the given networks,
 * side by side on the same input, with their features concatenated (the ensemble's feature is
 * `[f₁(x), f₂(x), …]`). On raw features the squared distance between two images is then the sum
 * of the towers' squared distances, so a nearest-prototype or class-mean rule on the ensemble
 * averages the towers' evidence.
 *
 * Pure: works on the `model.json` objects and weight bytes that `train-embedding` writes (no
 * TF.js, no files), so the same function serves Node and the browser. The result is an
 * ordinary functional layers model: `--backbone DIR`, pixel gradients, reconstructions and
 * test-time shifts treat it like any other network.
 */

/** One weight tensor of a layers model's manifest. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

/** The parts of a `model.json` this module reads and writes. */
export interface LayersModelJson {
  modelTopology: { class_name: string; config: unknown; [key: string]: unknown };
  weightsManifest: Array<{ paths: string[]; weights: WeightSpec[] }>;
  [key: string]: unknown;
}

/** A network given to {@link concatEmbeddings}: its `model.json` and its weight bytes (all shards, in manifest order). */
export interface EmbeddingParts {
  json: LayersModelJson;
  weights: Uint8Array;
  /** Name used in error messages (its folder). */
  label: string;
}

interface KerasLayer {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** The layers of a Sequential model, or a RangeError naming the network. */
function sequentialLayers(p: EmbeddingParts): KerasLayer[] {
  const topo = p.json.modelTopology;
  const layers = (topo?.config as { layers?: unknown })?.layers;
  if (topo?.class_name !== 'Sequential' || !Array.isArray(layers) || layers.length === 0) {
    throw new RangeError(`${p.label}: expected a Sequential layers model (as protolens train-embedding writes), found ${topo?.class_name ?? 'no topology'}`);
  }
  return layers as KerasLayer[];
}

/** Byte length of a weight, or a RangeError for a quantised or unknown dtype. */
function weightBytes(w: WeightSpec, label: string): number {
  if (w.quantization !== undefined || !(w.dtype in BYTES)) {
    throw new RangeError(`${label}: weight ${w.name} is ${w.quantization ? 'quantised' : w.dtype}; expected unquantised float32 or int32 weights`);
  }
  return BYTES[w.dtype] * w.shape.reduce((a, b) => a * b, 1);
}

/**
 * Joins trained embeddings into one layers model with their features concatenated. Layer and
 * weight names get the prefix `m<i>_` (i = the network's position); the output layer is a
 * `Concatenate` named `embedding`.
 * @param parts Two or more Sequential networks with the same input shape (as `train-embedding` writes).
 * @param name The new model's name.
 * @returns The new `model.json` object (one shard, `weights.bin`) and its weight bytes.
 * @throws RangeError naming the network when one is not a Sequential model, has quantised
 *   weights, its bytes do not match its manifest, or its input shape differs from the first's.
 * @example
 * const { json, weights } = concatEmbeddings([a, b], 'omniglot_conv4');
 * // json.modelTopology.config.output_layers → [['embedding', 0, 0]]
 */
export function concatEmbeddings(parts: readonly EmbeddingParts[], name = 'protolens_ensemble'): { json: LayersModelJson; weights: Uint8Array } {
  if (parts.length < 2) throw new RangeError(`an ensemble needs two or more networks, got ${parts.length}`);
  const inputShape = sequentialLayers(parts[0])[0].config.batch_input_shape;
  const layers: Array<Record<string, unknown>> = [{
    class_name: 'InputLayer', name: 'input', inbound_nodes: [],
    config: { batch_input_shape: inputShape, dtype: 'float32', sparse: false, name: 'input' },
  }];
  const tails: Array<[string, number, number, Record<string, never>]> = [];
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  parts.forEach((p, i) => {
    const own = sequentialLayers(p);
    const shape = own[0].config.batch_input_shape;
    if (JSON.stringify(shape) !== JSON.stringify(inputShape)) {
      throw new RangeError(`${p.label}: input shape ${JSON.stringify(shape)} differs from ${parts[0].label}'s ${JSON.stringify(inputShape)}`);
    }
    let prev = 'input';
    for (const l of own) {
      const n = `m${i}_${l.config.name}`;
      const { batch_input_shape: _drop, ...config } = l.config;
      layers.push({ class_name: l.class_name, name: n, config: { ...config, name: n }, inbound_nodes: [[[prev, 0, 0, {}]]] });
      prev = n;
    }
    tails.push([prev, 0, 0, {}]);
    let bytes = 0;
    for (const w of p.json.weightsManifest.flatMap((g) => g.weights)) {
      bytes += weightBytes(w, p.label);
      specs.push({ ...w, name: `m${i}_${w.name}` });
    }
    if (bytes !== p.weights.byteLength) throw new RangeError(`${p.label}: its manifest describes ${bytes} weight bytes, the weights hold ${p.weights.byteLength}`);
    chunks.push(p.weights);
  });
  layers.push({ class_name: 'Concatenate', name: 'embedding', config: { axis: -1, name: 'embedding', trainable: false }, inbound_nodes: [tails] });
  const weights = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) { weights.set(c, at); at += c.byteLength; }
  const first = parts[0].json;
  return {
    json: {
      format: 'layers-model', generatedBy: first.generatedBy, convertedBy: null,
      modelTopology: {
        ...first.modelTopology, class_name: 'Model',
        config: { name, layers, input_layers: [['input', 0, 0]], output_layers: [['embedding', 0, 0]] },
      },
      weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
      userDefinedMetadata: first.userDefinedMetadata,
    },
    weights,
  };
}
