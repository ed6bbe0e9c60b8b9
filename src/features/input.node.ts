/**
 * The labelled features a benchmark runs on (Node): a feature file as it is, or an image dataset
 * whose features are extracted through the cache (TF.js is loaded only on that path).
 */
import { readFeatures } from '../data/features.node.ts';
import type { FeatureSet } from '../data/featurefile.ts';

/** Where the features come from: a feature file, or an image dataset and a backbone. */
export type FeatureInput =
  | { features: string }
  | { data: string; backbone: string; cacheDir?: string | false; tta?: number };

/** Options of {@link labelledFeatures}. */
export interface LabelledFeaturesOptions {
  /** Extraction progress (images done out of total), for a dataset. */
  onProgress?: (p: { done: number; total: number }) => void;
  /** Messages. */
  log?: (s: string) => void;
}

/**
 * Reads or extracts labelled features, and says where they came from in a line of Markdown.
 * @throws RangeError naming the file when it carries no labels; the errors of readFeatures,
 *   openImageDataset and extractDataset (which name the file).
 * @example
 * const { fs, source } = await labelledFeatures({ features: 'omniglot.npy' }); // source '`omniglot.npy` (4840×2048, inception_v3)'
 */
export async function labelledFeatures(input: FeatureInput, o: LabelledFeaturesOptions = {}): Promise<{ fs: FeatureSet; source: string }> {
  if ('features' in input) {
    const fs = readFeatures(input.features);
    if (fs.labels.length === 0) throw new RangeError(`${input.features}: the file has no labels (a .npy needs its .json sidecar); a benchmark needs one label per row.`);
    const bb = fs.meta.backbone as { name?: string } | undefined;
    return { fs, source: `\`${input.features}\` (${fs.X.rows}×${fs.X.cols}${bb?.name ? `, ${bb.name}` : ''})` };
  }
  const { openImageDataset } = await import('../data/images.node.ts');
  const { extractDataset } = await import('./extract.node.ts');
  const ds = openImageDataset(input.data);
  o.log?.(`${ds.root}: ${ds.entries.length} images; extracting ${input.backbone} features through the cache`);
  const r = await extractDataset(ds, { backbone: input.backbone, cacheDir: input.cacheDir, tta: input.tta, onProgress: o.onProgress });
  const shifts = input.tta ? `, test-time shifts ±${input.tta}` : '';
  return { fs: r, source: `\`${input.data}\` through ${input.backbone}${shifts} (${r.X.rows}×${r.X.cols})` };
}
