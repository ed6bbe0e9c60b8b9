/**
 * Zip archives held in memory, read one entry at a time with bounded inflation. Browser-safe.
 *
 * The central directory is read first (names, methods, declared sizes, CRCs; zip64 included),
 * nothing is inflated until an entry is asked for, and an entry is inflated in 16 KB pieces
 * while its output is counted: an entry that declares more than {@link MAX_ZIP_ENTRY} bytes is
 * refused before any work, one that inflates past its declared size is stopped there, and the
 * result is checked against the declared size and CRC-32. So a 3 MB archive whose one entry
 * inflates to 3 GB costs at most its declared size (or the limit), never 3 GB.
 *
 * Format reference: PKWARE APPNOTE.TXT 6.3 (sections 4.3.7 local header, 4.3.12 central
 * directory, 4.3.14–4.3.16 zip64 end records, 4.5.3 zip64 extra field).
 */
import { Inflate } from 'fflate';

/** Largest uncompressed entry read (an image file is far smaller). */
export const MAX_ZIP_ENTRY = 256 * 2 ** 20;

/** One entry of the central directory. */
export interface ZipEntry {
  /** The name as stored ("/"-separated). */
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the local header. */
  offset: number;
}

/** An entry that cannot be read, and why (a sentence without the entry's name). */
export class ZipEntryError extends Error {
  constructor(readonly entry: string, readonly reason: string) {
    super(`${entry}: ${reason}`);
    this.name = 'ZipEntryError';
  }
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as zip uses), continued from `crc` (0 to start). */
export function crc32(b: Uint8Array, crc = 0): number {
  let c = ~crc;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const u16 = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 2 ** 24;
const u64 = (b: Uint8Array, o: number): number => u32(b, o) + u32(b, o + 4) * 2 ** 32;

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/** Where the central directory is and how many entries it says it holds. */
function endRecord(b: Uint8Array, name: string): { count: number; offset: number; size: number } {
  const bad = (why: string): never => { throw new RangeError(`${name}: not a readable zip archive (${why})`); };
  let e = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--) {
    if (b[i] === 0x50 && u32(b, i) === 0x06054b50) { e = i; break; }
  }
  if (e < 0) bad('no end-of-central-directory record');
  let count = u16(b, e + 10), size = u32(b, e + 12), offset = u32(b, e + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const loc = e - 20;
    if (loc < 0 || u32(b, loc) !== 0x07064b50) bad('zip64 sizes without a zip64 locator');
    const z = u64(b, loc + 8);
    if (z + 56 > b.length || u32(b, z) !== 0x06064b50) bad('zip64 end record missing');
    count = u64(b, z + 32); size = u64(b, z + 40); offset = u64(b, z + 48);
  }
  if (offset + size > b.length) bad(`the central directory (${size} bytes at ${offset}) lies beyond the end of the file (${b.length} bytes): truncated?`);
  if (count > size / 46) bad(`the central directory claims ${count} entries in ${size} bytes`);
  return { count, offset, size };
}

/** Applies a zip64 extra field (id 1) to an entry whose 32-bit fields are saturated. */
function zip64Extra(b: Uint8Array, from: number, to: number, e: ZipEntry): void {
  for (let o = from; o + 4 <= to;) {
    const id = u16(b, o), len = u16(b, o + 2);
    if (id === 1) {
      let p = o + 4;
      const end = Math.min(o + 4 + len, to);
      if (e.size === 0xffffffff && p + 8 <= end) { e.size = u64(b, p); p += 8; }
      if (e.compressedSize === 0xffffffff && p + 8 <= end) { e.compressedSize = u64(b, p); p += 8; }
      if (e.offset === 0xffffffff && p + 8 <= end) e.offset = u64(b, p);
      return;
    }
    o += 4 + len;
  }
}

/**
 * The entries of a zip archive's central directory (files and folders), in stored order.
 * @throws RangeError naming `name` when the bytes are not a zip archive or its directory is cut short.
 */
export function zipEntries(b: Uint8Array, name: string): ZipEntry[] {
  const { count, offset, size } = endRecord(b, name);
  const out: ZipEntry[] = [];
  const end = offset + size;
  let o = offset;
  for (let k = 0; k < count; k++) {
    if (o + 46 > end || u32(b, o) !== 0x02014b50) {
      throw new RangeError(`${name}: not a readable zip archive (central directory entry ${k} of ${count} is damaged)`);
    }
    const flags = u16(b, o + 8), nameLen = u16(b, o + 28), extraLen = u16(b, o + 30), commentLen = u16(b, o + 32);
    if (o + 46 + nameLen + extraLen + commentLen > end) {
      throw new RangeError(`${name}: not a readable zip archive (central directory entry ${k} runs past the directory)`);
    }
    const raw = b.subarray(o + 46, o + 46 + nameLen);
    const e: ZipEntry = {
      name: (flags & 0x800 ? utf8 : latin1).decode(raw),
      method: u16(b, o + 10), flags, crc: u32(b, o + 16),
      compressedSize: u32(b, o + 20), size: u32(b, o + 24), offset: u32(b, o + 42),
    };
    zip64Extra(b, o + 46 + nameLen, o + 46 + nameLen + extraLen, e);
    out.push(e);
    o += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/**
 * The bytes of one entry, inflated with the limits described above.
 * @param limit - largest uncompressed size accepted (default {@link MAX_ZIP_ENTRY}).
 * @throws ZipEntryError saying why: encrypted, an unknown method, a declared size beyond the
 *   limit, data beyond the archive's end, inflation past the declared size, a size or CRC mismatch.
 * @example
 * readZipEntry(bytes, zipEntries(bytes, 'x.zip')[0]) // Uint8Array of the first entry
 */
export function readZipEntry(b: Uint8Array, e: ZipEntry, limit = MAX_ZIP_ENTRY): Uint8Array {
  const fail = (why: string): never => { throw new ZipEntryError(e.name, why); };
  if (e.flags & 1) fail('encrypted in the archive');
  if (e.method !== 0 && e.method !== 8) fail(`stored with compression method ${e.method} (only stored and deflated entries are read)`);
  if (e.size > limit) {
    fail(`declares ${(e.size / 2 ** 20).toFixed(0)} MB uncompressed; entries over ${limit / 2 ** 20} MB are refused (a zip bomb?)`);
  }
  if (e.offset + 30 > b.length || u32(b, e.offset) !== 0x04034b50) fail('its local header is missing or damaged');
  const start = e.offset + 30 + u16(b, e.offset + 26) + u16(b, e.offset + 28);
  if (start + e.compressedSize > b.length) fail('its data runs past the end of the archive (truncated?)');
  const data = b.subarray(start, start + e.compressedSize);
  let out: Uint8Array = new Uint8Array(0);
  if (e.method === 0) {
    if (e.compressedSize !== e.size) fail(`stored with ${e.compressedSize} bytes but declares ${e.size}`);
    out = data.slice();
  } else {
    // Deflate cannot expand more than 1032:1; a larger claim is a lie, refused before any work.
    if (e.size > 1032 * e.compressedSize + 1024) fail(`declares ${e.size} bytes from ${e.compressedSize} compressed bytes, more than deflate can produce (damaged)`);
    // Pieces as they come, so memory follows what the data really inflates to, not what it claims.
    const pieces: Uint8Array[] = [];
    let got = 0;
    const inf = new Inflate((chunk) => {
      if (got + chunk.length > e.size) fail(`inflates beyond its declared ${e.size} bytes (damaged, or a zip bomb); stopped there`);
      pieces.push(chunk);
      got += chunk.length;
    });
    const STEP = 16384;
    try {
      for (let p = 0; p < data.length; p += STEP) inf.push(data.subarray(p, Math.min(p + STEP, data.length)), p + STEP >= data.length);
      if (data.length === 0) inf.push(new Uint8Array(0), true);
    } catch (err) {
      if (err instanceof ZipEntryError) throw err;
      fail(`its compressed data is damaged (${(err as Error).message})`);
    }
    if (got !== e.size) fail(`inflates to ${got} bytes but declares ${e.size} (damaged)`);
    out = pieces.length === 1 ? pieces[0] : new Uint8Array(got);
    if (pieces.length !== 1) {
      let o = 0;
      for (const c of pieces) { out.set(c, o); o += c.length; }
    }
  }
  if (crc32(out) !== e.crc) fail('its CRC-32 does not match (damaged in the archive)');
  return out;
}
