/**
 * The labelled features a benchmark runs on (Node): a feature file as it is, or an image dataset
 * whose features are extracted through the cache (TF.js is loaded only on that path).
 */
import { readFeatures } from '../data/features.node.ts';
import { resolvePreprocess, type FeatureSet } from '../data/featurefile.ts';
import type { PreprocessChoice, PreprocessMethod } from '../model/preprocess.ts';

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
  /**
   * The feature preprocessing asked for (default `auto`): returned as it is, or with `auto` the
   * one the features' backbone recommends (recorded by `extract` in the sidecar, or by the
   * backbone itself for a dataset), else `sqrt-l2` (`resolvePreprocess`).
   */
  preprocess?: PreprocessChoice;
}

/** What {@link labelledFeatures} gives: the features, where they came from in Markdown, and the preprocessing to use on them. */
export interface LabelledFeatures {
  fs: FeatureSet;
  source: string;
  /** `auto` resolved ({@link LabelledFeaturesOptions.preprocess}). */
  preprocess: PreprocessMethod;
  /** Where it came from: the options, the features' recommendation, or the default. */
  preprocessSource: 'given' | 'features' | 'default';
}

/**
 * Reads or extracts labelled features, says where they came from in a line of Markdown, and
 * resolves the preprocessing to use on them.
 * @throws RangeError naming the file when it carries no labels, or (naming the sidecar and field)
 *   when it recommends a preprocessing that is not a method; the errors of readFeatures,
 *   openImageDataset and extractDataset (which name the file).
 * @example
 * const { fs, source } = await labelledFeatures({ features: 'omniglot.npy' }); // source '`omniglot.npy` (4840×2048, inception_v3)'
 * (await labelledFeatures({ data: 'images/', backbone: 'omniglot_conv4' })).preprocess // 'none'
 */
export async function labelledFeatures(input: FeatureInput, o: LabelledFeaturesOptions = {}): Promise<LabelledFeatures> {
  const resolved = (fs: FeatureSet, file: string, source: string): LabelledFeatures => {
    const p = resolvePreprocess(o.preprocess ?? 'auto', fs.meta, file);
    return { fs, source, preprocess: p.method, preprocessSource: p.source };
  };
  if ('features' in input) {
    const fs = readFeatures(input.features);
    if (fs.labels.length === 0) throw new RangeError(`${input.features}: the file has no labels (a .npy needs its .json sidecar); a benchmark needs one label per row.`);
    const bb = fs.meta.backbone as { name?: string } | undefined;
    return resolved(fs, input.features, `\`${input.features}\` (${fs.X.rows}×${fs.X.cols}${bb?.name ? `, ${bb.name}` : ''})`);
  }
  const { openImageDataset } = await import('../data/images.node.ts');
  const { extractDataset } = await import('./extract.node.ts');
  const ds = openImageDataset(input.data);
  o.log?.(`${ds.root}: ${ds.entries.length} images; extracting ${input.backbone} features through the cache`);
  const r = await extractDataset(ds, { backbone: input.backbone, cacheDir: input.cacheDir, tta: input.tta, onProgress: o.onProgress });
  const shifts = input.tta ? `, test-time shifts ±${input.tta}` : '';
  return resolved(r, input.backbone, `\`${input.data}\` through ${input.backbone}${shifts} (${r.X.rows}×${r.X.cols})`);
}
