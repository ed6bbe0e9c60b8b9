/** Decoding image files (PNG, JPEG, …) to pixels in Node, with `sharp`. */
import sharp from 'sharp';
import { BadImageError } from '../data/images.ts';
import type { PixelImage } from './preprocess.ts';

// One libvips thread per JS thread: the cores are shared with the network (and other workers).
sharp.concurrency(1);

/**
 * Decodes an image file's bytes to interleaved 8-bit pixels (channels as stored, 1–4).
 * @param where - the file path, for the error message.
 * @throws BadImageError naming `where` when the bytes are not a readable image.
 */
export async function decodeImage(bytes: Uint8Array, where: string): Promise<PixelImage> {
  try {
    const { data, info } = await sharp(bytes).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels as PixelImage['channels'], data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new BadImageError(where, `not a readable image (${(e as Error).message})`);
  }
}
