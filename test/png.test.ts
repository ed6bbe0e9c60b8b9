/**
 * The PNG fast path (src/features/png.node.ts) gives sharp's pixels, and hands every file it does
 * not read exactly to sharp. PNG files are written here byte by byte (every row filter, bit
 * depths 1 to 8, split IDAT chunks) so that the cases are the ones named, not what an encoder picks.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { rng } from '../src/linalg/random.ts';
import { decodePngFast, FAST_PNG_MAX_PIXELS } from '../src/features/png.node.ts';
import { crc32 } from '../src/data/zip.ts';
import { decodeImage } from '../src/features/decode.node.ts';
import { BadImageError } from '../src/data/images.ts';

const SEED = 16;

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const body = Buffer.concat([head.subarray(4), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

interface PngSpec { width: number; height: number; colour: number; depth: number; interlace?: number; before?: Buffer[]; splitIdat?: boolean; tail?: Buffer }

/** A PNG of random pixels, each row with a random filter byte (the decoder must undo all five). */
function png(s: PngSpec, seed: number): Buffer {
  const r = rng(seed);
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[s.colour]!;
  const stride = Math.ceil(s.width * channels * s.depth / 8);
  const raw = new Uint8Array(s.height * (stride + 1));
  for (let y = 0; y < s.height; y++) {
    raw[y * (stride + 1)] = r.int(5);
    for (let i = 1; i <= stride; i++) raw[y * (stride + 1) + i] = r.int(256);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr.set([s.depth, s.colour, 0, 0, s.interlace ?? 0], 8);
  const z = deflateSync(raw);
  const idat = s.splitIdat ? [chunk('IDAT', z.subarray(0, 10)), chunk('IDAT', z.subarray(10))] : [chunk('IDAT', z)];
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), ...(s.before ?? []), ...idat, chunk('IEND', new Uint8Array(0)), s.tail ?? Buffer.alloc(0)]);
}

async function bySharp(b: Buffer): Promise<{ channels: number; data: Buffer }> {
  const { data, info } = await sharp(b).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { channels: info.channels, data };
}

test('the fast path decodes grey (1, 2, 4, 8 bits), RGB, grey+alpha and RGBA exactly as sharp does', async () => {
  const text = chunk('tEXt', Buffer.from('Comment\0made by protolens\'s test', 'latin1'));
  const cases: PngSpec[] = [];
  for (const [colour, depth] of [[0, 1], [0, 2], [0, 4], [0, 8], [2, 8], [4, 8], [6, 8]]) {
    for (const [width, height] of [[1, 1], [13, 7], [105, 105], [3, 40]]) cases.push({ width, height, colour, depth });
    cases.push({ width: 17, height: 9, colour, depth, splitIdat: true, before: [text] });
  }
  for (const [k, s] of cases.entries()) {
    const b = png(s, SEED + k);
    const ours = decodePngFast(b);
    assert.ok(ours, `case ${k} (colour ${s.colour}, ${s.depth} bits, ${s.width}×${s.height}) took the fast path`);
    const theirs = await bySharp(b);
    assert.deepEqual([ours.width, ours.height, ours.channels], [s.width, s.height, theirs.channels], `case ${k}`);
    assert.ok(Buffer.from(ours.data).equals(theirs.data), `case ${k}: colour ${s.colour}, ${s.depth} bits, ${s.width}×${s.height}: pixels differ from sharp's`);
    assert.deepEqual(await decodeImage(b, `case ${k}`), ours);
  }
});

test('every other file goes to sharp: palette, 16 bits, interlaced, colour chunks, bad CRC, truncated or trailing data, too large', async () => {
  const base: PngSpec = { width: 9, height: 5, colour: 2, depth: 8 };
  const good = png(base, SEED);
  const badCrc = Buffer.from(good);
  badCrc[good.length - 20] ^= 1; // inside the IDAT data: its CRC no longer matches
  const rows = deflateSync(Uint8Array.from({ length: 5 * 28 }, (_, i) => (i % 28 === 0 ? 0 : (i * 131) % 251)));
  const withIdat = (z: Uint8Array): Buffer => Buffer.concat([good.subarray(0, 33), chunk('IDAT', z), good.subarray(good.length - 12)]);
  assert.ok(decodePngFast(withIdat(rows)), 'the rows as they are take the fast path');
  const cut = withIdat(rows.subarray(0, rows.length >> 1));
  const longer = withIdat(Buffer.concat([rows, Buffer.from([1, 2, 3])]));
  const others: Array<[string, Buffer]> = [
    ['palette', png({ ...base, colour: 3, before: [chunk('PLTE', new Uint8Array(768).map((_, i) => i % 256))] }, 1)],
    ['16-bit grey', png({ ...base, colour: 0, depth: 16 }, 2)],
    ['16-bit RGBA', png({ ...base, colour: 6, depth: 16 }, 3)],
    ['interlaced', png({ ...base, interlace: 1 }, 4)],
    ['gAMA', png({ ...base, before: [chunk('gAMA', Uint8Array.of(0, 1, 134, 160))] }, 5)],
    ['tRNS', png({ ...base, colour: 0, before: [chunk('tRNS', Uint8Array.of(0, 7))] }, 6)],
    ['iCCP-like unknown chunk', png({ ...base, before: [chunk('iCCP', Uint8Array.of(1, 0, 0))] }, 7)],
    ['bad CRC', badCrc],
    ['truncated zlib stream', cut],
    ['bytes after the zlib stream', longer],
    ['bytes after IEND', Buffer.concat([good, Buffer.from([0])])],
    ['a JPEG', await sharp(Buffer.alloc(8 * 8 * 3, 100), { raw: { width: 8, height: 8, channels: 3 } }).jpeg().toBuffer()],
    ['more pixels than the fast path takes', png({ width: FAST_PNG_MAX_PIXELS + 1, height: 1, colour: 0, depth: 1 }, 8)],
  ];
  for (const [what, b] of others) assert.equal(decodePngFast(b), undefined, what);
  // Where sharp reads them, decodeImage gives sharp's pixels; where it does not, sharp's error, as before.
  for (const [what, b] of others) {
    let theirs: { channels: number; data: Buffer } | undefined;
    try { theirs = await bySharp(b); } catch { theirs = undefined; }
    if (!theirs) { await assert.rejects(decodeImage(b, what), BadImageError, what); continue; }
    const ours = await decodeImage(b, what);
    assert.ok(ours.channels === theirs.channels && Buffer.from(ours.data).equals(theirs.data), what);
  }
});
