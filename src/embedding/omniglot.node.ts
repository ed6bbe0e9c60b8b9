/**
 * Loading an image dataset (Omniglot's `Alphabet/characterNN/*.png` tree, a zip of one, or a
 * list file) as small grey ink images for training the embedding, in Node.
 *
 * Pixels go through exactly what protolens's backbone pipeline does to every image
 * (`features/preprocess.ts`): values divided by 255, bilinear resize with aligned corners to
 * S×S. Then ink = 1 − value (paper 0, strokes 1). The exported model undoes nothing: it takes
 * the pipeline's 3-channel input and computes the same ink itself (see conv4.ts), so a trained
 * network sees the same numbers in training and as a backbone.
 */
import * as tf from '@tensorflow/tfjs';
import { openImageDataset } from '../data/images.node.ts';
import { decodeImage } from '../features/decode.node.ts';

/** Images of a dataset as one array of ink values, with their labels. */
export interface InkImages {
  /** N·S·S values in [0, 1], image-major, row-major within an image. */
  pixels: Float32Array;
  /** Side S of each image. */
  size: number;
  /** One label per image, e.g. "Greek/character03". */
  labels: string[];
  /** Where the images came from. */
  root: string;
}

/**
 * Reads every image of a dataset, converts it to grey and resizes it to `size`×`size`.
 * @param onProgress - called with (done, total) every few hundred images.
 * @param keep - only the images whose label passes (default all).
 * @throws RangeError when the dataset cannot be listed; BadImageError naming an unreadable file.
 */
export async function loadInkImages(root: string, size = 28, onProgress?: (done: number, total: number) => void, keep?: (label: string) => boolean): Promise<InkImages> {
  const ds = openImageDataset(root);
  const entries = keep ? ds.entries.filter((e) => keep(e.label)) : ds.entries;
  const n = entries.length;
  if (n === 0) throw new RangeError(`${ds.root}: no images left to load`);
  const pixels = new Float32Array(n * size * size);
  const chunk = 256;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    for (let i = start; i < end; i++) {
      const e = entries[i];
      const img = await decodeImage(await ds.read(e), `${ds.root}/${e.path}`);
      const { width: w, height: h, channels: c, data } = img;
      // Grey = first channel, alpha composited onto white (as the backbone pipeline does).
      const grey = new Float32Array(w * h);
      for (let p = 0; p < w * h; p++) {
        const v = c >= 3 ? (data[p * c] + data[p * c + 1] + data[p * c + 2]) / 3 : data[p * c];
        const a = c === 2 || c === 4 ? data[p * c + c - 1] / 255 : 1;
        grey[p] = (v * a + 255 * (1 - a)) / 255;
      }
      const out = tf.tidy(() => {
        let t = tf.tensor3d(grey, [h, w, 1]);
        if (h !== size || w !== size) t = tf.image.resizeBilinear(t, [size, size], true);
        return tf.sub(1, t);
      });
      pixels.set(out.dataSync(), i * size * size);
      out.dispose();
    }
    onProgress?.(end, n);
  }
  return { pixels, size, labels: entries.map((e) => e.label), root: ds.root };
}
