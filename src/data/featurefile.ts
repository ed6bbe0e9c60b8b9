/**
 * The protolens feature-file format: a float32 `.npy` matrix (samples × features) plus a JSON
 * sidecar beside it (`features.npy` → `features.json`) that says what each row is and how it
 * was made. Browser-safe: the types, the sidecar's construction and its validation.
 *
 * The sidecar (format "protolens-features", version 1):
 *
 * ```json
 * { "format": "protolens-features", "version": 1, "rows": 4840, "cols": 1280, "dtype": "float32",
 *   "labels": ["Greek/character03", ...], "paths": ["Greek/character03/0396_01.png", ...],
 *   "meta": { "library": "protolens 0.1.0", "created": "2026-…", "backbone": {...},
 *             "preprocessing": {...}, "dataset": {...} } }
 * ```
 *
 * `meta` is free-form beyond the fields typed in {@link FeatureMeta}; readers must ignore keys
 * they do not know. See docs/features.md.
 */
import type { Matrix } from '../linalg/matrix.ts';
import type { Label } from '../model/types.ts';
import { DEFAULT_PREPROCESS, checkRecommendedPreprocess, type PreprocessChoice, type PreprocessMethod } from '../model/preprocess.ts';

export const FEATURES_FORMAT = 'protolens-features';
export const FEATURES_FORMAT_VERSION = 1;

/** Where a set of features came from. All fields optional: vectors brought from elsewhere have none. */
export interface FeatureMeta {
  /** "protolens X.Y.Z" that wrote the file. */
  library?: string;
  /** ISO date of writing. */
  created?: string;
  /**
   * The network and layer: name, layer, dim, weights hash, source, and `recommendedPreprocess`,
   * the feature preprocessing its card recommends ({@link recommendedPreprocess}).
   */
  backbone?: Record<string, unknown>;
  /** How images were turned into network input (size, resize, value range, colour). */
  preprocessing?: Record<string, unknown>;
  /** The images: root, kind (folder/zip/list), number per class, files left out. */
  dataset?: Record<string, unknown>;
  /** Seed of any random choice made while producing the file. */
  seed?: number;
  /** The file format the features were read from ("npy", "csv", "jsonl"). Set by readers. */
  source?: string;
  [key: string]: unknown;
}

/** A feature matrix with one label (and optionally one source path) per row. */
export interface FeatureSet {
  X: Matrix;
  /** One per row of X, or empty when the file carries no labels. */
  labels: Label[];
  /** Source of each row (image path relative to the dataset root), when known. */
  paths?: string[];
  meta: FeatureMeta;
}

/** The sidecar JSON object. */
export interface FeatureSidecar {
  format: typeof FEATURES_FORMAT;
  version: number;
  rows: number;
  cols: number;
  dtype: 'float32';
  labels: Label[];
  paths?: string[];
  meta: FeatureMeta;
}

/** The sidecar path for a feature file: `x.npy` → `x.json`. */
export function sidecarPath(npyPath: string): string {
  return npyPath.replace(/\.npy$/i, '') + '.json';
}

/**
 * Checks that labels and paths match X, and throws a RangeError naming what is off.
 * @param name - used in messages (a file path, say).
 */
export function checkFeatureSet(fs: Omit<FeatureSet, 'meta'>, name = 'features'): void {
  const { X, labels, paths } = fs;
  if (X.data.length !== X.rows * X.cols) {
    throw new RangeError(`${name}: X has ${X.data.length} values but is said to be ${X.rows}×${X.cols}`);
  }
  if (!Array.isArray(labels)) throw new TypeError(`${name}: "labels" must be a list (one label per row)`);
  if (labels.length !== 0 && labels.length !== X.rows) {
    throw new RangeError(`${name}: ${labels.length} labels for ${X.rows} rows (expected one label per row, or none)`);
  }
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (typeof l !== 'string' && !(typeof l === 'number' && Number.isFinite(l))) {
      throw new TypeError(`${name}: label ${i} is ${JSON.stringify(l)}; labels must be strings or finite numbers`);
    }
  }
  if (paths !== undefined && (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string'))) {
    throw new TypeError(`${name}: "paths" must be a list of strings, one per row`);
  }
  if (paths !== undefined && paths.length !== X.rows) {
    throw new RangeError(`${name}: ${paths.length} paths for ${X.rows} rows (expected one per row)`);
  }
}

/** Builds the sidecar object for a feature set. */
export function makeSidecar(fs: FeatureSet): FeatureSidecar {
  checkFeatureSet(fs);
  const out: FeatureSidecar = {
    format: FEATURES_FORMAT,
    version: FEATURES_FORMAT_VERSION,
    rows: fs.X.rows,
    cols: fs.X.cols,
    dtype: 'float32',
    labels: fs.labels.slice(),
    meta: fs.meta,
  };
  if (fs.paths) out.paths = fs.paths.slice();
  return out;
}

/**
 * Validates a parsed sidecar against the matrix it describes.
 * @throws RangeError when the format, version or shape disagree, naming the sidecar.
 */
export function checkSidecar(s: unknown, X: Matrix, name: string): FeatureSidecar {
  if (typeof s !== 'object' || s === null) throw new RangeError(`${name}: expected a JSON object`);
  const o = s as Partial<FeatureSidecar>;
  if (o.format !== FEATURES_FORMAT) {
    throw new RangeError(`${name}: "format" is ${JSON.stringify(o.format)}; expected "${FEATURES_FORMAT}"`);
  }
  if (!Number.isInteger(o.version) || (o.version as number) < 1 || (o.version as number) > FEATURES_FORMAT_VERSION) {
    throw new RangeError(`${name}: format version ${String(o.version)} is not supported (this protolens reads up to ${FEATURES_FORMAT_VERSION})`);
  }
  if (o.rows !== X.rows || o.cols !== X.cols) {
    throw new RangeError(`${name}: describes ${o.rows}×${o.cols} features but the .npy holds ${X.rows}×${X.cols}`);
  }
  const labels = o.labels ?? [];
  if (o.paths === null) throw new TypeError(`${name}: "paths" must be a list of strings, one per row (or absent)`);
  if (o.meta !== undefined && (typeof o.meta !== 'object' || o.meta === null || Array.isArray(o.meta))) {
    throw new TypeError(`${name}: "meta" must be an object`);
  }
  checkFeatureSet({ X, labels, paths: o.paths }, name);
  return { ...(o as FeatureSidecar), labels, meta: o.meta ?? {} };
}

/** Where the recommendation of {@link recommendedPreprocess} is read in a sidecar. */
export const RECOMMENDED_PREPROCESS_FIELD = 'meta.backbone.recommendedPreprocess';

/**
 * The feature preprocessing a feature file recommends: `meta.backbone.recommendedPreprocess`,
 * which `protolens extract` copies from the backbone's card (`none` for the embeddings protolens
 * trains, `sqrt-l2` for the bundled ImageNet networks), or undefined when the file names none.
 * @param meta The file's metadata.
 * @param file The feature file (a `.npy` is named by its sidecar `.json` in messages).
 * @throws RangeError naming the sidecar and the field when the value is not a preprocessing method.
 * @example
 * recommendedPreprocess({ backbone: { name: 'omniglot_conv4', recommendedPreprocess: 'none' } }, 'f.npy') // 'none'
 * recommendedPreprocess({ source: 'csv' }, 'f.csv') // undefined
 */
export function recommendedPreprocess(meta: FeatureMeta, file: string): PreprocessMethod | undefined {
  const b = meta.backbone;
  if (!b || typeof b !== 'object' || b.recommendedPreprocess === undefined) return undefined;
  return checkRecommendedPreprocess(b.recommendedPreprocess, /\.npy$/i.test(file) ? sidecarPath(file) : file, RECOMMENDED_PREPROCESS_FIELD);
}

/**
 * The preprocessing to use on a feature file: the one asked for, or with `auto` the file's
 * recommendation ({@link recommendedPreprocess}), else {@link DEFAULT_PREPROCESS}. An explicit
 * method wins without reading the file's.
 * @returns The method and where it came from: `given`, `features` (the file's recommendation) or
 *   `default` (the file names none).
 * @throws RangeError naming the sidecar and field, with `auto`, for a recommendation that is not a method.
 * @example
 * resolvePreprocess('auto', { backbone: { name: 'omniglot_conv4', recommendedPreprocess: 'none' } }, 'f.npy') // { method: 'none', source: 'features' }
 * resolvePreprocess('auto', {}, 'f.csv') // { method: 'sqrt-l2', source: 'default' }
 * resolvePreprocess('l2', {}, 'f.csv') // { method: 'l2', source: 'given' }
 */
export function resolvePreprocess(choice: PreprocessChoice, meta: FeatureMeta, file: string): { method: PreprocessMethod; source: 'given' | 'features' | 'default' } {
  if (choice !== 'auto') return { method: choice, source: 'given' };
  const r = recommendedPreprocess(meta, file);
  return r === undefined ? { method: DEFAULT_PREPROCESS, source: 'default' } : { method: r, source: 'features' };
}
