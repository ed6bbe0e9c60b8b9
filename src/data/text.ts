/**
 * Feature vectors brought as text: CSV and JSON lines, so that users of other stacks can bring
 * their own vectors. Browser-safe (strings or bytes in, matrices out).
 *
 * CSV (RFC 4180): a header row is required. Columns named `label` and `path` (case-insensitive)
 * hold the label and the source of each row; every other column is a feature and must hold a
 * decimal number (`1`, `-2.5`, `.5`, `3e-4`; not `0x10`, `0b11`, `Infinity` or `NaN`) within the
 * float32 range. Fields may be quoted with `"`, and a quoted field may hold commas, doubled
 * quotes and line breaks. Unquoted fields are trimmed; blank lines are skipped.
 *
 * JSON lines: one object per non-empty line, `{"x": [numbers], "label": "cat", "path": "..."}`;
 * `x` is required, `label` (string or number, kept as given) and `path` are optional but must
 * be present on all rows or none. A line nested deeper than {@link MAX_JSON_DEPTH} levels is
 * refused before it is parsed.
 *
 * Both readers work on the file's bytes (no string of the whole file) and grow their matrix as
 * rows arrive, so memory follows what the file holds, never what a row claims.
 */
import type { Matrix } from '../linalg/matrix.ts';
import type { Label } from '../model/types.ts';
import { MAX_JSON_DEPTH, checkJsonDepth } from './json.ts';

/** Vectors with their labels and sources, as read from a text file. */
export interface TextFeatures {
  X: Matrix;
  /** One per row, or empty when the file has no labels. */
  labels: Label[];
  /** One per row, or undefined when the file has no paths. */
  paths?: string[];
}

/** One CSV record: its fields and the line it starts on (1-based). */
export interface CsvRecord {
  line: number;
  fields: string[];
}

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

function bytesOf(src: string | Uint8Array): Uint8Array {
  return typeof src === 'string' ? encoder.encode(src) : src;
}

/** Bytes [from, to) as text (a loop for short ASCII runs, which is most of a numeric file). */
function text(b: Uint8Array, from: number, to: number): string {
  if (to - from <= 24) {
    let s = '';
    for (let k = from; k < to; k++) {
      if (b[k] >= 128) return decoder.decode(b.subarray(from, to));
      s += String.fromCharCode(b[k]);
    }
    return s;
  }
  return decoder.decode(b.subarray(from, to));
}

const isSpace = (c: number): boolean => c === 32 || c === 9;

/**
 * The records of a CSV text (RFC 4180: `"` quotes, `""` inside quotes, quoted line breaks; CRLF,
 * LF or CR line ends; a leading byte-order mark skipped). Unquoted fields are trimmed; blank lines
 * are skipped.
 * @param name - the file name, for messages.
 * @throws RangeError naming the line of an unterminated quoted field or of text after a closing quote.
 * @example
 * [...csvRecords('a,"b\nc"\n1,2\n', 'f.csv')] // [{ line: 1, fields: ['a', 'b\nc'] }, { line: 3, fields: ['1', '2'] }]
 */
export function* csvRecords(src: string | Uint8Array, name: string): Generator<CsvRecord> {
  const b = bytesOf(src);
  const n = b.length;
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  let line = 1;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let quotedAny = false;
    for (;;) {
      let j = i;
      while (j < n && isSpace(b[j])) j++;
      if (b[j] === 34) {
        quotedAny = true;
        const openLine = line;
        const parts: string[] = [];
        let from = ++j;
        for (;;) {
          if (j >= n) throw new RangeError(`${name}, line ${openLine}: unterminated quoted field (no closing " before the end of the file)`);
          const c = b[j];
          if (c === 34) {
            parts.push(text(b, from, j));
            if (b[j + 1] === 34) { parts.push('"'); j += 2; from = j; continue; }
            j++;
            break;
          }
          if (c === 10 || (c === 13 && b[j + 1] !== 10)) line++;
          j++;
        }
        while (j < n && isSpace(b[j])) j++;
        if (j < n && b[j] !== 44 && b[j] !== 10 && b[j] !== 13) {
          throw new RangeError(`${name}, line ${line}: text after a closing quote (a quoted field must end at a comma or the end of the line)`);
        }
        fields.push(parts.join(''));
      } else {
        j = i;
        while (j < n && b[j] !== 44 && b[j] !== 10 && b[j] !== 13) j++;
        let s = i, e = j;
        while (s < e && isSpace(b[s])) s++;
        while (e > s && isSpace(b[e - 1])) e--;
        fields.push(text(b, s, e));
      }
      i = j;
      if (b[i] === 44) { i++; continue; }
      // end of the record: a line end or the end of the file
      if (b[i] === 13) i++;
      if (b[i] === 10) i++;
      line++;
      break;
    }
    if (fields.length === 1 && fields[0] === '' && !quotedAny) continue; // blank line
    yield { line: start, fields };
  }
}

/**
 * Splits one CSV line into fields (RFC 4180 quoting; see {@link csvRecords} for whole files).
 * @throws RangeError naming `where` for an unterminated quote or text after a closing quote.
 */
export function splitCsvLine(line: string, where: string): string[] {
  const recs = [...csvRecords(line, where)];
  return recs.length === 0 ? [''] : recs[0].fields;
}

/** A float32 matrix that grows by rows (capacity doubles), so memory follows the rows read. */
class RowBuffer {
  data = new Float32Array(0);
  rows = 0;
  constructor(readonly cols: number) {}
  /** A view of the next row to fill. */
  next(): Float32Array {
    const need = (this.rows + 1) * this.cols;
    if (need > this.data.length) {
      const grown = new Float32Array(Math.max(need, Math.min(2 * this.data.length, this.data.length + (64 << 20)), 16 * this.cols));
      grown.set(this.data.subarray(0, this.rows * this.cols));
      this.data = grown;
    }
    return this.data.subarray(this.rows * this.cols, ++this.rows * this.cols);
  }
  matrix(): Matrix {
    return { data: this.data.slice(0, this.rows * this.cols), rows: this.rows, cols: this.cols };
  }
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A feature value written as text: a decimal number within the float32 range.
 * @returns the value, or the reason it is refused (for the caller's message).
 */
export function decimalValue(s: string): number | string {
  const shown = `"${s.length > 40 ? s.slice(0, 40) + '…' : s}"`;
  if (!DECIMAL.test(s)) return `${shown} is not a finite number (expected decimal notation such as 1, -2.5 or 3e-4)`;
  const v = Number(s);
  if (!Number.isFinite(Math.fround(v))) return `${shown} is not a finite number in float32 (beyond ±3.4e38)`;
  return v;
}

/**
 * Parses CSV features (header required; `label`/`path` columns optional).
 * @param name - file name used in messages.
 * @throws RangeError naming the line and column of a value that is not a decimal number within the
 *   float32 range, a short or long row, a missing header, or a file without feature columns.
 * @example
 * parseCsvFeatures('f0,f1,label\n1,2,a\n3,4,b\n').labels // ['a', 'b']
 */
export function parseCsvFeatures(src: string | Uint8Array, name = 'csv'): TextFeatures {
  const it = csvRecords(src, name);
  const first = it.next();
  if (first.done) throw new RangeError(`${name}: empty file (expected a header row and one row per sample)`);
  const header = first.value.fields;
  if (header.every((h) => typeof decimalValue(h) === 'number')) {
    throw new RangeError(`${name}: the first line is numeric; a header row is required (feature column names, optionally "label" and "path")`);
  }
  const lower = header.map((h) => h.toLowerCase());
  const li = lower.indexOf('label');
  const pi = lower.indexOf('path');
  const featureCols = header.map((_, j) => j).filter((j) => j !== li && j !== pi);
  if (featureCols.length === 0) throw new RangeError(`${name}: no feature columns (the header has only ${header.join(', ')})`);
  const cols = featureCols.length;
  const buf = new RowBuffer(cols);
  const labels: Label[] = [];
  const paths: string[] = [];
  for (const { line, fields: f } of it) {
    const where = `${name}, line ${line}`;
    if (f.length !== header.length) {
      throw new RangeError(`${where}: ${f.length} fields, but the header has ${header.length}`);
    }
    const row = buf.next();
    for (let c = 0; c < cols; c++) {
      const v = decimalValue(f[featureCols[c]]);
      if (typeof v === 'string') throw new RangeError(`${where}, column "${header[featureCols[c]]}": ${v}`);
      row[c] = v;
    }
    if (li >= 0) labels.push(f[li]);
    if (pi >= 0) paths.push(f[pi]);
  }
  if (buf.rows === 0) throw new RangeError(`${name}: no data rows after the header`);
  return { X: buf.matrix(), labels, paths: pi >= 0 ? paths : undefined };
}

/** The non-blank lines of a text, with their 1-based numbers (LF or CRLF ends, BOM skipped). */
function* textLines(src: string | Uint8Array): Generator<{ n: number; line: string }> {
  const b = bytesOf(src);
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  for (let n = 1; i < b.length; n++) {
    let j = b.indexOf(10, i);
    if (j < 0) j = b.length;
    const line = decoder.decode(b.subarray(i, j > i && b[j - 1] === 13 ? j - 1 : j));
    i = j + 1;
    if (line.trim() !== '') yield { n, line };
  }
}

/** A JSON value for a message: numbers beyond a double's range (1e400 reads as Infinity) are named so. */
function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return 'a number beyond the range of a double (such as 1e400)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? s.slice(0, 60) + '…' : s;
}

/**
 * Parses JSON-lines features: one `{"x": [...], "label"?: ..., "path"?: ...}` per line.
 * @throws RangeError naming the line of invalid or too deeply nested JSON, a missing or
 *   non-numeric `x`, a value beyond the float32 range, a length different from the first row's, or
 *   a label/path present on some rows only.
 * @example
 * parseJsonlFeatures('{"x":[1,2],"label":3}\n{"x":[3,4],"label":4}').labels // [3, 4]
 */
export function parseJsonlFeatures(src: string | Uint8Array, name = 'jsonl'): TextFeatures {
  let buf: RowBuffer | undefined;
  const labels: Label[] = [];
  const paths: string[] = [];
  let hasLabel = false;
  let hasPath = false;
  for (const { n, line } of textLines(src)) {
    const where = `${name}, line ${n}`;
    checkJsonDepth(line, MAX_JSON_DEPTH, where);
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new RangeError(`${where}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      throw new RangeError(`${where}: expected an object like {"x": [...], "label": ...}`);
    }
    const rec = o as Record<string, unknown>;
    const x = rec.x;
    if (!Array.isArray(x)) throw new RangeError(`${where}: field "x" (the feature vector) is missing or not an array`);
    if (!buf) {
      if (x.length === 0) throw new RangeError(`${where}: "x" is empty`);
      buf = new RowBuffer(x.length);
      hasLabel = 'label' in rec;
      hasPath = 'path' in rec;
    } else if (x.length !== buf.cols) {
      throw new RangeError(`${where}: "x" has ${x.length} values, the first row has ${buf.cols}`);
    }
    if (('label' in rec) !== hasLabel) throw new RangeError(`${where}: "label" must be on every row or on none`);
    if (('path' in rec) !== hasPath) throw new RangeError(`${where}: "path" must be on every row or on none`);
    for (let c = 0; c < x.length; c++) {
      const v = x[c];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new RangeError(`${where}: x[${c}] is ${shown(v)}; expected a finite number`);
      }
      if (!Number.isFinite(Math.fround(v))) throw new RangeError(`${where}: x[${c}] (${v}) is beyond the float32 range (±3.4e38)`);
    }
    buf.next().set(x as number[]);
    if (hasLabel) {
      const l = rec.label;
      if (typeof l !== 'string' && !(typeof l === 'number' && Number.isFinite(l))) {
        throw new RangeError(`${where}: "label" is ${shown(l)}; expected a string or a finite number`);
      }
      labels.push(l);
    }
    if (hasPath) {
      if (typeof rec.path !== 'string') throw new RangeError(`${where}: "path" must be a string`);
      paths.push(rec.path);
    }
  }
  if (!buf) throw new RangeError(`${name}: empty file (expected one JSON object per line)`);
  return { X: buf.matrix(), labels, paths: hasPath ? paths : undefined };
}
