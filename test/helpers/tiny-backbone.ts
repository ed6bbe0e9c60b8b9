/**
 * Tiny TF.js backbones with seeded weights, for tests of gradients with respect to the pixels
 * (pixel-gradient, reconstruction, adversarial search): a few layers, a few features, milliseconds
 * per gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackbone, type Backbone } from '../../src/features/backbone.ts';
import { nsfwjsPreprocessing } from '../../src/features/preprocess.ts';
import { rng } from '../../src/linalg/random.ts';

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

/** A tiny smooth backbone (tanh and sigmoid, so central differences are accurate): 6×6×3 input, `dim` positive features. */
export function tinyBackbone(seed: number, dim = 3): Promise<Backbone> {
  const L = tf.layers;
  const m = tf.sequential();
  m.add(L.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }));
  m.add(L.batchNormalization({}));
  m.add(L.conv2d({ filters: dim, kernelSize: 1, activation: 'sigmoid' }));
  m.add(L.globalAveragePooling2d({}));
  seedWeights(m, seed);
  return backboneOf(m, 6);
}
