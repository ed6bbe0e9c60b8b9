/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0) for 2-D float matrices, on plain bytes.
 *
 * Browser-safe: no file access here (see `features.node.ts` for that). We write what
 * `numpy.save` writes for a C-ordered little-endian float32 array, and read float32 or float64
 * in either byte order and either memory order, converting to a row-major float32
 * {@link Matrix}. Anything else (integers, 1-D or 3-D arrays, object arrays) is refused with a
 * message that says what was found and what is expected.
 *
 * Format reference: numpy/lib/format.py (NEP 1): the magic `\x93NUMPY`, a major and minor
 * version byte, a little-endian header length (2 bytes in 1.0, 4 bytes in 2.0/3.0), then a
 * Python-literal dict `{'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }` padded with
 * spaces and ended by a newline so that the data starts on a 64-byte boundary.
 */
import type { Matrix } from '../linalg/matrix.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Longest header read (numpy's own reader refuses more than 10,000 bytes by default). */
export const MAX_NPY_HEADER = 65536;

/** What an `.npy` header says. */
export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset where the data starts. */
  dataOffset: number;
  /** Format version, e.g. "1.0". */
  version: string;
}

/**
 * Encodes a matrix as a version-1.0 `.npy` file (`<f4`, C order, shape (rows, cols)).
 * @example
 * encodeNpy(matrix(new Float32Array([1, 2, 3, 4]), 2, 2)).length // 128 + 16
 */
export function encodeNpy(m: Matrix): Uint8Array {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${m.rows}, ${m.cols}), }`;
  // 6 magic + 2 version + 2 length + dict + padding + '\n' ≡ 0 (mod 64)
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (dict.length > 0xffff) throw new RangeError(`npy: header too long (${dict.length} bytes)`);
  const out = new Uint8Array(10 + dict.length + m.rows * m.cols * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = dict.length & 0xff;
  out[9] = dict.length >> 8;
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  const dv = new DataView(out.buffer, out.byteOffset + 10 + dict.length, m.rows * m.cols * 4);
  const d = m.data;
  for (let k = 0; k < d.length; k++) dv.setFloat32(4 * k, d[k], true);
  return out;
}

/**
 * Reads and validates an `.npy` header.
 * @param name - used in error messages (a file path, say).
 * @throws RangeError when the bytes are not an `.npy` file, the header is malformed or longer than
 *   {@link MAX_NPY_HEADER} bytes (read before anything is allocated for it), or a dimension is not a
 *   plain non-negative integer.
 */
export function parseNpyHeader(bytes: Uint8Array, name = 'npy'): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new RangeError(`${name}: not a .npy file (it does not start with the bytes "\\x93NUMPY")`);
  }
  const major = bytes[6];
  const minor = bytes[7];
  let len: number;
  let start: number;
  if (major === 1) {
    len = bytes[8] | (bytes[9] << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new RangeError(`${name}: truncated .npy header`);
    len = (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
    start = 12;
  } else {
    throw new RangeError(`${name}: unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`);
  }
  if (len > MAX_NPY_HEADER) {
    throw new RangeError(`${name}: .npy header claims ${len} bytes; headers longer than ${MAX_NPY_HEADER} bytes are refused (numpy writes about 128)`);
  }
  if (start + len > bytes.length) throw new RangeError(`${name}: truncated .npy header (needs ${len} bytes)`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + len));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new RangeError(`${name}: malformed .npy header ${JSON.stringify(text.trim())} (expected descr, fortran_order and shape)`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const v = /^\d{1,15}L?$/.test(s) ? Number(s.replace(/L$/, '')) : NaN;
    if (!Number.isSafeInteger(v)) throw new RangeError(`${name}: bad dimension "${s.slice(0, 40)}" in .npy shape (expected a non-negative integer)`);
    return v;
  });
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset: start + len, version: `${major}.${minor}` };
}

/**
 * Decodes a 2-D float32/float64 `.npy` file into a row-major float32 matrix (a copy).
 *
 * @param name - used in error messages.
 * @throws RangeError on a wrong dtype (only `f4`/`f8` in either byte order are read), a shape
 *   that is not 2-D or has no rows or no columns, a data section shorter or longer than the shape
 *   says, or a float64 value beyond the float32 range.
 * @example
 * decodeNpy(encodeNpy(m)) // equal to m
 */
export function decodeNpy(bytes: Uint8Array, name = 'npy'): Matrix {
  const h = parseNpyHeader(bytes, name);
  const m = /^([<>|=])?f([48])$/.exec(h.descr);
  if (!m) {
    throw new RangeError(`${name}: .npy dtype is '${h.descr}'; expected float32 ('<f4') or float64 ('<f8')`);
  }
  const little = m[1] !== '>';
  const size = Number(m[2]);
  if (h.shape.length !== 2) {
    throw new RangeError(`${name}: .npy array has shape (${h.shape.join(', ')}); expected a 2-D array (samples × features)`);
  }
  const [rows, cols] = h.shape as [number, number];
  if (rows === 0 || cols === 0) {
    throw new RangeError(`${name}: .npy array has shape (${rows}, ${cols}); expected at least one sample and one feature`);
  }
  const n = rows * cols;
  const available = bytes.length - h.dataOffset;
  if (available !== n * size) {
    throw new RangeError(`${name}: .npy data has ${available} bytes but shape (${rows}, ${cols}) of '${h.descr}' needs ${n * size}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + h.dataOffset, n * size);
  const data = new Float32Array(n);
  if (size === 4) for (let k = 0; k < n; k++) data[k] = dv.getFloat32(4 * k, little);
  else {
    for (let k = 0; k < n; k++) {
      const v = dv.getFloat64(8 * k, little);
      data[k] = v;
      // a finite double beyond float32's range would silently become Infinity
      if (!Number.isFinite(data[k]) && Number.isFinite(v)) {
        const at = h.fortranOrder ? `row ${k % rows}, column ${Math.floor(k / rows)}` : `row ${Math.floor(k / cols)}, column ${k % cols}`;
        throw new RangeError(`${name}: ${at} is ${v}, beyond the float32 range (±3.4e38) that features are kept in`);
      }
    }
  }
  if (h.fortranOrder && n > 0) {
    // column-major on disk: element (i, j) is at j*rows + i
    const t = new Float32Array(n);
    for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) t[i * cols + j] = data[j * rows + i];
    return { data: t, rows, cols };
  }
  return { data, rows, cols };
}
