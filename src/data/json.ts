/**
 * JSON from files, with bounds: nesting depth is limited (a line nested 200,000 levels deep is
 * refused by name instead of exhausting the stack), and {@link parseJsonBytes} reads straight
 * from the file's bytes, storing every array of numbers as one Float64Array sized by a scan
 * ahead, so a model file of 100 million "0," costs 8 bytes per number instead of the ~27 that
 * `JSON.parse` spends (2.7 GB for 200 MB). Browser-safe: bytes and strings in, values out.
 *
 * Grammar: RFC 8259, as strictly as `JSON.parse` (no leading zeros, no trailing commas, no NaN);
 * a leading byte-order mark is skipped. A number beyond ±1.8e308 (such as 1e400) is refused by
 * name rather than read as Infinity.
 */

/** Deepest nesting of arrays and objects accepted by default (a saved model nests 4 levels). */
export const MAX_JSON_DEPTH = 64;

/** Where a byte offset falls: 1-based line and column (counted in bytes). */
function position(b: Uint8Array | string, at: number): string {
  let line = 1, col = 1;
  const n = Math.min(at, b.length);
  for (let i = 0; i < n; i++) {
    const c = typeof b === 'string' ? b.charCodeAt(i) : b[i];
    if (c === 10) { line++; col = 1; } else col++;
  }
  return `line ${line}, column ${col}`;
}

/**
 * Throws when JSON text nests arrays and objects more than `maxDepth` levels (brackets inside
 * strings do not count). Linear, allocation-free; run before `JSON.parse` on untrusted text.
 * @param where - names the file (and line) in the message.
 * @throws RangeError naming `where`, the limit and where the limit was passed.
 * @example
 * checkJsonDepth('[[[1]]]', 2, 'x.json') // throws: x.json: JSON nested more than 2 levels deep (at line 1, column 3)
 */
export function checkJsonDepth(text: string | Uint8Array, maxDepth: number, where: string): void {
  let depth = 0, inString = false;
  const str = typeof text === 'string';
  for (let i = 0; i < text.length; i++) {
    const c = str ? (text as string).charCodeAt(i) : (text as Uint8Array)[i];
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > maxDepth) {
        throw new RangeError(`${where}: JSON nested more than ${maxDepth} levels deep (at ${position(text, i)})`);
      }
    } else if (c === 93 || c === 125) depth--;
  }
}

const decoder = new TextDecoder('utf-8');

/** Bytes [from, to) of ASCII text as a string. */
function ascii(b: Uint8Array, from: number, to: number): string {
  if (to - from > 64) return decoder.decode(b.subarray(from, to));
  let s = '';
  for (let k = from; k < to; k++) s += String.fromCharCode(b[k]);
  return s;
}

/** Parser state over bytes. */
class Parser {
  i = 0;
  depth = 0;
  constructor(readonly b: Uint8Array, readonly where: string, readonly maxDepth: number) {}

  fail(what: string, at = this.i): never {
    throw new RangeError(`${this.where}: invalid JSON at ${position(this.b, at)}: ${what}`);
  }

  ws(): void {
    const b = this.b;
    let i = this.i;
    while (i < b.length && (b[i] === 32 || b[i] === 10 || b[i] === 13 || b[i] === 9)) i++;
    this.i = i;
  }

  value(): unknown {
    this.ws();
    const c = this.b[this.i];
    if (c === 123) return this.object();
    if (c === 91) return this.array();
    if (c === 34) return this.string();
    if (c === 45 || (c >= 48 && c <= 57)) return this.number();
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    return this.fail(c === undefined ? 'unexpected end of the file' : `unexpected character ${JSON.stringify(String.fromCharCode(c))}`);
  }

  word(w: string): boolean {
    for (let k = 0; k < w.length; k++) if (this.b[this.i + k] !== w.charCodeAt(k)) return false;
    this.i += w.length;
    return true;
  }

  enter(): void {
    if (++this.depth > this.maxDepth) {
      throw new RangeError(`${this.where}: JSON nested more than ${this.maxDepth} levels deep (at ${position(this.b, this.i)})`);
    }
  }

  object(): Record<string, unknown> {
    this.enter();
    this.i++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.b[this.i] === 125) { this.i++; this.depth--; return out; }
    for (;;) {
      this.ws();
      if (this.b[this.i] !== 34) this.fail('expected a key in double quotes');
      const k = this.string();
      this.ws();
      if (this.b[this.i] !== 58) this.fail('expected ":" after a key');
      this.i++;
      const v = this.value();
      // Like JSON.parse: a later duplicate key wins; "__proto__" is an own property, not the prototype.
      Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
      this.ws();
      const c = this.b[this.i++];
      if (c === 125) break;
      if (c !== 44) this.fail('expected "," or "}" in an object', this.i - 1);
    }
    this.depth--;
    return out;
  }

  /** The number of values of the array starting at `this.i` if they are all numbers, else -1. */
  numericLength(): number {
    const b = this.b;
    let i = this.i + 1, n = 0, item = false;
    for (; i < b.length; i++) {
      const c = b[i];
      if (c === 44) { if (!item) return -1; n++; item = false; } else if (c === 93) return item ? n + 1 : n;
      else if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69) item = true;
      else if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return -1;
    }
    return -1;
  }

  array(): unknown[] | Float64Array {
    this.enter();
    const n = this.numericLength();
    this.i++;
    this.ws();
    if (this.b[this.i] === 93) { this.i++; this.depth--; return []; }
    const out: unknown[] | Float64Array = n > 0 ? new Float64Array(n) : [];
    for (let k = 0; ; k++) {
      const v = this.value();
      if (n > 0) (out as Float64Array)[k] = v as number; else (out as unknown[]).push(v);
      this.ws();
      const c = this.b[this.i++];
      if (c === 93) break;
      if (c !== 44) this.fail('expected "," or "]" in an array', this.i - 1);
    }
    this.depth--;
    return out;
  }

  string(): string {
    const b = this.b;
    const start = ++this.i;
    let i = start, plain = true;
    for (;;) {
      if (i >= b.length) this.fail('unterminated string', start - 1);
      const c = b[i];
      if (c === 34) break;
      if (c < 32) this.fail('control character in a string', i);
      if (c === 92) { plain = false; i += 2; } else i++;
    }
    this.i = i + 1;
    const raw = decoder.decode(b.subarray(start, i));
    if (plain) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return this.fail('bad escape in a string', start);
    }
  }

  number(): number {
    const b = this.b;
    const start = this.i;
    let i = start;
    if (b[i] === 45) i++;
    if (b[i] === 48) i++;
    else if (b[i] >= 49 && b[i] <= 57) while (b[i] >= 48 && b[i] <= 57) i++;
    else this.fail('bad number', start);
    const intEnd = i;
    if (b[i] === 46) {
      i++;
      if (!(b[i] >= 48 && b[i] <= 57)) this.fail('bad number', start);
      while (b[i] >= 48 && b[i] <= 57) i++;
    }
    if (b[i] === 101 || b[i] === 69) {
      i++;
      if (b[i] === 43 || b[i] === 45) i++;
      if (!(b[i] >= 48 && b[i] <= 57)) this.fail('bad number', start);
      while (b[i] >= 48 && b[i] <= 57) i++;
    }
    this.i = i;
    let v: number;
    if (i === intEnd && i - start <= 15) {
      // a plain integer of at most 15 digits: exact in a double, no string needed
      v = 0;
      for (let k = b[start] === 45 ? start + 1 : start; k < i; k++) v = v * 10 + (b[k] - 48);
      if (b[start] === 45) v = -v;
    } else {
      v = Number(ascii(b, start, i));
    }
    if (!Number.isFinite(v)) {
      const text = ascii(b, start, Math.min(i, start + 40)) + (i > start + 40 ? '…' : '');
      this.fail(`the number ${text} is beyond the range of a double (±1.8e308)`, start);
    }
    return v;
  }
}

/**
 * Parses JSON from a file's bytes (UTF-8), keeping memory in proportion to the file: every
 * non-empty array whose values are all numbers becomes a `Float64Array` (allocated once, at its
 * exact length); other values are as `JSON.parse` gives them.
 * @param where - the file name, for messages.
 * @param maxDepth - deepest nesting accepted (default {@link MAX_JSON_DEPTH}).
 * @throws RangeError naming `where`, the line and column and what was expected; or the depth limit;
 *   or a number beyond a double's range.
 * @example
 * parseJsonBytes(new TextEncoder().encode('{"W": [1, 2.5], "k": ["a"]}'), 'm.json')
 * // { W: Float64Array [1, 2.5], k: ['a'] }
 */
export function parseJsonBytes(bytes: Uint8Array, where: string, maxDepth = MAX_JSON_DEPTH): unknown {
  const p = new Parser(bytes, where, maxDepth);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) p.i = 3;
  p.ws();
  if (p.i >= bytes.length) p.fail('the file is empty');
  const v = p.value();
  p.ws();
  if (p.i < bytes.length) p.fail('text after the JSON value');
  return v;
}
