/**
 * Tiny TF.js backbones with seeded weights, for tests of gradients with respect to the pixels
 * (pixel-gradient, reconstruction, adversarial search): a few layers, a few features, milliseconds
 * per gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackbone, type Backbone } from '../../src/features/backbone.ts';
import { nsfwjsPreprocessing } from '../../src/features/preprocess.ts';
import { rng } from '../../src/linalg/random.ts';
import { batchFeatures } from '../../src/features/pixel-gradient.ts';
import { PrototypeClassifier } from '../../src/model/prototype.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/** Seeded weights for every layer of a model (batch-norm γ and σ² in [0.5, 1.5]). */
export function seedWeights(m: tf.LayersModel, seed: number, scale = 0.4): void {
  const r = rng(seed);
  for (const layer of m.layers) {
    const ws = layer.getWeights();
    if (!ws.length) continue;
    const isBn = layer.getClassName() === 'BatchNormalization';
    layer.setWeights(ws.map((w, k) => tf.tensor(Float32Array.from({ length: w.size }, () => {
      if (isBn) return k === 0 || k === 3 ? 0.5 + r.next() : 0.2 * r.normal(); // γ, σ²; β, μ
      return scale * r.normal();
    }), w.shape)));
  }
}

/** A model as a backbone (through its saved artifacts, as the loaders do), input size×size×3. */
export async function backboneOf(m: tf.LayersModel, size: number, name = 'tiny'): Promise<Backbone> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  m.dispose();
  return loadBackbone(artifacts!, { name, preprocessing: nsfwjsPreprocessing(size), weightsHash: 'test', source: 'test' });
}

/**
 * A tiny smooth backbone (tanh and sigmoid, so central differences are accurate): 6×6×3 input,
 * `dim` positive features. Larger weight `scale`s spread the features further apart.
 */
export function tinyBackbone(seed: number, dim = 3, scale = 0.4): Promise<Backbone> {
  const L = tf.layers;
  const m = tf.sequential();
  m.add(L.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }));
  m.add(L.batchNormalization({}));
  m.add(L.conv2d({ filters: dim, kernelSize: 1, activation: 'sigmoid' }));
  m.add(L.globalAveragePooling2d({}));
  seedWeights(m, seed, scale);
  return backboneOf(m, 6);
}

/** Three 4×4 grey patterns: a vertical bar, a horizontal bar, a diagonal. */
export const TARGETS = [
  [1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1],
  [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
  [0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0],
].map((a) => Float32Array.from(a));

/** A model whose prototypes are exactly the features of the three patterns, fitted on noisy copies of them. */
export function patternModel(bb: Backbone): { model: PrototypeClassifier; P: Float32Array } {
  const r = rng(1), n = 30;
  const imgs = new Float32Array(n * 16), y: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    for (let k = 0; k < 16; k++) imgs[i * 16 + k] = Math.min(1, Math.max(0, TARGETS[c][k] + 0.15 * r.normal()));
    y.push(['vertical', 'horizontal', 'diagonal'][c]);
  }
  const F = batchFeatures(bb, { data: imgs, n, height: 4, width: 4, channels: 1 });
  const model = new PrototypeClassifier({ nPrototypes: 3, seed: 1 }).fit({ data: F, rows: n, cols: bb.info.dim }, y);
  const P = batchFeatures(bb, { data: Float32Array.from(TARGETS.flatMap((t) => Array.from(t))), n: 3, height: 4, width: 4, channels: 1 });
  // Prototype j ← the feature of the pattern of its winning class.
  const order = model.prototypeClasses().map((c) => ['vertical', 'horizontal', 'diagonal'].indexOf(String(c)));
  if ([...order].sort().join() !== '0,1,2') throw new Error(`patternModel: prototypes won ${order.join(', ')}`);
  order.forEach((c, j) => model.prototypes_!.data.set(P.subarray(c * bb.info.dim, (c + 1) * bb.info.dim), j * bb.info.dim));
  return { model, P: model.prototypes_!.data.slice() };
}


/** A tiny smooth network written as a TF.js model folder (model.json + weights.bin), 6×6×3 input, 5 features. */
export async function tinyModelFolder(dir: string): Promise<void> {
  const L = tf.layers;
  const m = tf.sequential();
  m.add(L.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }));
  m.add(L.conv2d({ filters: 5, kernelSize: 1, activation: 'sigmoid' }));
  m.add(L.globalAveragePooling2d({}));
  seedWeights(m, 9, 0.8);
  await m.save(tf.io.withSaveHandler(async (a) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  m.dispose();
}

/** Noisy 4×4 grey copies of the three patterns, as PNGs in class folders. */
export async function patternImages(dir: string, perClass: number): Promise<void> {
  const r = rng(2);
  const names = ['vertical', 'horizontal', 'diagonal'];
  for (let c = 0; c < 3; c++) {
    mkdirSync(join(dir, names[c]), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.from(Array.from(TARGETS[c], (v) => Math.round(255 * Math.min(1, Math.max(0, v + 0.15 * r.normal())))));
      writeFileSync(join(dir, names[c], `${i}.png`), await sharp(px, { raw: { width: 4, height: 4, channels: 1 } }).png().toBuffer());
    }
  }
}

