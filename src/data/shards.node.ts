/**
 * Feature shards: one part of a data set's features, written by `protolens extract --shard i/n`
 * as an Arrow IPC file (`.arrow`, the format Feather v2 uses), so that shards computed by separate
 * processes or machines are read as one feature set — by protolens (a folder of shards is a
 * feature file, see {@link readShardFolder}) and by pandas (`read_feather`), polars (`read_ipc`),
 * pyarrow and DuckDB (through a pyarrow table).
 *
 * Columns: `label` (utf8, or float64 for numeric labels), `path` (utf8), `x` (fixed-size list of
 * `cols` float32). The schema's metadata key `protolens` holds JSON:
 * `{"format": "protolens-features-shard", "version": 1, "shard": {"index": i, "count": n, "rows": r, "total": N}, "meta": {…}}`
 * where `meta` is what a feature sidecar's `meta` holds (backbone, preprocessing, data set).
 * See docs/scale.md.
 */
import { readdirSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RecordBatchReader, type AsyncRecordBatchFileReader, type Vector,
  Field, FixedSizeList, Float32, Float64, RecordBatch, Schema, Struct, Table, Utf8, makeData, tableFromIPC, tableToIPC, vectorFromArray,
} from 'apache-arrow';
import type { FeatureMeta, FeatureSet } from './featurefile.ts';
import { checkFeatureSet } from './featurefile.ts';
import { readInputFile } from './files.node.ts';
import { writeFileAtomicSync } from './atomic.node.ts';
import { checkOutputFile, type OutputCheck } from './outputs.node.ts';
import type { Label } from '../model/types.ts';
import type { Chunk, ChunkSource } from '../model/streamed.ts';
import { rng, shuffled } from '../linalg/random.ts';
import { VERSION } from '../version.ts';

export const SHARD_FORMAT = 'protolens-features-shard';

/** Which part of a data set a shard holds. */
export interface ShardSpec {
  /** 0-based. */
  index: number;
  count: number;
}

/**
 * Reads `i/n` (0 ≤ i < n), as given to `--shard`.
 * @throws RangeError saying what was expected.
 * @example
 * parseShard('2/8') // { index: 2, count: 8 }
 */
export function parseShard(s: string): ShardSpec {
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(s.trim());
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new RangeError(`shard "${s}": expected i/n with 0 ≤ i < n (e.g. 0/8 … 7/8)`);
  return { index, count };
}

/**
 * The rows [start, end) of shard i of n over `total` rows: contiguous, in order, sizes differing by at most one.
 * @example
 * shardRange(10, { index: 2, count: 3 }) // [6, 10]
 */
export function shardRange(total: number, s: ShardSpec): [number, number] {
  return [Math.floor((total * s.index) / s.count), Math.floor((total * (s.index + 1)) / s.count)];
}

/**
 * The bytes of a shard file.
 * @param total - rows in the whole data set (recorded, so a folder of shards can be checked complete).
 * @param batchRows - rows per record batch (the unit a streamed fit reads). Default SHARD_BATCH_ROWS.
 */
export function encodeShard(fs: FeatureSet, shard: ShardSpec, total: number, batchRows = SHARD_BATCH_ROWS): Uint8Array {
  const { X, labels, paths } = fs;
  checkFeatureSet(fs, 'shard');
  const numeric = labels.length > 0 && labels.every((l) => typeof l === 'number');
  if (!numeric && labels.some((l) => typeof l === 'number')) throw new TypeError('shard: labels mix numbers and strings; use one type');
  const n = X.rows;
  const labelVec = numeric ? vectorFromArray(labels as number[], new Float64()) : vectorFromArray(labels.length ? (labels as string[]) : new Array<string>(n).fill(''), new Utf8());
  const pathVec = vectorFromArray(paths ?? new Array<string>(n).fill(''), new Utf8());
  const xType = new FixedSizeList(X.cols, new Field('item', new Float32(), false));
  const x = makeData({ type: xType, length: n, nullCount: 0, child: makeData({ type: new Float32(), length: n * X.cols, data: X.data }) });
  const fields = [new Field('label', labelVec.type, false), new Field('path', new Utf8(), false), new Field('x', xType, false)];
  const head = {
    format: SHARD_FORMAT, version: 1, shard: { ...shard, rows: n, total }, hasLabels: labels.length > 0, hasPaths: paths !== undefined,
    meta: { library: `protolens ${VERSION}`, created: new Date().toISOString(), ...fs.meta, source: undefined },
  };
  const schema = new Schema(fields, new Map([['protolens', JSON.stringify(head)]]));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children: [labelVec.data[0], pathVec.data[0], x] }));
  // Record batches of SHARD_BATCH_ROWS rows, so that a streamed fit can read a shard in parts.
  const batches: RecordBatch[] = [];
  for (let a = 0; a < n; a += batchRows) batches.push(n <= batchRows ? batch : batch.slice(a, Math.min(n, a + batchRows)));
  return tableToIPC(new Table(schema, batches), 'file');
}

/** Rows per record batch in the shards protolens writes: the unit a streamed fit reads (src/model/streamed.ts). */
export const SHARD_BATCH_ROWS = 1024;

/**
 * Writes one shard atomically where protolens may write (src/data/outputs.node.ts).
 * @throws RangeError when the path does not end in `.arrow`; OutputRefusedError as the output rules say.
 * @example
 * writeShard('shards/part-2-of-8.arrow', features, { index: 2, count: 8 }, 4840);
 */
export function writeShard(path: string, fs: FeatureSet, shard: ShardSpec, total: number, check: OutputCheck = {}): void {
  if (!/\.arrow$/i.test(path)) throw new RangeError(`${path}: shards are written as Arrow IPC files; give a path ending in .arrow`);
  checkOutputFile(path, 'shard', check);
  writeFileAtomicSync(path, encodeShard(fs, shard, total));
}

/** A shard read back: its features and which part it is. */
export interface Shard extends FeatureSet {
  shard: ShardSpec & { rows: number; total: number };
}

/** What a shard's schema says of it. */
interface ShardHead {
  format?: unknown; shard?: Shard['shard']; meta?: FeatureMeta; hasLabels?: boolean; hasPaths?: boolean;
  /** Features per row (the width of `x`). */
  cols: number;
}

/** The protolens metadata of a shard's schema, its columns checked. @throws RangeError naming the file. */
function shardHead(schema: Schema, path: string): ShardHead {
  let head: Omit<ShardHead, 'cols'>;
  try {
    head = JSON.parse(schema.metadata.get('protolens') ?? 'null') ?? {};
  } catch {
    head = {};
  }
  if (head.format !== SHARD_FORMAT) throw new RangeError(`${path}: not a protolens feature shard (no "protolens" metadata of format ${SHARD_FORMAT})`);
  const type = (name: string) => schema.fields.find((f) => f.name === name)?.type;
  const x = type('x');
  if (!(x instanceof FixedSizeList) || !type('label') || !type('path')) throw new RangeError(`${path}: a shard needs the columns label, path and x (fixed-size list of float32)`);
  return { ...head, cols: x.listSize };
}

/**
 * Reads one shard file.
 * @throws RangeError naming the file when it is not a protolens shard (not Arrow IPC, no
 *   `protolens` metadata, columns missing or of another type).
 */
export function readShard(path: string): Shard {
  const bytes = readInputFile(path, 'feature shard');
  let t: Table;
  try {
    t = tableFromIPC(bytes);
  } catch (e) {
    throw new RangeError(`${path}: not an Arrow IPC file (${(e as Error).message})`);
  }
  const head = shardHead(t.schema, path);
  const xCol = t.getChild('x')!, labelCol = t.getChild('label')!, pathCol = t.getChild('path')!;
  const cols = head.cols, rows = t.numRows;
  const data = new Float32Array(rows * cols);
  let o = 0;
  for (const part of xViews(xCol, cols, path)) {
    data.set(part, o);
    o += part.length;
  }
  const labels = head.hasLabels === false ? [] : (labelCol.toArray() as ArrayLike<Label>);
  const fs: Shard = {
    X: { data, rows, cols }, labels: Array.from(labels), paths: head.hasPaths === false ? undefined : Array.from(pathCol.toArray() as ArrayLike<string>),
    meta: { ...(head.meta ?? {}), source: 'arrow' }, shard: head.shard as Shard['shard'],
  };
  checkFeatureSet(fs, path);
  return fs;
}

/** The `.arrow` files of a folder, by name. */
export function shardFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.arrow$/i.test(f)).sort().map((f) => join(dir, f));
}

/** What the checks of a folder need to know of one part. */
interface PartInfo {
  shard: Shard['shard']; cols: number; meta: FeatureMeta; rows: number; hasLabels: boolean; hasPaths: boolean;
}

/**
 * Checks a part against the folder's first (same split, width, backbone, columns; its place in the
 * split not taken; its row count) and records it.
 * @returns its rows [start, end) in the whole.
 */
function checkPart(where: string, s: PartInfo, firstPath: string, f: PartInfo, byIndex: Map<number, string>): [number, number] {
  const n = f.shard.count;
  if (s.shard.count !== n || s.shard.total !== f.shard.total) {
    throw new RangeError(`${where}: part ${s.shard.index}/${s.shard.count} of ${s.shard.total} rows, but ${firstPath} is part of a split of ${f.shard.total} rows into ${n}`);
  }
  if (byIndex.has(s.shard.index)) throw new RangeError(`${where}: shard ${s.shard.index}/${n} is also in ${byIndex.get(s.shard.index)}`);
  if (s.cols !== f.cols) throw new RangeError(`${where}: ${s.cols} features per row, but ${firstPath} has ${f.cols}`);
  const key = (m: FeatureMeta) => JSON.stringify((m.backbone as { modelKey?: unknown } | undefined)?.modelKey ?? null);
  if (key(s.meta) !== key(f.meta)) throw new RangeError(`${where}: made by another backbone or preprocessing than ${firstPath}`);
  if (s.hasLabels !== f.hasLabels || s.hasPaths !== f.hasPaths) throw new RangeError(`${where}: labels or paths in some shards only`);
  const [a, b] = shardRange(f.shard.total, s.shard);
  if (s.rows !== b - a) throw new RangeError(`${where}: ${s.rows} rows, but part ${s.shard.index}/${n} of ${f.shard.total} has ${b - a}`);
  byIndex.set(s.shard.index, where);
  return [a, b];
}

/** @throws RangeError naming the parts of the split that no file holds. */
function checkComplete(dir: string, n: number, byIndex: Map<number, string>): void {
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length) throw new RangeError(`${dir}: shard${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).map((i) => `${i}/${n}`).join(', ')} missing (${byIndex.size} of ${n} present)`);
}

/**
 * Reads a folder of shards as one feature set, rows in shard order. The shards must be the
 * parts 0…n−1 of one split (each once), of one dimension and one backbone.
 * @throws RangeError naming the folder and the shard missing, given twice, or that does not
 *   match the others.
 * @example
 * readShardFolder('shards/').X.rows // the rows of all parts
 */
export function readShardFolder(dir: string): FeatureSet {
  if (!statSync(dir).isDirectory()) throw new RangeError(`${dir}: not a folder of shards`);
  const files = shardFiles(dir);
  if (files.length === 0) throw new RangeError(`${dir}: no .arrow shards in this folder`);
  // One shard at a time, each copied into its rows of the whole as soon as it is read: memory is
  // the data set plus one shard, not every shard and then their concatenation.
  let first: Shard | undefined;
  let data = new Float32Array(0);
  let labels: Label[] = [], paths: string[] | undefined;
  const byIndex = new Map<number, string>();
  for (const where of files) {
    const s = readShard(where);
    const f: Shard = first ??= s;
    if (s === f) {
      data = new Float32Array(f.shard.total * f.X.cols);
      labels = new Array<Label>(f.labels.length ? f.shard.total : 0);
      paths = f.paths ? new Array<string>(f.shard.total) : undefined;
    }
    const part = (x: Shard): PartInfo => ({ shard: x.shard, cols: x.X.cols, meta: x.meta, rows: x.X.rows, hasLabels: x.labels.length > 0, hasPaths: Boolean(x.paths) });
    const [a] = checkPart(where, part(s), files[0], part(f), byIndex);
    data.set(s.X.data, a * f.X.cols);
    for (let r = 0; r < s.X.rows; r++) {
      if (labels.length) labels[a + r] = s.labels[r];
      if (paths) paths[a + r] = s.paths![r];
    }
  }
  const f = first!;
  checkComplete(dir, f.shard.count, byIndex);
  return { X: { data, rows: f.shard.total, cols: f.X.cols }, labels, paths, meta: { ...f.meta, source: 'arrow', shards: f.shard.count } };
}

/**
 * A folder of shards as a {@link ChunkSource} for the streamed fit (src/model/streamed.ts): each
 * call of `chunks(seed)` visits every record batch of every shard once, in an order drawn from
 * the seed, and hands them out about `chunkRows` rows at a time (whole batches, so a chunk holds
 * batches from all over the data set: class-sorted shards still give mixed chunks). Only the
 * batches of one chunk are in memory at a time: each is read from its file by position (the
 * Arrow IPC file's footer says where it is). The folder is checked as {@link readShardFolder}
 * checks it, from the shards' schemas, without reading their rows.
 * @param chunkRows - rows per chunk: batches are added until it is reached. Default 8,192 (at most as many mini-batch steps per epoch as chunks; 8 batches of SHARD_BATCH_ROWS each).
 * @throws RangeError naming the folder or the shard that does not fit, or a shard without labels.
 * @example
 * const source = await openShardStream('shards/');
 * const model = await fitStreamed(source, { nPrototypes: 60 });
 * await source.close();
 */
export async function openShardStream(dir: string, chunkRows = 8192): Promise<ChunkSource & { close(): Promise<void> }> {
  if (!statSync(dir).isDirectory()) throw new RangeError(`${dir}: not a folder of shards`);
  const files = shardFiles(dir);
  if (files.length === 0) throw new RangeError(`${dir}: no .arrow shards in this folder`);
  const handles: FileHandle[] = [];
  const readers: AsyncRecordBatchFileReader[] = [];
  const close = async (): Promise<void> => { await Promise.all(handles.map((h) => h.close())); };
  const refs: Array<{ file: number; batch: number }> = [];
  const byIndex = new Map<number, string>();
  let first: PartInfo | undefined;
  try {
    for (const [i, where] of files.entries()) {
      const h = await open(where, 'r');
      handles.push(h);
      const r = await openFileReader(h, where);
      readers.push(r);
      const head = shardHead(r.schema, where);
      const part: PartInfo = { shard: head.shard!, cols: head.cols, meta: head.meta ?? {}, rows: head.shard?.rows ?? -1, hasLabels: head.hasLabels !== false, hasPaths: head.hasPaths !== false };
      if (!part.hasLabels) throw new RangeError(`${where}: a shard without labels cannot be fitted on`);
      checkPart(where, part, files[0], first ??= part, byIndex);
      for (let b = 0; b < r.numRecordBatches; b++) refs.push({ file: i, batch: b });
    }
    checkComplete(dir, first!.shard.count, byIndex);
  } catch (e) {
    await close();
    throw e;
  }
  const D = first!.cols;
  return {
    nFeatures: D, rows: first!.shard.total, close,
    async *chunks(seed: number): AsyncGenerator<Chunk> {
      const order = shuffled(refs, rng(seed));
      let parts: Float32Array[] = [], y: Label[] = [];
      const flush = (): Chunk => {
        const n = y.length, X = new Float32Array(n * D);
        let o = 0;
        for (const p of parts) { X.set(p, o); o += p.length; }
        const chunk = { X: { data: X, rows: n, cols: D }, y };
        parts = []; y = [];
        return chunk;
      };
      for (const ref of order) {
        const where = files[ref.file];
        const b = await readers[ref.file].readRecordBatch(ref.batch);
        if (!b) throw new RangeError(`${where}: record batch ${ref.batch} could not be read (the file changed?)`);
        parts.push(...xViews(b.getChild('x')!, D, where));
        for (const l of Array.from(b.getChild('label')!.toArray() as ArrayLike<Label>)) y.push(l);
        if (y.length >= chunkRows) yield flush();
      }
      if (y.length > 0) yield flush();
    },
  };
}

/** An Arrow IPC file reader over an open file (random access to its record batches). */
async function openFileReader(h: FileHandle, where: string): Promise<AsyncRecordBatchFileReader> {
  try {
    const r = await RecordBatchReader.from(h);
    await r.open();
    if (!r.isFile()) throw new Error('not the IPC file format');
    return r as unknown as AsyncRecordBatchFileReader;
  } catch (e) {
    throw new RangeError(`${where}: not an Arrow IPC file (${(e as Error).message})`);
  }
}

/** The x column (of a table or a record batch) as views of its float32 values, row after row. */
function xViews(x: Vector, D: number, where: string): Float32Array[] {
  return x.data.map((d) => {
    const child = d.children[0];
    const values = child.values as Float32Array;
    if (!(values instanceof Float32Array)) throw new RangeError(`${where}: column x is not float32`);
    return values.subarray((child.offset ?? 0) + d.offset * D, (child.offset ?? 0) + (d.offset + d.length) * D);
  });
}
