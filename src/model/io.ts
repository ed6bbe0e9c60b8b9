/**
 * Saved models: one JSON format for every classifier (`format`, `version`, `kind`, then the
 * classifier's own fields). Parsing only; files are read and written by the Node adapters.
 */
import { PrototypeClassifier } from './prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from './baselines.ts';
import { Pipeline } from './preprocess.ts';
import { MODEL_FORMAT, type Classifier, type ModelJSON } from './types.ts';

const LOADERS: Record<string, (json: ModelJSON) => Classifier> = {
  PrototypeClassifier: (j) => PrototypeClassifier.fromJSON(j),
  NearestClassMean: (j) => NearestClassMean.fromJSON(j),
  SoftmaxRegression: (j) => SoftmaxRegression.fromJSON(j),
  KNearestNeighbors: (j) => KNearestNeighbors.fromJSON(j),
  Pipeline: (j) => Pipeline.fromJSON(j, loadModel),
};

/**
 * Restores any protolens classifier from its `toJSON()` output (an object or a JSON string).
 * @throws TypeError/RangeError on invalid JSON, another format, an unsupported version, an unknown
 *   kind, or arrays whose length does not match the model's shape.
 */
export function loadModel(json: ModelJSON | string): Classifier {
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new TypeError(`model: not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof obj !== 'object' || obj === null || (obj as ModelJSON).format !== MODEL_FORMAT) {
    throw new TypeError(`model: not a protolens model (expected a JSON object with "format": "${MODEL_FORMAT}")`);
  }
  const kind = (obj as ModelJSON).kind;
  const loader = LOADERS[kind];
  if (!loader) throw new TypeError(`model: unknown kind ${JSON.stringify(kind)}. Should be one of: ${Object.keys(LOADERS).join(', ')}`);
  return loader(obj as ModelJSON);
}
