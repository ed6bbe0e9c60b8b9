/**
 * The backbone that made a feature file, loaded again from what its sidecar records (Node): what
 * reconstructions and adversarial readings (src/interpret) need to go back from a model's
 * features to pixels. A bundled network by its name, a TF.js model folder or an ONNX file where it
 * was when the features were extracted, cut at the same layer, pooled and preprocessed the same way.
 */
import type { FeatureMeta } from '../data/featurefile.ts';
import { featureOrigin } from '../data/origin.ts';
import type { Backbone } from './backbone.ts';
import { initTfNode } from './backend.node.ts';
import { originBackbone, POOL_OF } from './for-model.node.ts';
import { isBuiltin, isOnnxPath, loadBackboneNode } from './load.node.ts';
import { NoGradientError } from './pixel-gradient.ts';
import type { Preprocessing } from './preprocess.ts';

/** Options of {@link backboneForFeatures}. */
export interface BackboneForFeaturesOptions {
  /** A backbone to use instead of the recorded one (a bundled name, a model folder or an .onnx file). */
  backbone?: string;
  /** The feature file, named in messages. */
  file?: string;
  /** Refuse, before loading anything, a backbone that gives no gradients (ONNX). Default true. */
  needGradients?: boolean;
  /** Cache of converted bundled weights (default none). */
  cacheDir?: string | false;
}

/**
 * Loads the backbone recorded in a feature file's sidecar (or `o.backbone`), with the recorded
 * layer, pooling and preprocessing.
 * @throws NoGradientError for an ONNX backbone when gradients are needed; RangeError naming the
 *   file when it records no backbone, or one that is no longer where it was.
 * @example
 * const bb = await backboneForFeatures(readFeatures('digits.npy').meta); // bb.info.name === 'mobilenet_v2'
 */
export async function backboneForFeatures(meta: FeatureMeta, o: BackboneForFeaturesOptions = {}): Promise<Backbone> {
  const file = o.file ?? 'the feature file';
  const origin = featureOrigin(meta);
  // A bundled network may have been run by onnxruntime (converted from TF.js); its TF.js form gives gradients.
  const recordedOnnx = (meta.backbone as { kind?: unknown } | undefined)?.kind === 'onnx' && !(origin && isBuiltin(origin.backbone));
  if (!o.backbone && recordedOnnx && o.needGradients !== false) throw new NoGradientError(origin?.backbone ?? 'onnx', 'onnx');
  let where = o.backbone;
  if (!where) {
    if (!origin) throw new RangeError(`${file}: it does not record the backbone that made it; give one (a bundled name, a TF.js model folder or an .onnx file) with --backbone`);
    try {
      where = originBackbone(origin);
    } catch (e) {
      throw new RangeError(`${file}: ${(e as Error).message}; give it with --backbone`);
    }
  }
  const onnx = !isBuiltin(where) && (isOnnxPath(where) || (!o.backbone && recordedOnnx));
  if (onnx && o.needGradients !== false) throw new NoGradientError(origin?.backbone ?? where, 'onnx');
  const pre = (o.backbone ? undefined : origin?.preprocessing) as (Partial<Preprocessing> & { preset?: unknown }) | undefined;
  if (!onnx) await initTfNode();
  const { backbone } = await loadBackboneNode(where, {
    layer: o.backbone ? undefined : origin?.layer,
    pool: !o.backbone && origin?.pooling ? POOL_OF[origin.pooling] : undefined,
    tta: o.backbone ? undefined : origin?.tta,
    preset: typeof pre?.preset === 'string' ? pre.preset : undefined,
    preprocessing: pre ? { ...pre } : undefined,
    cacheDir: o.cacheDir ?? false,
    // Gradients need TF.js: the bundled networks otherwise run on onnxruntime.
    ...(o.needGradients !== false && !onnx ? { runtime: 'tfjs' as const } : {}),
  });
  if (o.needGradients !== false && !backbone.forward) {
    backbone.dispose();
    throw new NoGradientError(backbone.info.name, backbone.info.kind);
  }
  return backbone;
}
