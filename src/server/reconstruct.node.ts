/**
 * Reconstructions for the explorer (issue 19): what a prototype looks like, computed lazily in the
 * server, one prototype at a time, when the page asks for it (`GET /api/reconstruction/<j>`), and
 * kept for the life of the server. The backbone that made the features is loaded again on the
 * first request (src/features/for-features.node.ts, as `protolens explain --reconstruct` does), and
 * each reconstruction is the report's (src/viz/lens.node.ts): the same optimisation, defaults, start
 * from the data's blank image, and the same q_j and distance measured on the 8-bit image.
 *
 * Features without gradients (an ONNX backbone, grey pixels, no recorded backbone) get a
 * reconstructor that says why, and the page shows the nearest images instead. Reconstructions a
 * report already wrote can be served as they are ({@link readReconstructions}).
 */
import { readFileSync } from 'node:fs';
import type { FeatureMeta } from '../data/featurefile.ts';
import type { Backbone } from '../features/backbone.ts';
import { isBuiltin } from '../features/load.node.ts';
import type { InterpretedModel, ReconstructOptions } from '../interpret/reconstruct.ts';
import type { LensReconstruction } from '../viz/lens.ts';

/** How the explorer gets reconstructions. */
export interface Reconstructor {
  /** In words ("through mobilenet_v2, in the server"), or why there are none. */
  readonly how: string;
  /** Whether {@link Reconstructor.reconstruct} can be called. */
  readonly available: boolean;
  /** Reconstructs prototype j (seconds for a small network, tens of seconds for MobileNetV2), reporting its steps. */
  reconstruct(j: number, onStep: (done: number, total: number) => void): Promise<LensReconstruction>;
  /** Releases the backbone. */
  close(): Promise<void>;
}

/**
 * A reconstructor that has none, and says why.
 * @example
 * noReconstructor('the features are grey pixels, not a network\'s').available // false
 */
export function noReconstructor(why: string): Reconstructor {
  return {
    how: why, available: false,
    reconstruct: () => Promise.reject(new Error(`no reconstructions: ${why}`)),
    close: async () => {},
  };
}

/** Options of {@link backboneReconstructor}. */
export interface BackboneReconstructorOptions {
  /** The backbone's name, for the page. */
  name: string;
  /** The grey level of the data's blank image (the start), computed on first use; undefined: the default grey. */
  start?: () => Promise<number | undefined>;
  /** Options of every reconstruction (default: the report's). */
  options?: ReconstructOptions;
}

/**
 * Reconstructions through a backbone loaded on first use (and loaded again after a failure).
 * @param model - the server's model, alone or behind its feature transform.
 * @example
 * const r = backboneReconstructor(model, () => backboneForFeatures(meta), { name: 'mobilenet_v2' });
 * const rec = await r.reconstruct(0, () => {}); // rec.q, rec.image: 'data:image/png;base64,…'
 */
export function backboneReconstructor(model: InterpretedModel, load: () => Promise<Backbone>, o: BackboneReconstructorOptions): Reconstructor {
  let backbone: Promise<Backbone> | undefined;
  let start: Promise<number | undefined> | undefined;
  return {
    how: `through ${o.name}, in the server`,
    available: true,
    async reconstruct(j, onStep) {
      backbone ??= load();
      backbone.catch(() => { backbone = undefined; });
      start ??= (o.start?.() ?? Promise.resolve(undefined)).catch(() => undefined);
      const [bb, level, { reconstructPrototype }, { lensReconstruction }] = await Promise.all([
        backbone, start, import('../interpret/reconstruct.ts'), import('../viz/lens.node.ts'),
      ]);
      const ro: ReconstructOptions = { ...o.options, ...(level === undefined || o.options?.start !== undefined ? {} : { start: level }) };
      const r = await reconstructPrototype(model, bb, j, { ...ro, onStep: (p) => onStep(p.done, p.total) });
      return lensReconstruction(r, ro);
    },
    async close() {
      if (backbone) (await backbone.catch(() => undefined))?.dispose();
    },
  };
}

/**
 * The reconstructor for features made as `meta` records: through the recorded backbone when it
 * gives gradients (a bundled network, a TF.js model folder), else one that says why not.
 * @param file - the feature file, named in messages.
 * @example
 * reconstructorFor(fs.meta, model, { file: 'f.npy' }).available // false for ONNX features
 */
export async function reconstructorFor(meta: FeatureMeta, model: InterpretedModel,
  o: { file?: string; cacheDir?: string | false; start?: () => Promise<number | undefined>; options?: ReconstructOptions } = {}): Promise<Reconstructor> {
  const bb = meta.backbone as { name?: string; kind?: string } | undefined;
  if (!bb?.name) return noReconstructor(`${o.file ?? 'the feature file'} does not record the network that made it`);
  if (/^pixels-\d+$/.test(bb.name)) return noReconstructor('the features are the images\' own grey pixels: there is no network to reconstruct through');
  const { backboneForFeatures } = await import('../features/for-features.node.ts');
  const { NoGradientError } = await import('../features/pixel-gradient.ts');
  // An ONNX backbone (not a bundled network, which also runs on TF.js) is refused by
  // backboneForFeatures before anything is loaded: its NoGradientError says why.
  if (bb.kind === 'onnx' && !isBuiltin(bb.name)) {
    try {
      (await backboneForFeatures(meta, { file: o.file, cacheDir: o.cacheDir ?? false })).dispose();
    } catch (e) {
      if (e instanceof NoGradientError) return noReconstructor(e.message);
      throw e;
    }
  }
  return backboneReconstructor(model, () => backboneForFeatures(meta, { file: o.file, cacheDir: o.cacheDir ?? false }), { name: bb.name, start: o.start, options: o.options });
}

/**
 * The reconstructions a report wrote (`reconstructions.json` of `protolens explain --reconstruct`),
 * checked against the model the explorer shows, so that it serves them at once instead of
 * computing them again (MobileNetV2: tens of seconds per prototype).
 * @param winningClass - the winning class of prototype j in the explorer's model.
 * @throws RangeError naming the file, the entry and what was expected: not a list of
 *   reconstructions, a prototype out of range or listed twice, or a prototype whose winning class
 *   differs from the model's (a report of another model).
 * @example
 * readReconstructions('report/reconstructions.json', 30, (j) => model.links(j).winningClass) // [{ prototype: 0, q: 0.99, … }, …]
 */
export function readReconstructions(file: string, J: number, winningClass: (j: number) => unknown): LensReconstruction[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RangeError(`${file}: cannot be read as JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(parsed)) throw new RangeError(`${file}: expected a list of reconstructions (the reconstructions.json of "protolens explain --reconstruct"), got ${parsed === null ? 'null' : typeof parsed}`);
  const seen = new Set<number>();
  return parsed.map((r: Record<string, unknown>, k) => {
    const where = `${file}: entry ${k}`;
    if (typeof r !== 'object' || r === null) throw new RangeError(`${where}: expected an object, got ${r === null ? 'null' : typeof r}`);
    const j = r.prototype;
    if (typeof j !== 'number' || !Number.isInteger(j) || j < 0 || j >= J) throw new RangeError(`${where}: "prototype" must be an index 0–${J - 1} (the model has ${J} prototypes), got ${JSON.stringify(j)}`);
    if (seen.has(j)) throw new RangeError(`${where}: prototype ${j} is listed twice`);
    seen.add(j);
    for (const f of ['q', 'sqDistance', 'qTarget', 'steps', 'width', 'height'] as const) {
      if (typeof r[f] !== 'number' || !Number.isFinite(r[f])) throw new RangeError(`${where}: "${f}" must be a number, got ${JSON.stringify(r[f])}`);
    }
    if (typeof r.image !== 'string' || !r.image.startsWith('data:image/png;base64,')) throw new RangeError(`${where}: "image" must be a PNG data URI (data:image/png;base64,…)`);
    if (String(r.winningClass) !== String(winningClass(j))) {
      throw new RangeError(`${where}: prototype ${j} wins class ${JSON.stringify(r.winningClass)} there but ${JSON.stringify(winningClass(j))} in this model; these reconstructions are of another model`);
    }
    return { ...r, reached: (r.q as number) >= (r.qTarget as number) } as unknown as LensReconstruction;
  });
}
