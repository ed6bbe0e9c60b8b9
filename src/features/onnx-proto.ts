/**
 * The protocol-buffers wire format, as much of it as ONNX files need: a reader that walks the
 * fields of a message without copying (length-delimited fields are views into the input), and a
 * writer that builds messages. Browser-safe, no dependency; the ONNX schema on top of it is in
 * `onnx-graph.ts`.
 *
 * Wire format (https://protobuf.dev/programming-guides/encoding/): each field is a varint key
 * `field << 3 | wireType` followed by a varint (type 0), 8 bytes (1), a varint length and that
 * many bytes (2), or 4 bytes (5). Repeated scalars come packed (one type-2 field) or one per field;
 * readers must accept both.
 */

/** Wire types. */
export const VARINT = 0, I64 = 1, LEN = 2, I32 = 5;

/** One field of a message, as read. For LEN fields `bytes` is a view into the message. */
export interface Field {
  no: number;
  wire: number;
  /** The value of a VARINT field, or of an I64 (read as a double) or I32 (read as a float) field. */
  value: number;
  /** The content of a LEN field. */
  bytes: Uint8Array;
  /** Where the field starts and ends in the message (its key included). */
  start: number;
  end: number;
}

/** Thrown when bytes are not a well-formed message; the caller adds which file. */
export class WireError extends RangeError {}

/** A long varint exactly, as a signed int64 (negative ones take ten bytes, two's complement). */
function bigVarint(b: Uint8Array, from: number, to: number): number {
  let v = 0n;
  for (let p = to - 1; p >= from; p--) v = (v << 7n) | BigInt(b[p] & 0x7f);
  return Number(BigInt.asIntN(64, v));
}

/** A varint read at `pos`: its value (exact up to 2^53, two's complement for negative int64) and its end. */
function varint(b: Uint8Array, pos: number): [number, number] {
  let v = 0, mul = 1, p = pos;
  for (let k = 0; k < 10; k++) {
    if (p >= b.length) throw new WireError(`varint runs past the end at byte ${pos}`);
    const c = b[p++];
    v += (c & 0x7f) * mul;
    if (c < 0x80) return [k >= 7 ? bigVarint(b, pos, p) : v, p];
    mul *= 128;
  }
  throw new WireError(`varint longer than 10 bytes at byte ${pos}`);
}

/**
 * The fields of a message in order.
 * @throws WireError on a truncated field or an unknown wire type (what a file that is not protobuf gives).
 * @example
 * [...fields(Uint8Array.of(8, 150, 1))] // [{ no: 1, wire: 0, value: 150, … }]
 */
export function* fields(b: Uint8Array): Generator<Field> {
  let p = 0;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (p < b.length) {
    const start = p;
    const [key, q] = varint(b, p);
    p = q;
    const no = Math.floor(key / 8), wire = key % 8;
    if (no < 1) throw new WireError(`field number 0 at byte ${start}`);
    let value = 0, bytes: Uint8Array = EMPTY;
    if (wire === VARINT) [value, p] = varint(b, p);
    else if (wire === I64) {
      if (p + 8 > b.length) throw new WireError(`8-byte field ${no} runs past the end at byte ${start}`);
      value = view.getFloat64(p, true);
      p += 8;
    } else if (wire === I32) {
      if (p + 4 > b.length) throw new WireError(`4-byte field ${no} runs past the end at byte ${start}`);
      value = view.getFloat32(p, true);
      p += 4;
    } else if (wire === LEN) {
      const [len, r] = varint(b, p);
      if (len < 0 || r + len > b.length) throw new WireError(`field ${no} of ${len} bytes runs past the end at byte ${start}`);
      bytes = b.subarray(r, r + len);
      p = r + len;
    } else throw new WireError(`unknown wire type ${wire} (field ${no}) at byte ${start}`);
    yield { no, wire, value, bytes, start, end: p };
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);
const utf8 = new TextDecoder();

/** A LEN field as UTF-8 text. */
export function text(f: Field): string {
  return utf8.decode(f.bytes);
}

/** The values of a repeated int64/int32 field, packed (one LEN field) or not (one VARINT). */
export function ints(f: Field): number[] {
  if (f.wire === VARINT) return [f.value];
  const out: number[] = [];
  for (let p = 0; p < f.bytes.length;) {
    const [v, q] = varint(f.bytes, p);
    out.push(v);
    p = q;
  }
  return out;
}

/** The values of a repeated float field, packed or not. */
export function floats(f: Field): number[] {
  if (f.wire === I32) return [f.value];
  const v = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  return Array.from({ length: f.bytes.length >> 2 }, (_, i) => v.getFloat32(4 * i, true));
}

/** Builds a message; nested messages are written by a callback on a child writer. */
export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  private rawVarint(v: number): void {
    this.room(10);
    if (v < 0) {
      // int64 two's complement, ten bytes.
      let x = BigInt.asUintN(64, BigInt(v));
      for (let k = 0; k < 9; k++) { this.buf[this.len++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
      this.buf[this.len++] = Number(x);
      return;
    }
    if (!Number.isSafeInteger(v)) throw new RangeError(`varint ${v} is not a safe integer`);
    while (v >= 0x80) { this.buf[this.len++] = (v % 128) | 0x80; v = Math.floor(v / 128); }
    this.buf[this.len++] = v;
  }

  private key(no: number, wire: number): void {
    this.rawVarint(no * 8 + wire);
  }

  /** An int32/int64/enum/bool field. */
  varint(no: number, v: number): this {
    this.key(no, VARINT);
    this.rawVarint(v);
    return this;
  }

  /** A float field. */
  float(no: number, v: number): this {
    this.key(no, I32);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.len, v, true);
    this.len += 4;
    return this;
  }

  /** A bytes field. */
  bytes(no: number, b: Uint8Array): this {
    this.key(no, LEN);
    this.rawVarint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** A string field (UTF-8). */
  string(no: number, s: string): this {
    return this.bytes(no, new TextEncoder().encode(s));
  }

  /** A packed repeated int64 field. */
  packedInts(no: number, v: readonly number[]): this {
    const w = new Writer();
    for (const x of v) w.rawVarint(x);
    return this.bytes(no, w.finish());
  }

  /** A packed repeated float field. */
  packedFloats(no: number, v: readonly number[]): this {
    const f = Float32Array.from(v);
    return this.bytes(no, new Uint8Array(f.buffer));
  }

  /** An embedded message written by `build`. */
  message(no: number, build: (w: Writer) => void): this {
    const w = new Writer();
    build(w);
    return this.bytes(no, w.finish());
  }

  /** Bytes copied as they are (fields taken from another message). */
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** The message so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
