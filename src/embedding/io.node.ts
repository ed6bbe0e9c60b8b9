/**
 * Files of a trained embedding (Node): the output folder holds
 *
 * - `model.json` + `weights.bin` — an ordinary TF.js layers model (input H×W×3 in [0, 1], output
 *   the embedding), loadable with `tf.loadLayersModel` or as `--backbone DIR` in protolens;
 * - `embedding.json` — metadata: input size, preprocessing, training data and split, options,
 *   seed, the validation curve, timings;
 * - `curve.svg` — validation accuracy against training time;
 * - `checkpoint.json` + `checkpoint-<checksum>.bin` — everything needed to resume. The data
 *   file is named by its checksum and written first, then the JSON that names it (each
 *   atomically), then older data files are removed: a run killed at any moment leaves a JSON
 *   whose data file is complete (the new pair, or the previous one). Checkpoints of the first
 *   layout (`checkpoint.bin`, named by no field) are still read.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomicSync } from '../data/atomic.node.ts';
import { Conv4, type Conv4State } from './conv4.ts';
import { curveSvg } from './curve.ts';
import { checksum, packState, unpackState } from './state.ts';
import type { CurvePoint, TrainerState } from './train.ts';
import { CheckpointError } from './checkpoint-error.ts';
import { concatEmbeddings, type EmbeddingParts, type LayersModelJson } from './ensemble.ts';
import { checkOutputFolder, writeOutputFolder, type OutputCheck } from '../data/outputs.node.ts';
import { EMBEDDING_FORMAT, cardPreprocess, readModelFolder } from '../features/load.node.ts';
import type { PreprocessMethod } from '../model/preprocess.ts';

export { CheckpointError, EMBEDDING_FORMAT };

export const CHECKPOINT_FORMAT = 'protolens-embedding-checkpoint';
export const CHECKPOINT_VERSION = 1;


/** Writes the resumable state of a run into `dir`. */
export function writeCheckpoint(dir: string, state: TrainerState): void {
  const { json, bytes } = packState(state);
  const sum = checksum(bytes);
  // Named by its content: the previous JSON keeps naming the previous data until the new JSON lands.
  const data = `checkpoint-${sum.slice(0, 16)}.bin`;
  writeFileAtomicSync(join(dir, data), bytes);
  writeFileAtomicSync(join(dir, 'checkpoint.json'), JSON.stringify({
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, data, bytes: bytes.length, checksum: sum, state: JSON.parse(json),
  }));
  for (const f of readdirSync(dir)) if (/^checkpoint(-[0-9a-z]+)?\.bin$/.test(f) && f !== data) rmSync(join(dir, f), { force: true });
}

/**
 * Reads the checkpoint of `dir`, or null when there is none.
 * @throws CheckpointError naming the file when it is not valid JSON, of another format or
 *   version, or when its data file is missing, truncated or does not match.
 */
export function readCheckpoint(dir: string): TrainerState | null {
  const jp = join(dir, 'checkpoint.json');
  if (!existsSync(jp)) return null;
  let head: { format?: unknown; version?: unknown; data?: unknown; bytes?: unknown; checksum?: unknown; state?: unknown };
  try {
    head = JSON.parse(readFileSync(jp, 'utf8'));
  } catch (e) {
    throw new CheckpointError(jp, `not valid JSON: ${(e as Error).message}`);
  }
  if (head === null || typeof head !== 'object' || head.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(jp, `expected "format": "${CHECKPOINT_FORMAT}"`);
  }
  if (head.version !== CHECKPOINT_VERSION) throw new CheckpointError(jp, `version ${String(head.version)}; this protolens reads version ${CHECKPOINT_VERSION}`);
  if (head.data !== undefined && (typeof head.data !== 'string' || !/^checkpoint-[0-9a-z]+\.bin$/.test(head.data))) {
    throw new CheckpointError(jp, `"data" must name a checkpoint-<checksum>.bin file beside it`);
  }
  const bp = join(dir, (head.data as string | undefined) ?? 'checkpoint.bin');
  if (!existsSync(bp)) throw new CheckpointError(jp, `its data file ${bp} is missing`);
  const bytes = new Uint8Array(readFileSync(bp));
  if (bytes.length !== head.bytes) throw new CheckpointError(jp, `${bp} has ${bytes.length} bytes, expected ${String(head.bytes)} (truncated or from another run)`);
  if (checksum(bytes) !== head.checksum) throw new CheckpointError(jp, `${bp} does not match its checksum (corrupt or from another run)`);
  try {
    const st = unpackState<TrainerState>(JSON.stringify(head.state), bytes);
    if (typeof st.episode !== 'number' || !st.net || !st.adam || !st.options) throw new Error('missing fields (episode, net, adam, options)');
    return st;
  } catch (e) {
    throw new CheckpointError(jp, (e as Error).message);
  }
}

/** Metadata written beside the model. */
export interface EmbeddingMetadata {
  format: typeof EMBEDDING_FORMAT;
  version: 1;
  /** Input the model takes: H×W×3, values in [0, 1], white paper = 1. */
  input: { height: number; width: number; channels: 3 };
  dim: number;
  preprocessing: {
    resize: 'bilinear'; alignCorners: true; range: [0, 1];
    note: string;
  };
  /**
   * The feature preprocessing classifiers on these features should use (`--preprocess auto`):
   * `none`, since the network is trained on distances between its raw features (and measured
   * best on them: BENCHMARKS.md, "Issue 15: test-time shifts").
   */
  recommendedPreprocess: PreprocessMethod;
  [key: string]: unknown;
}

/** The artifacts (model.json contents and weights) of a network as a layers model. */
export async function layersArtifacts(net: Conv4): Promise<tf.io.ModelArtifacts> {
  const m = net.toLayersModel();
  let artifacts: tf.io.ModelArtifacts | undefined;
  try {
    await m.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
  } finally {
    m.dispose();
  }
  return artifacts!;
}

/**
 * Writes `model.json`, `weights.bin`, `embedding.json` and `curve.svg` into `dir` (weights
 * first, each atomically), for the network state `state`.
 */
export async function saveEmbedding(dir: string, state: Conv4State, meta: Record<string, unknown>, curve: readonly CurvePoint[], title: string): Promise<void> {
  const net = Conv4.fromState(state);
  try {
    const a = await layersArtifacts(net);
    const weights = new Uint8Array(a.weightData as ArrayBuffer);
    const s = state.options.inputSize;
    const metadata: EmbeddingMetadata = {
      format: EMBEDDING_FORMAT, version: 1,
      input: { height: s, width: s, channels: 3 }, dim: net.dim,
      preprocessing: {
        resize: 'bilinear', alignCorners: true, range: [0, 1],
        note: 'grey replicated to 3 channels, values / 255, bilinear resize with aligned corners (protolens backbone pipeline); the model computes ink = 1 − mean(r, g, b) itself',
      },
      recommendedPreprocess: 'none',
      ...meta,
    };
    writeFileAtomicSync(join(dir, 'weights.bin'), weights);
    writeFileAtomicSync(join(dir, 'model.json'), JSON.stringify({
      format: 'layers-model', generatedBy: a.generatedBy, convertedBy: a.convertedBy,
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      userDefinedMetadata: { protolens: { format: EMBEDDING_FORMAT, metadata: 'embedding.json' } },
    }));
    writeFileAtomicSync(join(dir, 'embedding.json'), JSON.stringify(metadata, null, 2) + '\n');
    writeFileAtomicSync(join(dir, 'curve.svg'), curveSvg(curve, title));
  } finally {
    net.dispose();
  }
}

/**
 * Loads `dir/model.json` as a TF.js layers model (the caller disposes it).
 * @throws RangeError naming the file when it is missing or not a layers model.
 */
export async function loadEmbeddingModel(dir: string): Promise<tf.LayersModel> {
  const mj = join(dir, 'model.json');
  if (!existsSync(mj)) throw new RangeError(`${mj}: not found (expected a folder written by protolens train-embedding)`);
  const json = JSON.parse(readFileSync(mj, 'utf8'));
  const weights = readFileSync(join(dir, json.weightsManifest[0].paths[0]));
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
}

/** What {@link combineEmbeddings} wrote. */
export interface CombinedEmbedding {
  /** The output folder. */
  out: string;
  /** Feature dimension of the ensemble (the sum of the networks'). */
  dim: number;
  /** Each network's folder, dimension and seed. */
  members: Array<{ dir: string; dim: number; seed: unknown }>;
}

/** Reads a folder `train-embedding` wrote: its model and weights (`readModelFolder`) and its card. */
function readEmbeddingFolder(dir: string): EmbeddingParts & { card: Record<string, unknown>; dim: number; recommendedPreprocess: PreprocessMethod } {
  const ej = join(dir, 'embedding.json');
  const { json, weights } = readModelFolder(dir);
  if (!existsSync(ej)) throw new RangeError(`${ej}: not found (expected a folder written by protolens train-embedding)`);
  let card: Record<string, unknown>;
  try {
    card = JSON.parse(readFileSync(ej, 'utf8'));
  } catch (e) {
    throw new RangeError(`${ej}: invalid JSON (${(e as Error).message})`);
  }
  if (card?.format !== EMBEDDING_FORMAT) throw new RangeError(`${ej}: expected "format": "${EMBEDDING_FORMAT}"`);
  const dim = card.dim;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) throw new RangeError(`${ej}: "dim" must be a positive integer, got ${JSON.stringify(dim)}`);
  return { json: json as LayersModelJson, weights, card, dim, label: dir, recommendedPreprocess: cardPreprocess(card, ej) };
}

/**
 * Writes the ensemble of trained embeddings `dirs` into the folder `out` (`model.json`,
 * `weights.bin`, `embedding.json`; see `ensemble.ts`): one network whose feature is the
 * concatenation of theirs. The card records every network's card (seed, data, recipe) and the
 * command. The folder is written whole and atomically, and only over a folder protolens wrote.
 * @param check The output rule's options (`--force`; the inputs are added).
 * @throws RangeError naming the folder or file for a folder that is not a trained embedding,
 *   networks with different inputs, input preprocessing or recommended feature preprocessing;
 *   OutputRefusedError for a refused `out`.
 * @example
 * combineEmbeddings(['runs/a', 'runs/b'], 'runs/ab') // { out: 'runs/ab', dim: 128, members: [...] }
 */
export function combineEmbeddings(dirs: readonly string[], out: string, check: OutputCheck = {}, command?: string): CombinedEmbedding {
  const opts = { ...check, inputs: [...dirs, ...(check.inputs ?? [])] };
  checkOutputFolder(out, 'embedding', opts);
  const parts = dirs.map(readEmbeddingFolder);
  for (const p of parts.slice(1)) {
    for (const k of ['input', 'preprocessing'] as const) {
      if (JSON.stringify(p.card[k]) !== JSON.stringify(parts[0].card[k])) {
        throw new RangeError(`${p.label}: its ${k} (${JSON.stringify(p.card[k])}) differs from ${parts[0].label}'s; an ensemble's networks must read the same input`);
      }
    }
    if (p.recommendedPreprocess !== parts[0].recommendedPreprocess) {
      throw new RangeError(`${p.label}: its card recommends the feature preprocessing ${p.recommendedPreprocess}, ${parts[0].label}'s ${parts[0].recommendedPreprocess}; an ensemble's features are read one way`);
    }
  }
  const { json, weights } = concatEmbeddings(parts, 'protolens_ensemble');
  const dim = parts.reduce((a, p) => a + p.dim, 0);
  const sameSplit = parts.every((p) => JSON.stringify((p.card.training as any)?.split) === JSON.stringify((parts[0].card.training as any)?.split));
  const card = {
    format: EMBEDDING_FORMAT, version: 1, input: parts[0].card.input, dim, preprocessing: parts[0].card.preprocessing,
    recommendedPreprocess: parts[0].recommendedPreprocess,
    ensemble: { rule: 'features of the networks concatenated, in this order', members: parts.map((p) => { const { curve: _c, ...c } = p.card; return { folder: p.label, ...c }; }) },
    seeds: parts.map((p) => p.card.seed),
    training: sameSplit ? parts[0].card.training : null,
    command: command ?? null,
    date: new Date().toISOString(),
  };
  writeOutputFolder(out, {
    'model.json': JSON.stringify(json), 'weights.bin': weights, 'embedding.json': JSON.stringify(card, null, 2) + '\n',
  }, 'embedding', opts);
  return { out, dim, members: parts.map((p) => ({ dir: p.label, dim: p.dim, seed: p.card.seed })) };
}
