/**
 * Reading saved models: the checks every `fromJSON` shares. Each names the field at fault and
 * what was expected, so a damaged or hand-edited model file fails with a sentence, never with
 * NaN predictions later.
 *
 * Browser-safe: no I/O.
 */
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, type FeatureOrigin, type Label, type ModelJSON } from './types.ts';
import { MAX_MAGNITUDE } from '../linalg/matrix.ts';

/**
 * Checks the header of a saved model of `kind`: format, version, kind, classes (at least 2,
 * distinct, strings or finite numbers) and nFeatures.
 * @throws TypeError for another format or kind; RangeError for an unsupported version or bad classes/nFeatures.
 * @example
 * checkHeader({ format: 'protolens-model', version: 1, kind: 'NearestClassMean', classes: ['a', 'a'], nFeatures: 2, params: {} }, 'NearestClassMean')
 * // throws RangeError: model: field "classes" lists "a" twice (entries 0 and 1); class names must be distinct
 */
export function checkHeader(json: ModelJSON, kind: string): void {
  if (typeof json !== 'object' || json === null) throw new TypeError('model: expected a JSON object');
  if (json.format !== MODEL_FORMAT) {
    throw new TypeError(`model: not a protolens model (format field is ${JSON.stringify(json.format)}, expected "${MODEL_FORMAT}")`);
  }
  if (json.version !== MODEL_FORMAT_VERSION) {
    throw new RangeError(`model: format version ${JSON.stringify(json.version)} is not supported; this protolens reads version ${MODEL_FORMAT_VERSION}`);
  }
  if (json.kind !== kind) throw new TypeError(`model: kind is ${JSON.stringify(json.kind)}, expected "${kind}"`);
  const classes = jsonClasses(json);
  if (classes.length < 2) throw new RangeError('model: field "classes" must list at least 2 classes');
  const seen = new Map<string, number>();
  classes.forEach((c, i) => {
    if (typeof c !== 'string' && !(typeof c === 'number' && Number.isFinite(c))) {
      throw new RangeError(`model: field "classes" entry ${i} is ${JSON.stringify(c)}; expected a string or a finite number`);
    }
    const key = `${typeof c}:${String(c)}`;
    if (seen.has(key)) throw new RangeError(`model: field "classes" lists ${JSON.stringify(c)} twice (entries ${seen.get(key)} and ${i}); class names must be distinct`);
    seen.set(key, i);
  });
  if (!Number.isInteger(json.nFeatures) || json.nFeatures < 1) throw new RangeError(`model: field "nFeatures" must be a positive integer, got ${JSON.stringify(json.nFeatures)}`);
}

/** True for an array of values, or a typed array of numbers (how src/data/json.ts reads long number lists). */
function isList(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || v instanceof Float64Array || v instanceof Float32Array;
}

/**
 * The class names of a saved model as a new array (a list of numbers may come as a Float64Array).
 * @throws RangeError when the field is not a list.
 * @example
 * jsonClasses({ classes: Float64Array.of(3, 7) } as never) // [3, 7]
 */
export function jsonClasses(json: ModelJSON): Label[] {
  const v: unknown = json.classes;
  if (!isList(v)) throw new RangeError('model: field "classes" must list at least 2 classes');
  return Array.from(v) as Label[];
}

/**
 * Which numbers a field accepts. 'scale' is a positive number of at least 1e-30, as the τ of a
 * softmax over distances must be: 1/(2τ) of a smaller one (5e-324 in a fuzzed file) overflows
 * float32 and every probability becomes NaN.
 */
export type NumberDomain = 'finite' | 'positive' | 'non-negative' | 'positive integer' | 'non-negative integer' | 'scale';

/**
 * A numeric field of a saved model, checked against its domain.
 * @throws RangeError naming the field, the domain and the value found.
 * @example
 * jsonNumber({ tau: -1 } as never, 'tau', 'positive') // throws: model: field "tau" must be a positive number, got -1
 */
export function jsonNumber(json: ModelJSON, field: string, domain: NumberDomain = 'finite'): number {
  const v = json[field];
  const ok = typeof v === 'number' && Number.isFinite(v) && (
    domain === 'finite' ||
    (domain === 'positive' && v > 0) ||
    (domain === 'scale' && v >= 1e-30) ||
    (domain === 'non-negative' && v >= 0) ||
    (domain === 'positive integer' && Number.isInteger(v) && v > 0) ||
    (domain === 'non-negative integer' && Number.isInteger(v) && v >= 0));
  if (!ok) {
    const what = domain === 'scale' ? 'positive number of at least 1e-30' : `${domain}${domain.endsWith('integer') ? '' : ' number'}`;
    throw new RangeError(`model: field "${field}" must be a ${what}, got ${typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v)}`);
  }
  return v as number;
}

/**
 * An array field of a saved model as float32, with exactly `expected` finite numbers (no null, no
 * strings, nothing beyond ±1e15, {@link MAX_MAGNITUDE}: the model's arithmetic is float32 and the
 * data it meets is bounded the same way). A Float64Array is accepted as the list of numbers.
 * @throws TypeError when the field is not an array; RangeError for a wrong length or a bad value (its index named).
 * @example
 * jsonFloats({ W: [1, null] } as never, 'W', 2) // throws: model: field "W" value 1 is null; expected a finite number
 */
export function jsonFloats(json: ModelJSON, field: string, expected: number): Float32Array {
  const v = json[field];
  if (!isList(v)) throw new TypeError(`model: field "${field}" must be an array of numbers`);
  if (v.length !== expected) throw new RangeError(`model: field "${field}" has ${v.length} values, expected ${expected} from the model's shape`);
  const out = new Float32Array(expected);
  for (let k = 0; k < expected; k++) {
    const x = v[k];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new RangeError(`model: field "${field}" value ${k} is ${JSON.stringify(x)}; expected a finite number`);
    out[k] = x;
    if (!Number.isFinite(out[k])) throw new RangeError(`model: field "${field}" value ${k} (${x}) is beyond the float32 range`);
    if (Math.abs(x) > MAX_MAGNITUDE) {
      throw new RangeError(`model: field "${field}" value ${k} (${x}) is beyond ±1e15, where float32 distances and products overflow`);
    }
  }
  return out;
}

/**
 * A JSON value with its number arrays as plain arrays: a file read by the bounded reader
 * (src/data/json.ts) holds them as Float64Arrays, which would not compare or write back as lists.
 * @example
 * plainJson({ range: Float64Array.of(0, 1) }) // { range: [0, 1] }
 */
export function plainJson(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plainJson);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainJson(x)]));
  return v;
}

/**
 * The `origin` field of a saved model: what made its features, or null when the file has none
 * (features from elsewhere, or a file saved before the field existed).
 * @throws TypeError naming the field when it is present but not an object with a string `backbone`,
 *   or when one of its other fields has the wrong type.
 * @example
 * readOrigin({ origin: { backbone: 'mobilenet_v2', layer: 'flatten_1' } } as never) // { backbone: 'mobilenet_v2', layer: 'flatten_1' }
 * readOrigin({} as never) // null
 */
export function readOrigin(json: ModelJSON): FeatureOrigin | null {
  const o = json.origin as unknown;
  if (o === undefined || o === null) return null;
  if (typeof o !== 'object' || Array.isArray(o) || typeof (o as FeatureOrigin).backbone !== 'string') {
    throw new TypeError('model: field "origin" must be an object with a "backbone" name');
  }
  const r = o as Record<string, unknown>;
  for (const k of ['layer', 'weightsHash', 'source', 'pooling'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'string') throw new TypeError(`model: field "origin.${k}" must be a string, got ${JSON.stringify(r[k])}`);
  }
  if (r.dim !== undefined && !(Number.isInteger(r.dim) && (r.dim as number) > 0)) throw new TypeError(`model: field "origin.dim" must be a positive integer, got ${JSON.stringify(r.dim)}`);
  if (r.preprocessing !== undefined && (typeof r.preprocessing !== 'object' || r.preprocessing === null || Array.isArray(r.preprocessing))) {
    throw new TypeError('model: field "origin.preprocessing" must be an object');
  }
  return plainJson(o) as FeatureOrigin;
}
