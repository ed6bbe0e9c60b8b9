/**
 * Decoding image files (PNG, JPEG, …) to pixels in Node: with `sharp`, except the plain PNGs that
 * `png.node.ts` decodes in a tenth of the time (the same pixels).
 */
import sharp from 'sharp';
import { BadImageError } from '../data/images.ts';
import { decodePngFast } from './png.node.ts';
import type { PixelImage } from './preprocess.ts';

// One libvips thread per JS thread: the cores are shared with the network (and other workers).
sharp.concurrency(1);

/**
 * Largest image decoded, in pixels (50 megapixels, e.g. 8660×5773). Decoding costs about 4 bytes
 * per pixel and preparing the network input 24 more, so a 15000×15000 PNG of 656 KB would need
 * 6 GB; its header is read first and such an image is refused before anything is decoded.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/**
 * Decodes an image file's bytes to interleaved 8-bit pixels (channels as sharp gives them; for
 * PNGs 3, grey included, or 4 with alpha). Plain PNGs up to 512×512 are decoded by `png.node.ts`
 * (sharp's pixels in a tenth of the time), every other file by sharp, whose header is read first:
 * an image of more than {@link MAX_IMAGE_PIXELS} pixels is refused without being decoded.
 * @param where - the file path, for the error message.
 * @throws BadImageError naming `where` when the bytes are not a readable image or the image is too large.
 */
export async function decodeImage(bytes: Uint8Array, where: string): Promise<PixelImage> {
  return decodePngFast(bytes) ?? decodeWithSharp(bytes, where);
}

/**
 * {@link decodeImage} without the PNG fast path: every file through sharp (what protolens did for
 * all files before; bench/onnx.ts compares the two).
 * @throws BadImageError naming `where` when the bytes are not a readable image or the image is too large.
 */
export async function decodeWithSharp(bytes: Uint8Array, where: string): Promise<PixelImage> {
  let size: { width?: number; height?: number };
  try {
    size = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new BadImageError(where, `not a readable image (${(e as Error).message})`);
  }
  const { width = 0, height = 0 } = size;
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new BadImageError(where, `the image is ${width}×${height} pixels (${(width * height / 1e6).toFixed(0)} MP); images up to ${MAX_IMAGE_PIXELS / 1e6} MP are read`);
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels as PixelImage['channels'], data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new BadImageError(where, `not a readable image (${(e as Error).message})`);
  }
}
