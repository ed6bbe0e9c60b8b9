/**
 * Reading and writing feature files in Node: the one entry point other parts of protolens
 * (benchmarks, reports, the CLI) use to get features from disk.
 *
 * - `.npy` (+ sidecar `.json` beside it, see {@link ./featurefile.ts}): float32 or float64,
 *   2-D. Without a sidecar the labels are empty.
 * - `.csv`: header row, feature columns, optional `label` and `path` columns.
 * - `.jsonl` / `.ndjson`: one `{"x": [...], "label": ..., "path": ...}` per line.
 *
 * Writes are atomic: the `.npy` and its sidecar are each written to a temporary file and
 * renamed; the sidecar goes last, so a sidecar always describes a complete `.npy`.
 */
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { decodeNpy, encodeNpy } from './npy.ts';
import { parseCsvFeatures, parseJsonlFeatures } from './text.ts';
import { checkFeatureSet, checkSidecar, makeSidecar, sidecarPath, type FeatureSet } from './featurefile.ts';
import { writeFileAtomicSync } from './atomic.node.ts';
import { readInputFile } from './files.node.ts';
import { readShard, readShardFolder, shardFiles } from './shards.node.ts';
import { MAX_JSON_DEPTH, checkJsonDepth } from './json.ts';
import { checkOutputFile, type OutputCheck } from './outputs.node.ts';
import { VERSION } from '../version.ts';

export type { FeatureSet, FeatureMeta } from './featurefile.ts';


/**
 * Reads a feature file: `.npy` (with its sidecar `.json` when present), `.csv`, `.jsonl`, an
 * `.arrow` shard, or a folder of shards read as one feature set (src/data/shards.node.ts).
 *
 * @returns `{ X, labels, paths?, meta }`; `labels` is empty when the file has none; `meta.source`
 *   says which format was read.
 * @throws RangeError naming the file (and line/column for text files) when it is missing,
 *   malformed, or its sidecar disagrees with the matrix.
 * @example
 * const { X, labels } = readFeatures('/work/features/omniglot_small_mobilenet_v2.npy');
 * // X.rows === 4840, X.cols === 1280, labels[0] === 'Balinese/character01'
 */
export function readFeatures(path: string): FeatureSet {
  const ext = extname(path).toLowerCase();
  if (ext === '.arrow') return readShard(path);
  if (existsSync(path) && statSync(path).isDirectory() && shardFiles(path).length > 0) return readShardFolder(path);
  if (ext === '.npy') {
    const X = decodeNpy(readInputFile(path, 'feature file'), path);
    const sc = sidecarPath(path);
    if (!existsSync(sc)) return { X, labels: [], meta: { source: 'npy' } };
    const text = readInputFile(sc, 'feature sidecar').toString('utf8');
    checkJsonDepth(text, MAX_JSON_DEPTH, sc);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new RangeError(`${sc}: invalid JSON in the feature sidecar (${(e as Error).message})`);
    }
    const s = checkSidecar(parsed, X, sc);
    return { X, labels: s.labels, paths: s.paths, meta: { ...s.meta, source: 'npy' } };
  }
  if (ext === '.csv') {
    const t = parseCsvFeatures(readInputFile(path, 'feature file'), path);
    return { ...t, meta: { source: 'csv' } };
  }
  if (ext === '.jsonl' || ext === '.ndjson') {
    const t = parseJsonlFeatures(readInputFile(path, 'feature file'), path);
    return { ...t, meta: { source: 'jsonl' } };
  }
  throw new RangeError(`${path}: unknown feature file type "${ext}"; expected .npy, .csv, .jsonl, an .arrow shard or a folder of shards`);
}

/**
 * Writes features as `.npy` plus a sidecar `.json` (labels, paths, meta), both atomically.
 * `meta.library` and `meta.created` are filled in when absent.
 *
 * @param path - must end in `.npy`.
 * @param check - the inputs of the run (never replaced) and whether files protolens did not write may be replaced.
 * @throws RangeError when the path does not end in `.npy` or labels/paths do not match X;
 *   OutputRefusedError when the `.npy` or its sidecar may not be replaced (src/data/outputs.node.ts).
 * @example
 * writeFeatures('out.npy', { X, labels, meta: { backbone: { name: 'mobilenet_v2' } } });
 * // writes out.npy and out.json
 */
export function writeFeatures(path: string, fs: { X: FeatureSet['X']; labels: FeatureSet['labels']; paths?: string[]; meta?: FeatureSet['meta'] },
  check: OutputCheck = {}): void {
  if (extname(path).toLowerCase() !== '.npy') {
    throw new RangeError(`${path}: feature files are written as .npy (with a .json sidecar); give a path ending in .npy`);
  }
  checkOutputFile(path, 'features', check);
  checkFeatureSet(fs, path);
  const meta = { library: `protolens ${VERSION}`, created: new Date().toISOString(), ...(fs.meta ?? {}) };
  delete meta.source;
  const sidecar = makeSidecar({ X: fs.X, labels: fs.labels, paths: fs.paths, meta });
  writeFileAtomicSync(path, encodeNpy(fs.X));
  writeFileAtomicSync(sidecarPath(path), JSON.stringify(sidecar) + '\n');
}
