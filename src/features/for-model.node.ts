/**
 * New images embedded the way a model's training features were: the backbone, layer, pooling and
 * preprocessing the model recorded (its {@link FeatureOrigin}), so that `protolens predict
 * --images` answers on pictures without a separate `extract`.
 */
import { existsSync } from 'node:fs';
import type { FeatureOrigin } from '../model/types.ts';
import type { ImageDataset } from '../data/images.node.ts';
import type { Preprocessing } from './pixels.ts';
import type { PoolMode } from './onnx-backbone.ts';
import { extractDataset, type ExtractDatasetOptions, type ExtractResult } from './extract.node.ts';
import { isBuiltin, isBundledEmbedding } from './load.node.ts';

/** What `pooling` (as recorded) asks of the extractor. */
export const POOL_OF: Record<string, PoolMode> = { 'global-average': 'avg', 'global-max': 'max', flatten: 'none', none: 'avg' };

/**
 * The backbone to load for an origin: its bundled name, or the model folder or `.onnx` file it
 * was loaded from (recorded as its source).
 * @throws RangeError naming the backbone when it is neither bundled nor found where it was.
 * @example
 * originBackbone({ backbone: 'mobilenet_v2' }) // 'mobilenet_v2'
 * originBackbone({ backbone: 'resnet18', source: '/models/resnet18.onnx' }) // '/models/resnet18.onnx' (when it exists)
 */
export function originBackbone(origin: FeatureOrigin): string {
  if (isBuiltin(origin.backbone) || isBundledEmbedding(origin.backbone)) return origin.backbone;
  if (origin.source && existsSync(origin.source)) return origin.source;
  throw new RangeError(`the backbone "${origin.backbone}" is not bundled with protolens${origin.source ? ` and is no longer at ${origin.source}` : ' and its location is not recorded'}`);
}

/** Options of {@link extractForModel}: those of extractDataset, less what the origin decides. */
export type ExtractForModelOptions = Omit<ExtractDatasetOptions, 'backbone' | 'layer' | 'pool' | 'preset' | 'preprocessing' | 'tta'>;

/**
 * Embeds a dataset with the backbone, layer, pooling and preprocessing of `origin`.
 * @throws RangeError when the backbone cannot be found ({@link originBackbone}); the errors of
 *   extractDataset (unreadable images, a layer the network no longer has).
 * @example
 * const r = await extractForModel(model.origin_!, openImages(['photo.jpg']));
 * model.predict(r.X) // the photo's class
 */
export async function extractForModel(origin: FeatureOrigin, dataset: ImageDataset, options: ExtractForModelOptions = {}): Promise<ExtractResult> {
  const pre = origin.preprocessing as Partial<Preprocessing> | undefined;
  return extractDataset(dataset, {
    ...options,
    backbone: originBackbone(origin),
    layer: origin.layer,
    pool: origin.pooling ? POOL_OF[origin.pooling] : undefined,
    tta: origin.tta,
    // The preset first (it fills what the recorded fields do not say), then every recorded field.
    preset: typeof pre?.preset === 'string' ? pre.preset : undefined,
    preprocessing: pre ? { ...pre } : undefined,
  });
}
