/**
 * Small image folders made on the fly for dataset and extraction tests (PNG files from sharp),
 * in a fresh temporary directory that the caller removes.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { zlibSync } from 'fflate';
import { crc32 } from '../../src/data/zip.ts';

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

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * A PNG whose header declares w×h RGB pixels but whose data holds a few bytes (67 bytes in all):
 * what a decoder would allocate for comes from the header alone.
 */
export function declaredPng(w: number, h: number): Buffer {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk('IHDR', ihdr), pngChunk('IDAT', zlibSync(new Uint8Array(16))), pngChunk('IEND', new Uint8Array(0))]);
}
