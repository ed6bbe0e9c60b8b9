/**
 * The interpretation report of a fitted prototype model on labelled features, written to disk
 * (Node): the analysis (src/interpret), thumbnails of the samples' images when they are known,
 * and the report's files (report.node.ts), all-or-nothing. What `protolens explain` and the
 * digits demo run.
 */
import { analyzeModel } from '../interpret/analyze.ts';
import type { ModelAnalysis } from '../interpret/types.ts';
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { FeatureTransform } from '../model/preprocess.ts';
import type { FeatureSet } from '../data/featurefile.ts';
import { readFeatures } from '../data/features.node.ts';
import { alignLabels, checkFeaturesForModel, readPrototypeModel } from '../data/modelfile.node.ts';
import { checkOutputFolder, type OutputCheck } from '../data/outputs.node.ts';
import { loadThumbnails, reportSampleIndices, writeReport, type WrittenReport } from './report.node.ts';
import type { ReportMeta } from './report.ts';
import { backboneForFeatures } from '../features/for-features.node.ts';
import type { Backbone } from '../features/backbone.ts';
import { Pipeline } from '../model/preprocess.ts';
import type { ReconstructOptions } from '../interpret/reconstruct.ts';
import { backgroundLevel, lensAdversarial, lensReconstructions, type LensAdversarialOptions } from './lens.node.ts';

/** Options of {@link explainToReport}. */
export interface ExplainReportOptions {
  /** Image dataset root for thumbnails: a path, `true` for the one recorded in the features' sidecar, or false/undefined for none. */
  images?: string | boolean;
  /** Nearest training samples shown per prototype (default 8). */
  nearest?: number;
  /** Also write PNG versions of the figures (default true). */
  png?: boolean;
  title?: string;
  /** The model's file, named in the report. */
  modelFile?: string;
  /** The features' file, named in the report and in messages. */
  dataFile?: string;
  /** The command that made the report, shown in it. */
  command?: string;
  notes?: string[];
  /** Feature transform in front of the model (a saved Pipeline): the analysis runs on transformed features. */
  transform?: FeatureTransform | null;
  /** Called with progress messages. */
  log?: (s: string) => void;
  /** The report's inputs (never replaced) and whether a folder protolens did not write may be replaced. */
  check?: OutputCheck;
  /** Reconstruct every prototype through the backbone that made the features (true, or the options). */
  reconstruct?: boolean | ReconstructOptions;
  /** The adversarial reading of this many samples (needs the images). */
  adversarial?: number;
  /** Options of the adversarial reading (seed: the choice of samples). */
  adversarialOptions?: LensAdversarialOptions;
  /** The backbone instead of the one the features record (a bundled name, a model folder, an .onnx file). */
  backbone?: string;
}

/** What {@link explainToReport} made. */
export interface ExplainedReport {
  analysis: ModelAnalysis;
  written: WrittenReport;
  /** Images asked for but not found. */
  missingImages: number;
}

/** The image root recorded by `protolens extract` in the features' sidecar, if any. */
export function datasetRoot(fs: FeatureSet): string | undefined {
  const d = fs.meta.dataset as { root?: unknown } | undefined;
  return typeof d?.root === 'string' ? d.root : undefined;
}

/**
 * Analyses `model` on the feature set and writes the report into `out`; with `reconstruct` or
 * `adversarial`, looks through the backbone that made the features (src/viz/lens.node.ts).
 * @throws RangeError naming the features' file when images are asked for but their root is not
 *   recorded, or the features carry no image paths (or none are given for `adversarial`);
 *   NoGradientError, before any work, for an ONNX backbone with `reconstruct` or `adversarial`;
 *   the errors of {@link analyzeModel} and {@link writeReport} (OutputRefusedError when `out`
 *   may not be replaced).
 * @example
 * const { analysis, written } = await explainToReport(model, readFeatures('f.npy'), 'protolens-out/report');
 * // written.html === '<cwd>/protolens-out/report/report.html'
 */
export async function explainToReport(model: PrototypeClassifier, fs: FeatureSet, out: string, o: ExplainReportOptions = {}): Promise<ExplainedReport> {
  const file = o.dataFile ?? 'features';
  const root = o.images ? (typeof o.images === 'string' ? o.images : datasetRoot(fs)) : undefined;
  if (o.images && !root) throw new RangeError(`${file}: the feature file does not record where its images are; give their folder as the images option`);
  if (o.images && !fs.paths) throw new RangeError(`${file}: the feature file has no image paths, so thumbnails cannot be found`);
  const labels = alignLabels(fs.labels, model);
  if (o.adversarial && !(root && fs.paths)) throw new RangeError(`${file}: the adversarial reading perturbs the samples' images; give them with the images option`);
  // Loaded first: an ONNX backbone (no gradients) or one that cannot be found is refused before any work.
  const backbone = o.reconstruct || o.adversarial ? await backboneForFeatures(fs.meta, { backbone: o.backbone, file }) : undefined;
  try {
    return await explainWith(model, fs, labels, out, o, root, backbone);
  } finally {
    backbone?.dispose();
  }
}

async function explainWith(model: PrototypeClassifier, fs: FeatureSet, labels: ReturnType<typeof alignLabels>, out: string, o: ExplainReportOptions,
  root: string | undefined, backbone: Backbone | undefined): Promise<ExplainedReport> {
  const log = o.log ?? (() => {});
  const file = o.dataFile ?? 'features';
  const t0 = performance.now();
  let analysis: ModelAnalysis;
  try {
    const X = o.transform ? o.transform.transform(fs.X) : fs.X;
    analysis = analyzeModel(model, X, labels, { nearest: o.nearest ?? 8, ...(fs.paths ? { paths: fs.paths } : {}) });
  } catch (e) {
    // values the model refuses (NaN, beyond ±1e15) are the features file's fault: name it
    if (e instanceof RangeError || e instanceof TypeError) throw new (e.constructor as typeof RangeError)(`${file}: ${e.message}`);
    throw e;
  }
  log(`analysed ${fs.X.rows} samples × ${fs.X.cols} features, ${model.W_!.rows} prototypes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  let thumbnails: Record<number, string> | undefined;
  let missingImages = 0;
  if (root && fs.paths) {
    const idx = reportSampleIndices(analysis);
    const r = await loadThumbnails(idx, fs.paths, root);
    thumbnails = r.thumbnails;
    missingImages = r.missing.length;
    log(`thumbnails: ${Object.keys(thumbnails).length} of ${idx.length} images from ${root}${r.missing.length ? ` (${r.missing.length} missing, e.g. ${r.missing[0].path}: ${r.missing[0].reason})` : ''}`);
  }
  const lens = backbone ? await lookThrough(model, fs, backbone, root, o, log) : {};
  const meta: ReportMeta = {
    title: o.title,
    modelFile: o.modelFile,
    dataFile: o.dataFile,
    backbone: fs.meta.backbone as Record<string, unknown> | undefined,
    preprocessing: o.transform ? o.transform.method : undefined,
    command: o.command,
    thumbnails,
    notes: o.notes,
    ...lens,
    calibration: model.calibration_,
  };
  const written = await writeReport(out, analysis, meta, { png: o.png !== false, check: o.check });
  return { analysis, written, missingImages };
}

/** Reconstructions and the adversarial reading, as asked, through `backbone`. */
async function lookThrough(model: PrototypeClassifier, fs: FeatureSet, backbone: Backbone, root: string | undefined, o: ExplainReportOptions,
  log: (s: string) => void): Promise<Pick<ReportMeta, 'reconstructions' | 'adversarial'>> {
  const m = o.transform ? new Pipeline(o.transform, model) : model;
  const r: Pick<ReportMeta, 'reconstructions' | 'adversarial'> = {};
  if (o.reconstruct) {
    const t0 = performance.now();
    const ro = typeof o.reconstruct === 'object' ? { ...o.reconstruct } : {};
    // From a blank image of the data (white paper, a black MNIST background) when the images are known.
    if (ro.start === undefined && root && fs.paths) ro.start = await backgroundLevel(fs, root);
    r.reconstructions = await lensReconstructions(m, backbone, ro);
    const reached = r.reconstructions.filter((x) => x.reached).length;
    log(`reconstructed ${r.reconstructions.length} prototypes through ${backbone.info.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${reached} reach q ≥ ${r.reconstructions[0]?.qTarget ?? 0.9}`);
  }
  if (o.adversarial && root) {
    r.adversarial = await lensAdversarial(m, backbone, fs, root, o.adversarial, o.adversarialOptions);
    log(`adversarial reading of ${r.adversarial.samples.length} samples in ${r.adversarial.seconds.toFixed(1)} s`);
  }
  return r;
}

/**
 * The report of a saved prototype model (alone or behind its feature transform) on a labelled
 * feature file: refuses `out` before reading anything when protolens may not write there, checks
 * the features against the model, then runs {@link explainToReport}. The model's and features'
 * files, an images root given by path and the one recorded in the features are never outputs.
 * @throws OutputRefusedError for `out`; RangeError/TypeError naming the file that is missing, is
 *   not a prototype model, or does not match the model (dimension, labels).
 * @example
 * const r = await explainModelFile('model.json', 'f.npy', 'protolens-out/report', { images: true });
 */
export async function explainModelFile(modelFile: string, featuresFile: string, out: string,
  o: Omit<ExplainReportOptions, 'modelFile' | 'dataFile' | 'transform'> = {}): Promise<ExplainedReport> {
  const check: OutputCheck = { ...o.check, inputs: [...(o.check?.inputs ?? []), modelFile, featuresFile, typeof o.images === 'string' ? o.images : null] };
  checkOutputFolder(out, 'report', check);
  const { saved, model, transform } = readPrototypeModel(modelFile);
  const fs = readFeatures(featuresFile);
  checkFeaturesForModel(fs, saved, { features: featuresFile, model: modelFile }, 'required');
  return explainToReport(model, fs, out, {
    ...o, modelFile, dataFile: featuresFile, transform,
    check: { ...check, inputs: [...check.inputs!, datasetRoot(fs) ?? null] },
  });
}
