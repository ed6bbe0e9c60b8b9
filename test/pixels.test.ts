/**
 * The faster preprocessing gives the values the old one gave: today's pixelBatch against the copy
 * of the code before the rewrite (test/helpers/pixels-reference.ts), value for value, on random
 * images and sizes (seeded), for every preset.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { rng, type Rng } from '../src/linalg/random.ts';
import { nsfwjsPreprocessing, pixelBatch, presetPreprocessing, type Layout, type PixelImage, type Preprocessing } from '../src/features/pixels.ts';
import { referencePixelBatch } from './helpers/pixels-reference.ts';

const SEED = 16;

/** A random image: 1–4 channels, or grey stored as three equal channels (what sharp gives for grey PNGs). */
function randomImage(r: Rng, maxSide: number): PixelImage {
  const width = 1 + r.int(maxSide), height = 1 + r.int(maxSide);
  const kind = r.int(5);
  const channels = (kind === 4 ? 3 : kind + 1) as PixelImage['channels'];
  const data = new Uint8Array(width * height * channels);
  // Smooth shapes with noise, and runs of 0 and 255, as in scans and photos.
  for (let i = 0; i < data.length; i++) data[i] = r.next() < 0.2 ? (r.next() < 0.5 ? 0 : 255) : r.int(256);
  if (kind === 4) for (let i = 0; i < width * height; i++) data[3 * i + 1] = data[3 * i + 2] = data[3 * i];
  return { width, height, channels, data };
}

/** Positions where the two batches differ, as Object.is sees them (−0 and +0 differ). */
function differing(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

test('tfjs preset: pixelBatch equals the implementation before the rewrite, bit for bit (400 random images and sizes, up and down, grey and colour, bilinear and nearest)', () => {
  const r = rng(SEED);
  let up = 0, down = 0, same = 0, grey = 0;
  for (let k = 0; k < 400; k++) {
    const images = Array.from({ length: 1 + r.int(3) }, () => randomImage(r, k < 40 ? 8 : 140));
    const size = k % 25 === 0 ? [images[0].height, images[0].width] : [1 + r.int(k < 40 ? 12 : 300), 1 + r.int(k < 40 ? 12 : 300)];
    const ranges: Array<[number, number]> = [[0, 1], [-1, 1], [0, 255], [1, 0], [-0, -1]]; // the last gives −0, which the old copy turned to +0
    const p: Preprocessing = { ...nsfwjsPreprocessing(size[0]), width: size[1], range: ranges[r.int(5)], resize: r.next() < 0.2 ? 'nearest' : 'bilinear' };
    const layout: Layout = r.next() < 0.5 ? 'nchw' : 'nhwc';
    assert.equal(differing(pixelBatch(images, p, layout), referencePixelBatch(images, p, layout)), 0, `case ${k}: ${images.map((i) => `${i.width}×${i.height}×${i.channels}`).join(', ')} → ${p.height}×${p.width} ${p.resize} ${layout} range ${p.range}`);
    for (const i of images) {
      if (i.height === p.height && i.width === p.width) same++; else if (i.height * i.width < p.height * p.width) up++; else down++;
      if (i.channels <= 2) grey++;
    }
  }
  assert.ok(up > 100 && down > 100 && same > 10 && grey > 100, `cases: ${up} up, ${down} down, ${same} same size, ${grey} grey`);
});

test('the other presets keep their outputs (torchvision, keras, clip, custom mean and std; 60 random cases)', () => {
  const r = rng(SEED + 1);
  for (let k = 0; k < 60; k++) {
    const images = Array.from({ length: 1 + r.int(2) }, () => randomImage(r, 120));
    const size: [number, number] = [8 + r.int(120), 8 + r.int(120)];
    const presets: Preprocessing[] = [
      presetPreprocessing('torchvision', size), presetPreprocessing('keras', size), presetPreprocessing('clip', size),
      { ...presetPreprocessing('keras', size), mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7], resize: 'nearest' },
    ];
    const p = presets[k % presets.length];
    const layout: Layout = k % 2 === 0 ? 'nchw' : 'nhwc';
    assert.equal(differing(pixelBatch(images, p, layout), referencePixelBatch(images, p, layout)), 0, `case ${k}: ${p.preset} ${p.height}×${p.width}`);
  }
});

test('pixelBatch writes into a given array (a fixed batch padded with zeros) and refuses one too short', () => {
  const img: PixelImage = { width: 3, height: 2, channels: 1, data: Uint8Array.of(0, 51, 102, 153, 204, 255) };
  const p = nsfwjsPreprocessing(4);
  const out = new Float32Array(2 * 3 * 16).fill(7);
  assert.equal(pixelBatch([img], p, 'nchw', out), out);
  assert.deepEqual(out.subarray(0, 48), pixelBatch([img], p, 'nchw'));
  assert.ok(out.subarray(48).every((v) => v === 7), 'the rest is left as it was');
  assert.throws(() => pixelBatch([img, img], p, 'nchw', new Float32Array(95)), /out holds 95 values; 2 images of 3×4×4 need 96/);
});
