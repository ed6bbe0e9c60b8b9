/**
 * Feature vectors brought as text: CSV and JSON lines, so that users of other stacks can bring
 * their own vectors. Browser-safe (strings in, matrices out).
 *
 * CSV: a header row is required. Columns named `label` and `path` (case-insensitive) hold the
 * label and the source of each row; every other column is a feature and must be numeric.
 * Labels read from CSV are strings. Fields may be quoted with `"` (RFC 4180).
 *
 * JSON lines: one object per non-empty line, `{"x": [numbers], "label": "cat", "path": "..."}`;
 * `x` is required, `label` (string or number, kept as given) and `path` are optional but must
 * be present on all rows or none.
 */
import type { Matrix } from '../linalg/matrix.ts';
import type { Label } from '../model/types.ts';

/** Vectors with their labels and sources, as read from a text file. */
export interface TextFeatures {
  X: Matrix;
  /** One per row, or empty when the file has no labels. */
  labels: Label[];
  /** One per row, or undefined when the file has no paths. */
  paths?: string[];
}

/** Splits one CSV line into fields (RFC 4180 quoting, no embedded newlines). */
export function splitCsvLine(line: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new RangeError(`${where}: unterminated quoted field`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') { v += '"'; i += 2; continue; }
          i++;
          break;
        }
        v += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new RangeError(`${where}: text after a closing quote`);
      out.push(v);
    } else {
      const j = line.indexOf(',', i);
      out.push((j < 0 ? line.slice(i) : line.slice(i, j)).trim());
      i = j < 0 ? line.length : j;
    }
    if (i >= line.length) break;
    i++; // the comma
    if (i === line.length) { out.push(''); break; }
  }
  return out;
}

function lines(text: string): Array<{ n: number; line: string }> {
  const out: Array<{ n: number; line: string }> = [];
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let k = 0; k < raw.length; k++) if (raw[k].trim() !== '') out.push({ n: k + 1, line: raw[k] });
  return out;
}

/**
 * Parses CSV features (header required; `label`/`path` columns optional).
 * @param name - file name used in messages.
 * @throws RangeError naming the line and column of a non-numeric value, a short or long row,
 *   a missing header, or a file without feature columns.
 * @example
 * parseCsvFeatures('f0,f1,label\n1,2,a\n3,4,b\n').labels // ['a', 'b']
 */
export function parseCsvFeatures(text: string, name = 'csv'): TextFeatures {
  const ls = lines(text);
  if (ls.length === 0) throw new RangeError(`${name}: empty file (expected a header row and one row per sample)`);
  const header = splitCsvLine(ls[0].line, `${name}, line ${ls[0].n}`);
  if (header.every((h) => h !== '' && Number.isFinite(Number(h)))) {
    throw new RangeError(`${name}: the first line is numeric; a header row is required (feature column names, optionally "label" and "path")`);
  }
  const lower = header.map((h) => h.toLowerCase());
  const li = lower.indexOf('label');
  const pi = lower.indexOf('path');
  const featureCols = header.map((_, j) => j).filter((j) => j !== li && j !== pi);
  if (featureCols.length === 0) throw new RangeError(`${name}: no feature columns (the header has only ${header.join(', ')})`);
  const rows = ls.length - 1;
  if (rows === 0) throw new RangeError(`${name}: no data rows after the header`);
  const cols = featureCols.length;
  const data = new Float32Array(rows * cols);
  const labels: Label[] = [];
  const paths: string[] = [];
  for (let r = 0; r < rows; r++) {
    const { n, line } = ls[r + 1];
    const where = `${name}, line ${n}`;
    const f = splitCsvLine(line, where);
    if (f.length !== header.length) {
      throw new RangeError(`${where}: ${f.length} fields, but the header has ${header.length}`);
    }
    for (let c = 0; c < cols; c++) {
      const s = f[featureCols[c]];
      const v = s === '' ? NaN : Number(s);
      if (!Number.isFinite(v)) {
        throw new RangeError(`${where}, column "${header[featureCols[c]]}": "${s}" is not a finite number`);
      }
      data[r * cols + c] = v;
    }
    if (li >= 0) labels.push(f[li]);
    if (pi >= 0) paths.push(f[pi]);
  }
  return { X: { data, rows, cols }, labels, paths: pi >= 0 ? paths : undefined };
}

/**
 * Parses JSON-lines features: one `{"x": [...], "label"?: ..., "path"?: ...}` per line.
 * @throws RangeError naming the line of invalid JSON, a missing or non-numeric `x`, a length
 *   different from the first row's, or a label/path present on some rows only.
 * @example
 * parseJsonlFeatures('{"x":[1,2],"label":3}\n{"x":[3,4],"label":4}').labels // [3, 4]
 */
export function parseJsonlFeatures(text: string, name = 'jsonl'): TextFeatures {
  const ls = lines(text);
  if (ls.length === 0) throw new RangeError(`${name}: empty file (expected one JSON object per line)`);
  let cols = -1;
  let data = new Float32Array(0);
  const labels: Label[] = [];
  const paths: string[] = [];
  let hasLabel = false;
  let hasPath = false;
  for (let r = 0; r < ls.length; r++) {
    const { n, line } = ls[r];
    const where = `${name}, line ${n}`;
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
    if (r === 0) {
      cols = x.length;
      if (cols === 0) throw new RangeError(`${where}: "x" is empty`);
      data = new Float32Array(ls.length * cols);
      hasLabel = 'label' in rec;
      hasPath = 'path' in rec;
    } else if (x.length !== cols) {
      throw new RangeError(`${where}: "x" has ${x.length} values, the first row has ${cols}`);
    }
    for (let c = 0; c < cols; c++) {
      const v = x[c];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new RangeError(`${where}: x[${c}] is ${JSON.stringify(v)}; expected a finite number`);
      }
      data[r * cols + c] = v;
    }
    if (('label' in rec) !== hasLabel) throw new RangeError(`${where}: "label" must be on every row or on none`);
    if (('path' in rec) !== hasPath) throw new RangeError(`${where}: "path" must be on every row or on none`);
    if (hasLabel) {
      const l = rec.label;
      if (typeof l !== 'string' && typeof l !== 'number') {
        throw new RangeError(`${where}: "label" is ${JSON.stringify(l)}; expected a string or a number`);
      }
      labels.push(l);
    }
    if (hasPath) {
      if (typeof rec.path !== 'string') throw new RangeError(`${where}: "path" must be a string`);
      paths.push(rec.path);
    }
  }
  return { X: { data, rows: ls.length, cols }, labels, paths: hasPath ? paths : undefined };
}
