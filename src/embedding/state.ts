/**
 * Packing a trainer state (nested objects holding typed arrays) into one JSON header plus one
 * binary blob, and back. Browser-safe. The header records the blob's length and a checksum so
 * that a truncated or mismatched checkpoint is reported instead of silently loaded.
 */

type Typed = Float32Array | Int32Array | Int8Array | Uint8Array;
const TYPES = { f32: Float32Array, i32: Int32Array, i8: Int8Array, u8: Uint8Array } as const;
type TypeName = keyof typeof TYPES;

function typeName(a: Typed): TypeName {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Int8Array) return 'i8';
  return 'u8';
}

/** FNV-1a over the bytes (fast, enough to catch truncation and mix-ups). */
export function checksum(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193); }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Splits `value` into JSON text (typed arrays replaced by references) and their bytes. */
export function packState(value: unknown): { json: string; bytes: Uint8Array } {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const json = JSON.stringify(value, (_k, v: unknown) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const a = v as Typed;
      const pad = (8 - (offset % 8)) % 8;
      if (pad) { parts.push(new Uint8Array(pad)); offset += pad; }
      const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
      parts.push(b);
      const ref = { $bin: typeName(a), offset, length: a.length };
      offset += b.length;
      return ref;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return { $num: String(v) };
    return v;
  });
  const bytes = new Uint8Array(offset);
  let o = 0;
  for (const p of parts) { bytes.set(p, o); o += p.length; }
  return { json, bytes };
}

/**
 * Rebuilds what {@link packState} split.
 * @throws RangeError when a reference points outside the bytes.
 */
export function unpackState<T>(json: string, bytes: Uint8Array): T {
  return JSON.parse(json, (_k, v: unknown) => {
    if (v && typeof v === 'object' && '$bin' in v) {
      const r = v as { $bin: TypeName; offset: number; length: number };
      const T = TYPES[r.$bin];
      if (T === undefined) throw new RangeError(`unknown array type ${String(r.$bin)}`);
      const end = r.offset + r.length * T.BYTES_PER_ELEMENT;
      if (!(r.offset >= 0 && end <= bytes.length)) throw new RangeError(`array at ${r.offset}..${end} lies outside the ${bytes.length} data bytes`);
      return new T(bytes.slice(r.offset, end).buffer);
    }
    if (v && typeof v === 'object' && '$num' in v) return Number((v as { $num: string }).$num);
    return v;
  }) as T;
}
