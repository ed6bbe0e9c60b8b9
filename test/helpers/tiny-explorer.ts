/**
 * A feature folder a user could have, made in milliseconds: a tiny TF.js network written as a
 * model folder, noisy 4×4 patterns as PNGs, their features extracted through the network (the
 * sidecar records it) and a 3-prototype model; and the explorer's source on it. For tests of the
 * explorer's reconstructions (the network gives gradients).
 */
import { join } from 'node:path';
import { extractDataset } from '../../src/features/extract.node.ts';
import { initTfNode } from '../../src/features/backend.node.ts';
import { openImageDataset } from '../../src/data/images.node.ts';
import { writeFeatures } from '../../src/data/features.node.ts';
import { writeModelFile } from '../../src/data/modelfile.node.ts';
import { PrototypeClassifier } from '../../src/model/prototype.ts';
import { fileSource } from '../../src/server/sources.node.ts';
import type { ExplorerSource } from '../../src/server/server.node.ts';
import { patternImages, tinyModelFolder } from './tiny-backbone.ts';

/** Writes net/, images/ (6 per class), f.npy and m.json into `dir` and returns the explorer's source on them. */
export async function tinyExplorerSource(dir: string): Promise<ExplorerSource> {
  await initTfNode('wasm');
  await tinyModelFolder(join(dir, 'net'));
  await patternImages(join(dir, 'images'), 6);
  const fs = await extractDataset(openImageDataset(join(dir, 'images')), { backbone: join(dir, 'net'), cacheDir: false, workers: 1 });
  writeFeatures(join(dir, 'f.npy'), fs);
  writeModelFile(join(dir, 'm.json'), new PrototypeClassifier({ nPrototypes: 3, seed: 1 }).fit(fs.X, fs.labels));
  return fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'm.json'), images: join(dir, 'images'), cacheDir: false });
}
