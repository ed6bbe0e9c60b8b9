/**
 * The `predict` job on files (Node): a saved model on a feature file, or on images embedded the
 * way its training features were (the backbone, layer and preprocessing it recorded), with the
 * explanations of a prototype model when asked. Formatting is src/viz/predictions.ts's.
 */
import { row, type Matrix } from '../linalg/matrix.ts';
import { accuracy } from '../model/labels.ts';
import type { Classifier, Label } from '../model/types.ts';
import { PrototypeClassifier, type Explanation } from '../model/prototype.ts';
import { Pipeline } from '../model/preprocess.ts';
import { noveltyReason } from '../model/novelty.ts';
import type { FeatureSet } from '../data/featurefile.ts';
import { readFeatures } from '../data/features.node.ts';
import { openImages } from '../data/images.node.ts';
import { alignLabels, checkFeaturesForModel, readModelFile, readPrototypeModel, type InterpretableModel } from '../data/modelfile.node.ts';
import type { ExtractForModelOptions } from '../features/for-model.node.ts';
import type { PredictionResult, PredictionRow } from './predictions.ts';

/** What to predict on: a feature file, or images (one folder, `.zip` or list file, or image files). */
export type PredictInput = { features: string; images?: undefined } | { images: readonly string[]; features?: undefined };

/** Options of {@link predictFiles}. */
export interface PredictOptions {
  /** Explain each decision (prototype models only): probabilities, margin, ambiguity, matching prototypes. */
  explain?: boolean;
  /** Prototypes listed per explanation (default 3). */
  top?: number;
  /** How images are embedded: cache, threads, skipBad, progress (the backbone is the model's). */
  extract?: ExtractForModelOptions;
}

/** The model as read: the saved classifier, and the prototype model behind it when explanations are asked for. */
function readModel(path: string, explain: boolean): { saved: Classifier; proto: InterpretableModel | null } {
  const proto = explain ? readPrototypeModel(path) : null;
  return { saved: proto?.saved ?? readModelFile(path), proto };
}

/** Images embedded with the model's own backbone. @throws RangeError when the model does not record it. */
async function embedImages(modelPath: string, model: Classifier, images: readonly string[], o: ExtractForModelOptions = {}) {
  const origin = model.origin_;
  if (!origin) {
    throw new RangeError(`${modelPath}: the model does not record which backbone made its features (fitted on features from elsewhere, ` +
      'or saved before protolens recorded it), so images cannot be embedded for it; extract their features with that backbone and predict on those');
  }
  const { extractForModel, originBackbone } = await import('../features/for-model.node.ts');
  originBackbone(origin); // a backbone that cannot be found is said before the images are read
  const dataset = openImages(images, { skipBad: o.skipBad });
  const r = await extractForModel(origin, dataset, o);
  const input = {
    root: dataset.root, count: r.X.rows, backbone: origin.backbone, computed: r.stats.computed, cached: r.stats.cached,
    skipped: (r.meta.dataset?.skipped ?? []) as Array<{ path: string; reason: string }>,
  };
  return { fs: r as FeatureSet, input };
}

/**
 * Each sample's verdict under the model's rejection rule (docs/openset.md), or null when the model
 * has none (not a prototype model, or not calibrated).
 * @example
 * openSetVerdicts(model, X)?.[0] // { unknown: true, score: 3.4, reason: 'nearest prototype p12 at 3.40 spreads; threshold 2.10' }
 */
export function openSetVerdicts(model: Classifier, X: Matrix): Array<{ unknown: boolean; score: number; reason: string }> | null {
  const proto = model instanceof PrototypeClassifier ? { m: model, t: null }
    : model instanceof Pipeline && model.model instanceof PrototypeClassifier ? { m: model.model, t: model.transform } : null;
  const rule = proto?.m.rejection_;
  if (!proto || !rule) return null;
  const v = proto.m.novelty(proto.t ? proto.t.transform(X) : X, rule.score);
  return Array.from(v.score, (score, i) => {
    const one = { score, prototype: v.prototype[i], spreads: v.spreads[i], centreSpreads: v.centreSpreads[i] };
    return { unknown: score > rule.threshold, score, reason: noveltyReason(v.kind, one, rule.threshold) };
  });
}

/**
 * Predicts with a saved model (any kind `protolens fit` writes, or a baseline) on a feature file
 * or on images, checking that the input was (or is) made the way the model's features were.
 * @throws RangeError/TypeError naming the file: a missing or damaged model or input, features
 *   made by another backbone or of another dimension, a model that cannot explain (not a
 *   prototype model), images for a model that does not record its backbone; the extraction's
 *   errors for images (an unreadable image, unless `extract.skipBad`).
 * @example
 * const r = await predictFiles('model.json', { images: ['photos/'] });
 * r.rows[0] // { index: 0, path: 'cat.jpg', label: 'cat', probability: 0.93 }
 */
export async function predictFiles(modelPath: string, input: PredictInput, o: PredictOptions = {}): Promise<PredictionResult> {
  const { saved, proto } = readModel(modelPath, o.explain === true);
  let fs: FeatureSet, where: string, inputInfo: PredictionResult['input'];
  if (input.features !== undefined) {
    fs = readFeatures(input.features);
    where = input.features;
    inputInfo = { features: input.features };
  } else {
    const e = await embedImages(modelPath, saved, input.images, o.extract);
    fs = e.fs;
    where = e.input.root;
    inputInfo = { images: e.input };
  }
  const unknown = checkFeaturesForModel(fs, saved, { features: where, model: modelPath }, 'optional');
  const labels = fs.labels.length ? alignLabels(fs.labels, saved) : [];
  let predicted: Label[], P: Matrix, verdicts: ReturnType<typeof openSetVerdicts>;
  try {
    predicted = saved.predict(fs.X);
    P = saved.predictProba(fs.X);
    verdicts = openSetVerdicts(saved, fs.X);
  } catch (e) {
    // Values the model refuses (NaN, beyond ±1e15) are the input's fault: name it.
    if (e instanceof RangeError) throw new RangeError(`${where}: ${e.message}`);
    if (e instanceof TypeError) throw new TypeError(`${where}: ${e.message}`);
    throw e;
  }
  // Explanations live in the prototype model's space: transform first when the model has a transform.
  const Xp = proto?.transform ? proto.transform.transform(fs.X) : fs.X;
  const why = (i: number): Explanation => proto!.model.explain(row(Xp, i), o.top ?? 3);
  const L = saved.classes_.length;
  const rows = predicted.map((label, i): PredictionRow => {
    const r: PredictionRow = { index: i, label, probability: Math.max(...Array.from(P.data.subarray(i * L, (i + 1) * L))) };
    if (fs.paths) r.path = fs.paths[i];
    if (labels.length) r.truth = labels[i];
    if (proto) r.explanation = why(i);
    if (verdicts) { r.unknown = verdicts[i].unknown; r.novelty = verdicts[i].score; r.noveltyReason = verdicts[i].reason; }
    return r;
  });
  return {
    model: modelPath, input: inputInfo, rows,
    accuracy: labels.length && unknown.length === 0 ? accuracy(predicted, labels) : null,
    note: unknown.length ? `labels include ${unknown.length} class(es) the model does not know (e.g. ${JSON.stringify(unknown[0])}); accuracy not computed` : null,
    ...(verdicts ? { answeredUnknown: verdicts.filter((v) => v.unknown).length } : {}),
  };
}
