/**
 * Loading backbones in Node: the two networks bundled in the `nsfwjs` package, the embeddings
 * protolens trained and ships in `models/` (`omniglot_conv4`), and any TF.js layers or graph
 * model folder (`model.json` + weight shards) a user names. Never from the network.
 *
 * nsfwjs ships each model as browserify modules: `model.min.js` (the model.json object) and
 * `group1-shardNofM.min.js` (one base64 string each, uint8-quantised weights). Loading them the
 * way nsfwjs does takes about a minute for InceptionV3 (see BENCHMARKS.md); we read the base64
 * directly, and on first use write a plain copy (`model.json` + `weights.bin`) under the cache
 * directory, which later loads read without decoding anything.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { writeFileAtomicSync } from '../data/atomic.node.ts';
import { isGraphModel, loadBackbone, type Backbone } from './backbone.ts';
import type { PoolMode } from './onnx-backbone.ts';
import { UnsupportedLayerError, type WeightSpec } from './keras-onnx.ts';
import type { ConvertedSpec } from './converted.node.ts';
import { checkPreprocessing, nsfwjsPreprocessing, presetPreprocessing, type Preprocessing } from './preprocess.ts';
import { checkRecommendedPreprocess, type PreprocessMethod } from '../model/preprocess.ts';

/** The preprocessing a TF.js model starts from: nsfwjs's (the `tfjs` preset), or the preset asked for. */
function basePreprocessing(preset: string | undefined, h: number, w: number): Preprocessing {
  return preset === undefined ? { ...nsfwjsPreprocessing(h), width: w } : presetPreprocessing(preset, [h, w]);
}

/**
 * The bundled backbones. `recommendedPreprocess` is the feature preprocessing their features
 * measured best with (signed √ then L2: BENCHMARKS.md, "Prototype model with a learned metric"),
 * recorded by `extract` for `--preprocess auto`.
 */
export const BUILTIN_BACKBONES = {
  /** MobileNetV2 (1280-d), 224×224 input: the fast default. */
  mobilenet_v2: { folder: 'mobilenet_v2', shards: 1, size: 224, layer: 'flatten_1', dim: 1280, title: 'MobileNetV2', recommendedPreprocess: 'sqrt-l2' },
  /** InceptionV3 (2048-d), 299×299 input: the paper's network. */
  inception_v3: { folder: 'inception_v3', shards: 6, size: 299, layer: 'flatten_1', dim: 2048, title: 'InceptionV3', recommendedPreprocess: 'sqrt-l2' },
} as const;
export type BuiltinBackbone = keyof typeof BUILTIN_BACKBONES;

/**
 * Embeddings protolens trained itself, shipped in the repository (and the npm package) under
 * `models/<name>/`: a TF.js layers model (`model.json` + `weights.bin`) with its card
 * (`embedding.json`: data, recipe, command, seed). See docs/embedding.md, "The bundled
 * `omniglot_conv4`".
 */
export const BUNDLED_EMBEDDINGS = {
  /** Conv-4 trained on the 30 background alphabets of Omniglot (64-d), 28×28 input: handwritten characters. */
  omniglot_conv4: { folder: 'omniglot_conv4', size: 28, dim: 64, title: 'Conv-4 trained on Omniglot by protolens' },
  /** Two such Conv-4s (seeds 2 and 3), features concatenated (128-d): the more accurate one, at twice the cost. */
  omniglot_conv4x2: { folder: 'omniglot_conv4x2', size: 28, dim: 128, title: 'two Conv-4s trained on Omniglot by protolens (seeds 2 and 3), features concatenated' },
} as const;
export type BundledEmbedding = keyof typeof BUNDLED_EMBEDDINGS;

/** Every name `--backbone` accepts besides a folder or an ONNX file. */
export const BUILTIN_NAMES = [...Object.keys(BUILTIN_BACKBONES), ...Object.keys(BUNDLED_EMBEDDINGS)] as Array<BuiltinBackbone | BundledEmbedding>;

/**
 * The folder of a bundled embedding inside the installed protolens: `models/<name>` at the
 * package root (no network, no training).
 * @example
 * bundledEmbeddingDir('omniglot_conv4') // '/…/protolens/models/omniglot_conv4'
 */
export function bundledEmbeddingDir(name: BundledEmbedding): string {
  // src/features/ in the repository, dist/ (one file) in the package: the root holds package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'models', BUNDLED_EMBEDDINGS[name].folder);
}

/** The `format` of a trained embedding's card, `embedding.json` (src/embedding/io.node.ts writes it). */
export const EMBEDDING_FORMAT = 'protolens-embedding';

/**
 * The feature preprocessing an embedding card recommends: its `recommendedPreprocess`, or `none`
 * for a card written before the field existed (the embeddings protolens trains are trained on
 * distances between raw features, and measured best on them: BENCHMARKS.md, "Issue 15: test-time
 * shifts").
 * @param card The parsed `embedding.json`.
 * @param file The card's path, for the message.
 * @throws RangeError naming the file and the field for a value that is not a preprocessing method.
 * @example
 * cardPreprocess({ format: 'protolens-embedding', dim: 64 }, 'runs/a/embedding.json') // 'none'
 */
export function cardPreprocess(card: Record<string, unknown>, file: string): PreprocessMethod {
  return card.recommendedPreprocess === undefined ? 'none' : checkRecommendedPreprocess(card.recommendedPreprocess, file, 'recommendedPreprocess');
}

/**
 * The feature preprocessing a model folder's card recommends ({@link cardPreprocess}), or
 * undefined when the folder has no `embedding.json` of protolens's (a user's TF.js model).
 * @throws RangeError naming `embedding.json` when it is not valid JSON, or its field is not a method.
 * @example
 * embeddingCardPreprocess(bundledEmbeddingDir('omniglot_conv4')) // 'none'
 */
export function embeddingCardPreprocess(dir: string): PreprocessMethod | undefined {
  const file = join(dir, 'embedding.json');
  if (!existsSync(file)) return undefined;
  let card: unknown;
  try {
    card = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RangeError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof card !== 'object' || card === null || (card as Record<string, unknown>).format !== EMBEDDING_FORMAT) return undefined;
  return cardPreprocess(card as Record<string, unknown>, file);
}

/** True when `name` is one of the bundled embeddings ({@link BUNDLED_EMBEDDINGS}). */
export function isBundledEmbedding(name: string): name is BundledEmbedding {
  return Object.prototype.hasOwnProperty.call(BUNDLED_EMBEDDINGS, name);
}

/** What runs a backbone (see {@link LoadBackboneOptions.runtime}). */
export type Runtime = 'auto' | 'onnx' | 'tfjs';
export const RUNTIMES: readonly Runtime[] = ['auto', 'onnx', 'tfjs'];

/**
 * Checks a runtime name.
 * @throws RangeError listing the runtimes.
 * @example
 * checkRuntime('onnx') // 'onnx'
 */
export function checkRuntime(s: string): Runtime {
  if (!(RUNTIMES as readonly string[]).includes(s)) throw new RangeError(`unknown runtime "${s}"; expected one of: ${RUNTIMES.join(', ')}`);
  return s as Runtime;
}

/** Options for {@link loadBackboneNode}. */
export interface LoadBackboneOptions {
  /** Feature layer (default: `flatten_1` for the bundled ones, the model output otherwise). */
  layer?: string;
  /** How a spatial map becomes a vector: avg (default), max, none (flattened). */
  pool?: PoolMode;
  /** Preprocessing preset (`pixels.ts`; default: tfjs for TF.js models, torchvision for ONNX ones). */
  preset?: string;
  /** ONNX models: onnxruntime intra-op threads (default 1). */
  threads?: number;
  /**
   * What runs the network: `onnx` (onnxruntime; TF.js models converted to ONNX, `converted.node.ts`),
   * `tfjs` (TF.js on the started backend), or `auto` (default): onnxruntime for .onnx files and the
   * bundled networks, with TF.js as the fallback when onnxruntime or the conversion fails; TF.js for
   * TF.js folders.
   */
  runtime?: Runtime;
  /** Changes to the default preprocessing (input size, resize, value range). */
  preprocessing?: Partial<Preprocessing>;
  /** Cache directory for the converted weights; `false` to neither read nor write it. */
  cacheDir?: string | false;
  /** Test-time shifts in input pixels (`tta.ts`): the feature is the mean over the (2·tta + 1)² moves of up to tta pixels; 0 (default): none. */
  tta?: number;
}

/** A loaded backbone and how it was loaded. */
export interface LoadedBackbone {
  backbone: Backbone;
  /**
   * "bundle" (nsfwjs files or protolens's own `models/`), "cache" (their plain TF.js copy), "folder"
   * (a user's model), "onnx" (a user's .onnx file), "onnx-cache" / "onnx-converted" (a TF.js model
   * on onnxruntime, its ONNX graph read from the cache or converted now).
   */
  from: 'bundle' | 'cache' | 'folder' | 'onnx' | 'onnx-cache' | 'onnx-converted';
  /** Why the network runs on TF.js when onnxruntime was wanted (the fallback), if it does. */
  note?: string;
  /** Wall time of the load, including the warm-up pass, in ms. */
  ms: number;
}

/** The folder of nsfwjs's bundled models and its package version. */
export function nsfwjsModelsDir(): { dir: string; version: string } {
  const main = createRequire(import.meta.url).resolve('nsfwjs'); // …/nsfwjs/dist/cjs/index.js
  const pkgRoot = resolve(dirname(main), '..', '..');
  const version = (JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8')) as { version: string }).version;
  return { dir: join(pkgRoot, 'dist', 'models'), version };
}

/** SHA-256 of the topology JSON followed by the weight bytes: the `weightsHash` of a backbone. */
export function weightsHash(modelTopology: unknown, weightData: Uint8Array): string {
  return createHash('sha256').update(JSON.stringify(modelTopology)).update(weightData).digest('hex');
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function artifactsOf(json: Record<string, any>, weightData: Uint8Array): tf.io.ModelArtifacts {
  const weightSpecs = (json.weightsManifest ?? []).flatMap((g: { weights: tf.io.WeightsManifestEntry[] }) => g.weights);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
    modelInitializer: json.modelInitializer,
  };
}

/** Reads an nsfwjs bundle: the model.json object and the decoded weight bytes. */
export function readNsfwjsBundle(name: BuiltinBackbone): { json: Record<string, any>; weights: Uint8Array } {
  const spec = BUILTIN_BACKBONES[name];
  const folder = join(nsfwjsModelsDir().dir, spec.folder);
  const modelFile = join(folder, 'model.min.js');
  if (!existsSync(modelFile)) throw new Error(`${modelFile}: missing; is the nsfwjs package installed (npm install nsfwjs)?`);
  // A browserify module (the models folder is marked CommonJS) whose export is the model.json object.
  const loaded = createRequire(import.meta.url)(modelFile) as Record<string, any>;
  const json = (loaded.default ?? loaded) as Record<string, any>;
  const parts: Uint8Array[] = [];
  for (let k = 1; k <= spec.shards; k++) {
    const f = join(folder, `group1-shard${k}of${spec.shards}.min.js`);
    const s = readFileSync(f, 'latin1');
    const m = /exports\s*=\s*"([A-Za-z0-9+/=]*)"/.exec(s);
    if (!m) throw new Error(`${f}: unexpected nsfwjs shard layout (no base64 string)`);
    parts.push(new Uint8Array(Buffer.from(m[1], 'base64')));
  }
  return { json, weights: concat(parts) };
}

/** Key of the converted copy of a bundle: nsfwjs version, file names, sizes and times (cheap to compute). */
function bundleKey(name: BuiltinBackbone): string {
  const spec = BUILTIN_BACKBONES[name];
  const { dir, version } = nsfwjsModelsDir();
  const folder = join(dir, spec.folder);
  const key = createHash('sha256').update(`nsfwjs ${version} ${name}`);
  const files = [join(folder, 'model.min.js')];
  for (let k = 1; k <= spec.shards; k++) files.push(join(folder, `group1-shard${k}of${spec.shards}.min.js`));
  for (const f of files) {
    if (!existsSync(f)) throw new Error(`${f}: missing; is the nsfwjs package installed (npm install nsfwjs)?`);
    const st = statSync(f);
    key.update(`${f} ${st.size} ${st.mtimeMs}`);
  }
  return key.digest('hex');
}

/** Folder of the converted copy of a bundled backbone. */
export function convertedDir(cacheDir: string, name: BuiltinBackbone): string {
  return join(cacheDir, 'models', `${name}-${bundleKey(name).slice(0, 16)}`);
}

/**
 * Writes the plain copy (`model.json` + `weights.bin`) of a bundled backbone, weights first
 * so that a `model.json` always has complete weights beside it.
 */
function writeConverted(dir: string, json: Record<string, any>, weights: Uint8Array, hash: string, source: string): void {
  const weightsManifest = [{ paths: ['weights.bin'], weights: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights) }];
  writeFileAtomicSync(join(dir, 'weights.bin'), weights);
  writeFileAtomicSync(join(dir, 'model.json'), JSON.stringify({
    modelTopology: json.modelTopology, format: 'layers-model', weightsManifest,
    protolens: { weightsHash: hash, source },
  }));
}

/**
 * Reads a model folder's `model.json` and weight shards (concatenated in manifest order).
 * @throws RangeError naming the folder or file: no folder, no or invalid `model.json`, no
 *   `modelTopology`, a missing shard.
 * @example
 * const { json, weights } = readModelFolder('runs/conv4'); // json.modelTopology, weights.byteLength
 */
export function readModelFolder(dir: string): { json: Record<string, any>; weights: Uint8Array } {
  const mj = join(dir, 'model.json');
  if (!existsSync(dir)) throw new RangeError(`${dir}: no such model folder`);
  if (!existsSync(mj)) throw new RangeError(`${dir}: no model.json (expected a TF.js model folder: model.json plus its weight shards)`);
  let json: Record<string, any>;
  try {
    json = JSON.parse(readFileSync(mj, 'utf8'));
  } catch (e) {
    throw new RangeError(`${mj}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || json.modelTopology === undefined) {
    throw new RangeError(`${mj}: no "modelTopology"; is this a TF.js model.json?`);
  }
  const parts: Uint8Array[] = [];
  for (const g of json.weightsManifest ?? []) {
    for (const p of g.paths as string[]) {
      const f = join(dir, p);
      if (!existsSync(f)) throw new RangeError(`${f}: weight shard named in ${mj} is missing`);
      parts.push(readFileSync(f));
    }
  }
  return { json, weights: concat(parts) };
}

/** Reads a bundled embedding's `model.json` and `weights.bin`. */
function readBundledEmbedding(name: BundledEmbedding): { json: Record<string, any>; weights: Uint8Array } {
  const dir = bundledEmbeddingDir(name);
  if (!existsSync(join(dir, 'model.json'))) {
    throw new RangeError(`${dir}: the bundled ${name} weights are missing from this installation (expected model.json and weights.bin)`);
  }
  return readModelFolder(dir);
}

/** The fixed input height and width of a model, when its topology says. */
export function inputSizeOf(a: tf.io.ModelArtifacts): [number, number] | undefined {
  const topo = a.modelTopology as Record<string, any>;
  let shape: unknown;
  if (isGraphModel(a)) {
    const ph = (topo.node as Array<Record<string, any>>).find((n) => n.op === 'Placeholder');
    shape = ph?.attr?.shape?.shape?.dim?.map((d: { size?: string }) => Number(d.size ?? -1));
  } else {
    const cfg = topo.model_config ?? topo;
    const layers = cfg?.config?.layers ?? cfg?.config ?? [];
    shape = layers[0]?.config?.batch_input_shape ?? layers[0]?.config?.batchInputShape;
  }
  if (!Array.isArray(shape) || shape.length !== 4) return undefined;
  const [, h, w] = shape as Array<number | null>;
  return typeof h === 'number' && h > 0 && typeof w === 'number' && w > 0 ? [h, w] : undefined;
}

/**
 * The TF.js artifacts of a bundled backbone (read from the nsfwjs bundle) or of a model folder,
 * without loading the network: what `protolens backbones` describes.
 * @throws RangeError for an unknown name that is not a folder, and the errors of a folder's reading.
 */
export function modelArtifactsNode(given: string): tf.io.ModelArtifacts {
  const nameOrDir = backboneLocation(given);
  if (isBuiltin(nameOrDir)) { const b = readNsfwjsBundle(nameOrDir); return artifactsOf(b.json, b.weights); }
  if (isBundledEmbedding(nameOrDir)) { const b = readBundledEmbedding(nameOrDir); return artifactsOf(b.json, b.weights); }
  if (!existsSync(nameOrDir) || !statSync(nameOrDir).isDirectory()) {
    throw new RangeError(`unknown backbone "${nameOrDir}": expected one of ${BUILTIN_NAMES.join(', ')}, a TF.js model folder (model.json plus weight shards) or an ONNX file (.onnx)`);
  }
  const { json, weights } = readModelFolder(resolve(nameOrDir));
  return artifactsOf(json, weights);
}

/**
 * True for a path that names an ONNX model: ending in `.onnx`, or an existing file other than a
 * `.json` (a folder, or the `model.json` inside it, is a TF.js model).
 */
export function isOnnxPath(s: string): boolean {
  return /\.onnx$/i.test(s) || (!/\.json$/i.test(s) && existsSync(s) && statSync(s).isFile());
}

/**
 * A TF.js model is named by its folder; a path to the `model.json` inside it names that folder
 * too (users point at the file as often as at the folder). Any other name is returned as given.
 * @example
 * backboneLocation('runs/conv4/model.json') // 'runs/conv4' (when that file exists)
 */
export function backboneLocation(nameOrDir: string): string {
  return basename(nameOrDir) === 'model.json' && existsSync(nameOrDir) && statSync(nameOrDir).isFile()
    ? dirname(nameOrDir) : nameOrDir;
}

/** Where a bundled network's weights come from, in words. */
function bundledSource(name: BuiltinBackbone): string {
  const { version } = nsfwjsModelsDir();
  return `nsfwjs ${version} (${BUILTIN_BACKBONES[name].title}, ImageNet-initialised, fine-tuned for NSFW classification, uint8-quantised)`;
}

/** A bundled network on onnxruntime, converted from its TF.js form (`converted.node.ts`). */
async function loadOnRuntime(name: string, options: LoadBackboneOptions): Promise<Omit<LoadedBackbone, 'ms'>> {
  if (!isBuiltin(name)) throw new RangeError(`${name}: runtime "onnx" takes .onnx files and the bundled networks (${BUILTIN_NAMES.join(', ')}); TF.js folders run on TF.js`);
  const { loadConverted } = await import('./converted.node.ts');
  return loadConverted(convertedSpec(name, options));
}

/** What converting a bundled network takes: its TF.js bundle, the cache folder, its description. */
export function convertedSpec(name: BuiltinBackbone, options: LoadBackboneOptions): ConvertedSpec {
  const spec = BUILTIN_BACKBONES[name];
  return {
    name, layer: options.layer ?? spec.layer, pool: options.pool, tta: options.tta, threads: options.threads, source: bundledSource(name),
    recommendedPreprocess: spec.recommendedPreprocess,
    dir: options.cacheDir ? convertedDir(options.cacheDir, name) : undefined,
    preprocessing: checkPreprocessing({ ...basePreprocessing(options.preset, spec.size, spec.size), ...options.preprocessing }),
    read: () => {
      const b = readNsfwjsBundle(name);
      const specs = (b.json.weightsManifest as Array<{ weights: WeightSpec[] }>).flatMap((g) => g.weights);
      return { topology: b.json.modelTopology, specs, weights: b.weights, hash: weightsHash(b.json.modelTopology, b.weights) };
    },
  };
}

/** Failures after which `auto` falls back to TF.js: a layer the converter lacks, onnxruntime failing to load or run; not the user's input. */
function isFallbackCause(e: unknown): boolean {
  return e instanceof UnsupportedLayerError || !(e instanceof RangeError || e instanceof TypeError);
}

/** True when `nameOrDir` is one of the bundled backbone names. */
export function isBuiltin(nameOrDir: string): nameOrDir is BuiltinBackbone {
  return Object.prototype.hasOwnProperty.call(BUILTIN_BACKBONES, nameOrDir);
}

/**
 * Loads a backbone by name (`mobilenet_v2`, `inception_v3`, `omniglot_conv4`), from a TF.js model folder, or from
 * an ONNX model file (`onnx.node.ts`, run by onnxruntime). The TF.js backend must have been
 * started ({@link initTfNode}) for the TF.js ones.
 *
 * @throws RangeError for an unknown name that is not a folder, a folder without `model.json`,
 *   a missing shard, an unknown layer (listing the available ones), or a model without a
 *   fixed input size when none is given.
 * @example
 * const { backbone, ms } = await loadBackboneNode('mobilenet_v2'); // backbone.info.dim === 1280
 */
export async function loadBackboneNode(given: string, options: LoadBackboneOptions = {}): Promise<LoadedBackbone> {
  const t0 = performance.now();
  const nameOrDir = backboneLocation(given);
  const cacheDir = options.cacheDir;
  const runtime = options.runtime ?? 'auto';
  if (!isBuiltin(nameOrDir) && !isBundledEmbedding(nameOrDir) && isOnnxPath(nameOrDir)) {
    if (runtime === 'tfjs') throw new RangeError(`${nameOrDir}: an ONNX model runs on onnxruntime; runtime "tfjs" takes TF.js models`);
    const backbone = await (await import('./onnx.node.ts')).loadOnnxBackboneNode(nameOrDir, options);
    return { backbone, from: 'onnx', ms: performance.now() - t0 };
  }
  let note: string | undefined;
  if (runtime === 'onnx' || (runtime === 'auto' && isBuiltin(nameOrDir))) {
    try {
      const r = await loadOnRuntime(nameOrDir, options);
      return { ...r, ms: performance.now() - t0 };
    } catch (e) {
      if (runtime === 'onnx' || !isFallbackCause(e)) throw e;
      note = `onnxruntime not used (${(e as Error).message}); TF.js instead`;
    }
  }
  if (isBuiltin(nameOrDir)) {
    const spec = BUILTIN_BACKBONES[nameOrDir];
    const source = bundledSource(nameOrDir);
    const preprocessing = checkPreprocessing({ ...basePreprocessing(options.preset, spec.size, spec.size), ...options.preprocessing });
    let json: Record<string, any>;
    let weights: Uint8Array;
    let hash: string;
    let from: LoadedBackbone['from'] = 'bundle';
    const conv = cacheDir ? convertedDir(cacheDir, nameOrDir) : undefined;
    if (conv && existsSync(join(conv, 'model.json'))) {
      const r = readModelFolder(conv);
      json = r.json;
      weights = r.weights;
      hash = json.protolens.weightsHash;
      from = 'cache';
    } else {
      const b = readNsfwjsBundle(nameOrDir);
      json = b.json;
      weights = b.weights;
      hash = weightsHash(json.modelTopology, weights);
      if (conv) writeConverted(conv, json, weights, hash, source);
    }
    const backbone = await loadBackbone(artifactsOf(json, weights), {
      name: nameOrDir, layer: options.layer ?? spec.layer, pool: options.pool, tta: options.tta, preprocessing, weightsHash: hash, source,
      recommendedPreprocess: spec.recommendedPreprocess,
    });
    return { backbone, from, ms: performance.now() - t0, note };
  }
  if (isBundledEmbedding(nameOrDir)) {
    const spec = BUNDLED_EMBEDDINGS[nameOrDir];
    const { json, weights } = readBundledEmbedding(nameOrDir);
    const preprocessing = checkPreprocessing({ ...basePreprocessing(options.preset, spec.size, spec.size), ...options.preprocessing });
    const backbone = await loadBackbone(artifactsOf(json, weights), {
      name: nameOrDir, layer: options.layer, pool: options.pool, tta: options.tta, preprocessing, weightsHash: weightsHash(json.modelTopology, weights),
      source: `protolens ${spec.title} (models/${spec.folder}; card: docs/embedding.md)`,
      recommendedPreprocess: embeddingCardPreprocess(bundledEmbeddingDir(nameOrDir)),
    });
    return { backbone, from: 'bundle', ms: performance.now() - t0 };
  }
  const dir = resolve(nameOrDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new RangeError(`unknown backbone "${nameOrDir}": expected one of ${BUILTIN_NAMES.join(', ')}, a TF.js model folder (model.json plus weight shards) or an ONNX file (.onnx)`);
  }
  const { json, weights } = readModelFolder(dir);
  const artifacts = artifactsOf(json, weights);
  const size = inputSizeOf(artifacts);
  const h = options.preprocessing?.height ?? size?.[0];
  const w = options.preprocessing?.width ?? size?.[1];
  if (h === undefined || w === undefined) {
    throw new RangeError(`${dir}: the model does not fix its input size; give its height and width in the preprocessing`);
  }
  const preprocessing = checkPreprocessing({ ...basePreprocessing(options.preset, h, w), ...options.preprocessing, height: h, width: w });
  const backbone = await loadBackbone(artifacts, {
    name: basename(dir), layer: options.layer, pool: options.pool, tta: options.tta, preprocessing, weightsHash: weightsHash(json.modelTopology, weights), source: dir,
    recommendedPreprocess: embeddingCardPreprocess(dir),
  });
  return { backbone, from: 'folder', ms: performance.now() - t0, note };
}
