/**
 * What made a set of features ({@link FeatureOrigin}): read from a feature file's metadata, and
 * compared with the origin a model recorded when it was fitted. Two feature sets of the same
 * width from different networks, layers or image sizes are different spaces; a model fitted in
 * one gives confident nonsense in the other, so the readers refuse the pair.
 *
 * Browser-safe: no I/O.
 */
import type { FeatureOrigin } from '../model/types.ts';
import { plainJson } from '../model/json.ts';
import type { FeatureMeta } from './featurefile.ts';

/** Preprocessing fields that name the settings rather than change them. */
const NAMING_FIELDS = new Set(['preset']);

/**
 * The origin recorded in a feature file's metadata (`meta.backbone`, `meta.preprocessing`, as
 * `protolens extract` writes them), or null when the file does not say (vectors from elsewhere).
 * @example
 * featureOrigin({ backbone: { name: 'mobilenet_v2', layer: 'flatten_1', dim: 1280 } })
 * // { backbone: 'mobilenet_v2', layer: 'flatten_1', dim: 1280 }
 * featureOrigin({ source: 'csv' }) // null
 */
export function featureOrigin(meta: FeatureMeta): FeatureOrigin | null {
  const b = meta.backbone;
  if (!b || typeof b.name !== 'string') return null;
  const o: FeatureOrigin = { backbone: b.name };
  if (typeof b.layer === 'string') o.layer = b.layer;
  if (typeof b.weightsHash === 'string') o.weightsHash = b.weightsHash;
  if (typeof b.source === 'string') o.source = b.source;
  if (typeof b.dim === 'number') o.dim = b.dim;
  if (typeof b.pooling === 'string') o.pooling = b.pooling;
  if (typeof b.tta === 'number' && b.tta > 0) o.tta = b.tta;
  const p = meta.preprocessing;
  // All of it: `predict --images` prepares new images with exactly these settings.
  if (p && typeof p === 'object' && Object.keys(p).length) o.preprocessing = plainJson(p) as Record<string, unknown>;
  return o;
}

/**
 * An origin in words: `mobilenet_v2, layer flatten_1, 224×224 input`.
 * @example
 * describeOrigin({ backbone: 'inception_v3', layer: 'flatten_1', preprocessing: { height: 299, width: 299 } })
 * // 'inception_v3, layer flatten_1, 299×299 input'
 */
export function describeOrigin(o: FeatureOrigin): string {
  const p = o.preprocessing ?? {};
  const parts = [o.backbone];
  if (o.layer) parts.push(`layer ${o.layer}`);
  if (typeof p.height === 'number' && typeof p.width === 'number') parts.push(`${p.height}×${p.width} input`);
  return parts.join(', ');
}

/**
 * How two origins differ, in words, or null when they may be the same (a side that does not
 * record a field does not count against it). Compared: the weights (by hash, when both record
 * one, else the backbone's name), the layer, the pooling, and, when both record how images were
 * prepared, every field of it (input size, resize, value range, mean, std, …; not the name of a
 * preset): a field one side has and the other lacks (a mean subtracted, or not) differs too.
 * @example
 * originDifference({ backbone: 'mobilenet_v2', layer: 'flatten_1' }, { backbone: 'inception_v3', layer: 'flatten_1' })
 * // 'another network (mobilenet_v2 against inception_v3)'
 * originDifference({ backbone: 'mobilenet_v2' }, { backbone: 'mobilenet_v2', layer: 'flatten_1' }) // null
 */
export function originDifference(a: FeatureOrigin, b: FeatureOrigin): string | null {
  const diffs: string[] = [];
  if (a.weightsHash && b.weightsHash ? a.weightsHash !== b.weightsHash : a.backbone !== b.backbone) {
    diffs.push(a.backbone === b.backbone ? `other weights under the same name ${a.backbone}` : `another network (${a.backbone} against ${b.backbone})`);
  }
  if (a.layer && b.layer && a.layer !== b.layer) diffs.push(`another layer (${a.layer} against ${b.layer})`);
  if (a.pooling && b.pooling && a.pooling !== b.pooling) diffs.push(`another pooling (${a.pooling} against ${b.pooling})`);
  // Absent means none: features averaged over shifted copies are another space than plain ones.
  if ((a.tta ?? 0) !== (b.tta ?? 0)) diffs.push(`other test-time shifts (${a.tta ?? 0} against ${b.tta ?? 0} pixels)`);
  if (a.preprocessing && b.preprocessing) {
    const pa = a.preprocessing, pb = b.preprocessing;
    for (const k of [...new Set([...Object.keys(pa), ...Object.keys(pb)])]) {
      if (NAMING_FIELDS.has(k) || JSON.stringify(pa[k]) === JSON.stringify(pb[k])) continue;
      const shown = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
      diffs.push(`another input ${k} (${shown(pa[k])} against ${shown(pb[k])})`);
    }
  }
  return diffs.length ? diffs.join(', ') : null;
}
