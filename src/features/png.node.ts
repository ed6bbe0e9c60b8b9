/**
 * A fast path for the PNG files feature extraction meets most: greyscale (1, 2, 4 or 8 bits), RGB,
 * grey + alpha and RGBA (8 bits), not interlaced, with no chunk that changes colours (palette,
 * transparency key, gamma, chromaticities, ICC or sRGB intent, significant bits). Such a file is
 * decoded here with node:zlib: for Omniglot's 105×105 1-bit images this takes a tenth of the CPU
 * time of a sharp pipeline, whose fixed cost (a libvips pipeline and a trip through libuv's thread
 * pool per call) is most of an image's preprocessing (BENCHMARKS.md, "Our share").
 *
 * The pixels are those sharp gives for the same file (test/png.test.ts): sharp outputs sRGB, so
 * grey comes out as three equal channels (grey + alpha as four), and 1-, 2- and 4-bit values are
 * scaled to 0…255. Any other file, and any file that is not exactly well formed (a bad CRC, a
 * truncated or over-long zlib stream, bytes after IEND, an unknown chunk), gives `undefined`: the
 * caller passes it to sharp, which decodes it or refuses it with its own message, as before.
 */
import { inflateSync } from 'node:zlib';
import { crc32 } from '../data/zip.ts';
import type { PixelImage } from './pixels.ts';

/** Images up to this many pixels (512×512) take the fast path; from about 640×480 on, sharp decodes as fast (inflating dominates both). */
export const FAST_PNG_MAX_PIXELS = 262_144;

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Ancillary chunks that do not change the pixels sharp gives: text, time, physical size. */
const INERT = new Set(['tEXt', 'zTXt', 'iTXt', 'tIME', 'pHYs']);

/** Colour types read here, with their channels: 0 grey, 2 RGB, 4 grey + alpha, 6 RGBA. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

interface Header { width: number; height: number; depth: number; colour: number }

/** The header and the concatenated IDAT data, or undefined when the file is not one this path reads. */
function readChunks(bytes: Uint8Array): { h: Header; idat: Uint8Array } | undefined {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let h: Header | undefined;
  const idat: Uint8Array[] = [];
  let at = 8, ended = false;
  while (at < bytes.length && !ended) {
    if (at + 12 > bytes.length) return undefined;
    const len = view.getUint32(at);
    const end = at + 8 + len;
    if (end + 4 > bytes.length || crc32(bytes.subarray(at + 4, end)) !== view.getUint32(end)) return undefined;
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    const data = bytes.subarray(at + 8, end);
    if (type === 'IHDR') {
      if (h || at !== 8 || len !== 13 || data[10] !== 0 || data[11] !== 0 || data[12] !== 0) return undefined;
      h = { width: view.getUint32(at + 8), height: view.getUint32(at + 12), depth: data[8], colour: data[9] };
    } else if (type === 'IDAT') {
      if (!h) return undefined;
      idat.push(data);
    } else if (type === 'IEND') ended = true;
    else if (!INERT.has(type) || !h) return undefined;
    at = end + 4;
  }
  if (!h || !ended || at !== bytes.length || idat.length === 0) return undefined;
  const ok = h.depth === 8 ? h.colour in CHANNELS : h.colour === 0 && (h.depth === 1 || h.depth === 2 || h.depth === 4);
  if (!ok || h.width < 1 || h.height < 1 || h.width * h.height > FAST_PNG_MAX_PIXELS) return undefined;
  return { h, idat: idat.length === 1 ? idat[0] : Buffer.concat(idat) };
}

/** Undoes PNG's per-row filters in place (rows of `stride` bytes after a filter byte; `bpp` bytes per pixel). False on an unknown filter. */
function unfilter(raw: Uint8Array, rows: number, stride: number, bpp: number): boolean {
  for (let y = 0; y < rows; y++) {
    const o = y * (stride + 1) + 1, up = o - stride - 1;
    const filter = raw[o - 1];
    if (filter === 0) continue;
    if (filter > 4) return false;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? raw[o + i - bpp] : 0, b = y > 0 ? raw[up + i] : 0;
      let p: number;
      if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else {
        const c = y > 0 && i >= bpp ? raw[up + i - bpp] : 0;
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      raw[o + i] = (raw[o + i] + p) & 0xff;
    }
  }
  return true;
}

/** Unfiltered rows as sharp's pixels: grey to three channels (grey + alpha to four), low bit depths scaled to 0…255. */
function expand(raw: Uint8Array, h: Header, stride: number): PixelImage {
  const { width: w, height: ht, depth, colour } = h;
  const channels = colour === 0 || colour === 2 ? 3 : 4;
  const out = new Uint8Array(w * ht * channels);
  for (let y = 0, o = 0; y < ht; y++) {
    const r = y * (stride + 1) + 1;
    if (colour === 2 || colour === 6) { out.set(raw.subarray(r, r + stride), o); o += stride; continue; }
    if (colour === 4) {
      for (let x = 0; x < w; x++, o += 4) { const g = raw[r + 2 * x]; out[o] = g; out[o + 1] = g; out[o + 2] = g; out[o + 3] = raw[r + 2 * x + 1]; }
      continue;
    }
    const per = 8 / depth, mask = (1 << depth) - 1, scale = 255 / mask;
    for (let x = 0; x < w; x++, o += 3) {
      const g = depth === 8 ? raw[r + x] : ((raw[r + Math.floor(x / per)] >> (8 - depth * (x % per + 1))) & mask) * scale;
      out[o] = g; out[o + 1] = g; out[o + 2] = g;
    }
  }
  return { width: w, height: ht, channels, data: out };
}

/**
 * Decodes a PNG file on the fast path, or says it cannot (`undefined`: the caller uses sharp).
 * @example
 * decodePngFast(readFileSync('0879_02.png')) // { width: 105, height: 105, channels: 3, data: Uint8Array(33075) }
 */
export function decodePngFast(bytes: Uint8Array): PixelImage | undefined {
  const chunks = readChunks(bytes);
  if (!chunks) return undefined;
  const { h, idat } = chunks;
  const stride = Math.ceil(h.width * CHANNELS[h.colour] * h.depth / 8);
  const bpp = Math.max(1, CHANNELS[h.colour] * h.depth / 8);
  let raw: Uint8Array;
  try {
    const r = inflateSync(idat, { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    if (r.engine.bytesWritten !== idat.length) return undefined; // bytes after the zlib stream
    raw = r.buffer;
  } catch {
    return undefined; // not zlib, truncated, or a bad checksum
  }
  if (raw.length !== h.height * (stride + 1) || !unfilter(raw, h.height, stride, bpp)) return undefined;
  return expand(raw, h, stride);
}
