/** Writes TF.js layers models as model folders (`model.json` + `weights.bin`), as a user would have them. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** Saves `m` into `dir` (created) as a TF.js layers-model folder. */
export async function saveLayersFolder(m: tf.LayersModel, dir: string): Promise<void> {
  await m.save(tf.io.withSaveHandler(async (a) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}
