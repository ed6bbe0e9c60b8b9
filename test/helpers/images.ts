/**
 * Small image folders made on the fly for dataset and extraction tests (PNG files from sharp),
 * in a fresh temporary directory that the caller removes.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

/** A w×h grey PNG whose pixel (x, y) is (seed·37 + x·11 + y·5) mod 256. */
export async function greyPng(seed: number, w = 16, h = 16): Promise<Buffer> {
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = (seed * 37 + x * 11 + y * 5) % 256;
  return sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
}

/**
 * A w×h RGB PNG whose three channels are different pictures: red rises left to right, green top
 * to bottom, blue is a disc in the lower right. A channel swapped, dropped or replicated on the
 * way into a network changes its input.
 */
export async function colourPng(w: number, h: number): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 3 * (y * w + x);
      px[o] = Math.round((255 * x) / (w - 1));
      px[o + 1] = Math.round((255 * y) / (h - 1));
      px[o + 2] = (x - 0.7 * w) ** 2 + (y - 0.65 * h) ** 2 < (0.25 * Math.min(w, h)) ** 2 ? 230 : 20;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** Makes a temporary folder holding `files` (relative path → bytes or text). */
export function makeTree(files: Record<string, Uint8Array | string>): string {
  const root = mkdtempSync(join(tmpdir(), 'protolens-img-'));
  for (const [rel, data] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, data);
  }
  return root;
}
