/**
 * The report's look through the CNN (Node): each prototype's reconstruction and the adversarial
 * reading of a few samples (src/interpret/reconstruct.ts, adversarial.ts), computed through the
 * backbone that made the features and turned into plain JSON with PNG data URIs for the report
 * (lens.ts draws them). What `protolens explain --reconstruct --adversarial N` adds.
 */
import sharp from 'sharp';
import type { FeatureSet } from '../data/featurefile.ts';
import { openImageDataset } from '../data/images.node.ts';
import type { Backbone } from '../features/backbone.ts';
import type { ImageBatch } from '../features/pixel-gradient.ts';
import { deriveSeed, rng } from '../linalg/random.ts';
import type { Label } from '../model/types.ts';
import { adversarialReading, crossingSummary, type AdversarialOptions } from '../interpret/adversarial.ts';
import { RECONSTRUCT_DEFAULTS, reconstructPrototypes, unwrapModel, type InterpretedModel, type ReconstructOptions, type Reconstruction, type SmallImage } from '../interpret/reconstruct.ts';
import type { LensAdversarial, LensReconstruction } from './lens.ts';

/** A small image as a PNG data URI. */
export async function smallImagePng(im: SmallImage): Promise<string> {
  const png = await sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: im.channels } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/**
 * Every prototype's reconstruction, as the report shows it.
 * @throws as {@link reconstructPrototypes} (NoGradientError for an ONNX backbone).
 * @example
 * const recs = await lensReconstructions(model, backbone, { seed: 0 }); // recs[0].image: 'data:image/png;base64,…'
 */
export async function lensReconstructions(model: InterpretedModel, backbone: Backbone, o: ReconstructOptions = {}): Promise<LensReconstruction[]> {
  const rs = await reconstructPrototypes(model, backbone, 'all', o);
  return Promise.all(rs.map((r) => lensReconstruction(r, o)));
}

/**
 * One reconstruction as the report and the explorer show it (its image as a PNG data URI).
 * @example
 * await lensReconstruction(await reconstructPrototype(model, backbone, 0), {}) // { prototype: 0, q: 0.99, image: 'data:image/png;base64,…', … }
 */
export async function lensReconstruction(r: Reconstruction, o: Pick<ReconstructOptions, 'start'> = {}): Promise<LensReconstruction> {
  return {
    prototype: r.prototype, winningClass: r.winningClass, q: r.q, sqDistance: r.sqDistance, reached: r.reached, qTarget: r.qTarget,
    bestPrototype: r.bestPrototype, predicted: r.predicted, steps: r.steps, seconds: r.seconds, seed: r.seed, start: o.start ?? RECONSTRUCT_DEFAULTS.start,
    width: r.image.width, height: r.image.height, image: await smallImagePng(r.image),
  };
}

/**
 * `n` sample indices spread over the classes: the classes in turn, in a seeded random order
 * within each class.
 * @example
 * spreadSamples(['a', 'a', 'b', 'b'], 2, 0) // one 'a' and one 'b'
 */
export function spreadSamples(labels: readonly Label[], n: number, seed: number): number[] {
  const byClass = new Map<string, number[]>();
  labels.forEach((l, i) => { const k = String(l); const v = byClass.get(k) ?? []; v.push(i); byClass.set(k, v); });
  const r = rng(deriveSeed(seed, 19));
  const queues = [...byClass.values()].map((v) => {
    const s = v.slice();
    for (let i = s.length - 1; i > 0; i--) { const j = r.int(i + 1); [s[i], s[j]] = [s[j], s[i]]; }
    return s;
  });
  const out: number[] = [];
  for (let k = 0; out.length < Math.min(n, labels.length); k++) for (const q of queues) if (k < q.length && out.length < n) out.push(q[k]);
  return out.sort((a, b) => a - b);
}

/**
 * The samples' images at `side`×`side` (grey when every image is), as an image batch in [0, 1].
 * @throws RangeError naming the image that cannot be read.
 */
export async function loadSampleImages(fs: FeatureSet, root: string, indices: readonly number[], side: number): Promise<ImageBatch> {
  const ds = openImageDataset(root, { skipBad: true });
  const byPath = new Map(ds.entries.map((e) => [e.path, e]));
  const raws: Array<{ data: Buffer; channels: number }> = [];
  for (const i of indices) {
    const p = fs.paths?.[i];
    const e = p === undefined ? undefined : byPath.get(p);
    if (!e) throw new RangeError(`sample ${i}: its image${p ? ` ${p}` : ''} is not in the dataset at ${root}`);
    const img = sharp(await ds.read(e)).flatten({ background: '#ffffff' }).resize(side, side, { fit: 'fill', kernel: 'linear' });
    const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    raws.push({ data, channels: info.channels });
  }
  const grey = raws.every((r) => r.channels === 1 || isGrey(r.data, r.channels));
  const channels = grey ? 1 : 3;
  const per = side * side * channels;
  const data = new Float32Array(indices.length * per);
  raws.forEach((r, k) => {
    for (let p = 0; p < side * side; p++) {
      for (let c = 0; c < channels; c++) data[k * per + p * channels + c] = r.data[p * r.channels + (r.channels === 1 ? 0 : c)] / 255;
    }
  });
  return { data, n: indices.length, height: side, width: side, channels };
}

/**
 * The background grey level of a data set's images, in [0, 1]: the median pixel of up to `n`
 * images spread over the classes (white paper for Omniglot, black for MNIST digits). A
 * reconstruction starts from it, as from a blank image of the data.
 * @example
 * await backgroundLevel(fs, 'omniglot/', 16) // 1
 */
export async function backgroundLevel(fs: FeatureSet, root: string, n = 16): Promise<number | undefined> {
  const ds = openImageDataset(root, { skipBad: true });
  const byPath = new Map(ds.entries.map((e) => [e.path, e]));
  const images: Uint8Array[] = [];
  for (const i of spreadSamples(fs.labels, n, 0)) {
    const e = fs.paths?.[i] === undefined ? undefined : byPath.get(fs.paths[i]);
    if (e) images.push(await ds.read(e));
  }
  return medianGrey(images);
}

/**
 * The median grey level, in [0, 1], of every seventh pixel of encoded images (their background
 * when ink covers less than half of them); undefined for none.
 * @example
 * await medianGrey([whitePng]) // 1
 */
export async function medianGrey(images: readonly Uint8Array[]): Promise<number | undefined> {
  const values: number[] = [];
  for (const bytes of images) {
    const raw = await sharp(bytes).flatten({ background: '#ffffff' }).greyscale().raw().toBuffer();
    for (let k = 0; k < raw.length; k += 7) values.push(raw[k]);
  }
  if (!values.length) return undefined;
  values.sort((a, b) => a - b);
  return values[values.length >> 1] / 255;
}

function isGrey(d: Buffer, ch: number): boolean {
  for (let p = 0; p < d.length; p += ch) if (d[p] !== d[p + 1] || d[p] !== d[p + 2]) return false;
  return true;
}

/** Options of {@link lensAdversarial}. */
export interface LensAdversarialOptions extends AdversarialOptions {
  /** Seed of the choice of samples and of the permutation tests. */
  seed?: number;
  /** Side of the perturbed images: default the smaller of the network's input, the largest image side, and 64. */
  side?: number;
}

/**
 * The adversarial reading of `n` samples spread over the classes, their crossing statistics, and
 * the before/after images of each crossing.
 * @throws RangeError when the feature file names no images or one cannot be read; as {@link adversarialReading}.
 * @example
 * const adv = await lensAdversarial(model, backbone, fs, 'digits/', 20); // adv.stats[0].margin.rho
 */
export async function lensAdversarial(model: InterpretedModel, backbone: Backbone, fs: FeatureSet, root: string, n: number,
  o: LensAdversarialOptions = {}): Promise<LensAdversarial> {
  const seed = o.seed ?? 0;
  const indices = spreadSamples(fs.labels, n, seed);
  const p = backbone.preprocessing;
  const side = o.side ?? Math.min(p.height, p.width, 64, await largestSide(fs, root, indices[0]));
  const images = await loadSampleImages(fs, root, indices, side);
  const t0 = performance.now();
  const readings = await adversarialReading(model, backbone, images, o);
  const seconds = (performance.now() - t0) / 1000;
  const { model: m } = unwrapModel(model);
  const stats = crossingSummary(readings, (j) => m.links(j).winningClass, seed);
  const per = side * side * images.channels;
  const samples = await Promise.all(readings.map(async (r, k) => {
    const before: SmallImage = { width: side, height: side, channels: images.channels, data: new Uint8Array(per) };
    for (let v = 0; v < per; v++) before.data[v] = Math.round(255 * images.data[k * per + v]);
    return {
      index: indices[k], label: fs.labels[indices[k]], prototype: r.prototype, predicted: r.label, margin: r.margin, ambiguous: r.ambiguous,
      image: await smallImagePng(before),
      crossings: await Promise.all(r.crossings.map(async (c) => ({
        norm: c.norm, target: c.target, found: c.found, budget: c.budget, lower: c.lower,
        toPrototype: c.toPrototype, toClass: c.toClass, crossesAt8Bit: c.crossesAt8Bit, evaluations: c.evaluations,
        perturbed: c.perturbed ? await smallImagePng(c.perturbed) : null,
      }))),
    };
  }));
  return { side, channels: images.channels, seed, seconds, options: { steps: o.steps ?? 10, tolerance: o.tolerance ?? 0.05 }, samples, stats };
}

async function largestSide(fs: FeatureSet, root: string, i: number | undefined): Promise<number> {
  if (i === undefined) return 64;
  const ds = openImageDataset(root, { skipBad: true });
  const e = ds.entries.find((x) => x.path === fs.paths?.[i]);
  if (!e) return 64;
  const { width = 64, height = 64 } = await sharp(await ds.read(e)).metadata();
  return Math.max(width, height);
}
