/**
 * Where protolens may write: the rule every command that writes follows.
 *
 * 1. **Never an input.** An output that is one of the command's inputs, lies on an input's
 *    sidecar, or is a folder holding an input is refused, whatever the flags.
 * 2. **Only what protolens wrote.** An existing output is replaced only when protolens wrote it:
 *    - a folder carries a marker file, {@link OUTPUT_MARKER}, naming the kind of output it holds
 *      (a report, a benchmark, a trained embedding, …); an empty folder is also fine;
 *    - a file is recognised by its content: a model file by `"format": "protolens-model"`, a
 *      feature file by its sidecar's `"format": "protolens-features"`.
 *    Anything else — a folder without the marker, another kind of protolens output, a regular file
 *    where a folder should go — is refused with a message naming it and the flag that allows it
 *    (`--force`).
 * 3. **A sidecar belongs to its feature file.** No output other than the feature file itself may
 *    land on `X.json` when `X.npy` is beside it, whatever the flags.
 * 4. The filesystem root, the home folder and any folder holding the working directory are never
 *    replaced.
 *
 * The checks run before any work (so a refused command costs nothing) and again in the writers,
 * right before they rename into place.
 */
import {
  closeSync, existsSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { basename, dirname, join, parse, resolve, sep } from 'node:path';
import { ensureDir, escapeRegExp, processAlive, writeError, writeFileAtomicSync } from './atomic.node.ts';
import { VERSION } from '../version.ts';

/** Name of the marker file protolens puts in every folder it writes. */
export const OUTPUT_MARKER = '.protolens-output.json';

/** What a protolens output folder holds (recorded in its marker). */
export type OutputFolderKind = 'report' | 'bench' | 'embedding' | 'demo-work' | 'evaluation';

/** What a protolens output file is. */
export type OutputFileKind = 'model' | 'features' | 'predictions' | 'shard';

/** A refused output: the message is one line naming the path, why, and what allows it (if anything). */
export class OutputRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputRefusedError';
  }
}

/** How an output is checked. */
export interface OutputCheck {
  /** The command's inputs (files or folders); `.npy` inputs bring their `.json` sidecar with them. */
  inputs?: ReadonlyArray<string | undefined | null | false>;
  /** Replace an existing output that protolens did not write (or of another kind). */
  force?: boolean;
  /** The option that names this output, for messages (default `--out`). */
  flag?: string;
}

/** The real, absolute path of `p`, also when it does not exist yet (its nearest existing ancestor is resolved). */
export function realPath(p: string): string {
  const abs = resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const r = realpathSync(cur);
      return rest.length ? join(r, ...rest.reverse()) : r;
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return abs;
      rest.push(basename(cur));
      cur = parent;
    }
  }
}

/** `x.npy` → `x.json` (the feature sidecar), else null. */
function sidecarOf(p: string): string | null {
  return /\.npy$/i.test(p) ? p.replace(/\.npy$/i, '') + '.json' : null;
}

/** `x.json` → `x.npy` when that exists (the feature file this would be the sidecar of), else null. */
function featureFileBeside(p: string): string | null {
  if (!/\.json$/i.test(p)) return null;
  const npy = p.replace(/\.json$/i, '') + '.npy';
  return existsSync(npy) ? npy : null;
}

/** Inputs as real paths, each `.npy` with its sidecar. */
function expandInputs(inputs: OutputCheck['inputs']): string[] {
  const out: string[] = [];
  for (const i of inputs ?? []) {
    if (!i) continue;
    const r = realPath(i);
    out.push(r);
    const sc = sidecarOf(r);
    if (sc) out.push(sc);
  }
  return out;
}

function within(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

/** Reads at most the first `n` bytes of a file as text. */
function head(path: string, n = 4096): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** True when the file starts as a protolens JSON file of the given format (read from its first bytes only). */
function hasFormat(path: string, format: string): boolean {
  try {
    return new RegExp(`^\\s*\\{\\s*"format"\\s*:\\s*"${format}"`).test(head(path, 256));
  } catch {
    return false;
  }
}

/** True when `path` is a model file written by protolens. */
export function isProtolensModelFile(path: string): boolean {
  return hasFormat(path, 'protolens-model');
}

/**
 * True when `path` holds predictions written by protolens: JSON of format protolens-predictions,
 * or CSV whose header is the one `protolens predict` writes (src/viz/predictions.ts).
 */
export function isProtolensPredictions(path: string): boolean {
  try {
    return hasFormat(path, 'protolens-predictions') || /^index,path,label,probability(,truth)?(,margin,ambiguous,prototypes)?\r?\n/.test(head(path, 256));
  } catch {
    return false;
  }
}

/** True when `path` is a feature shard written by protolens (an Arrow IPC file whose schema names the shard format). */
export function isProtolensShard(path: string): boolean {
  try {
    const h = head(path, 65536);
    return h.startsWith('ARROW1') && h.includes('protolens-features-shard');
  } catch {
    return false;
  }
}

/** True when `path` is a feature sidecar written by protolens. */
export function isProtolensSidecar(path: string): boolean {
  return hasFormat(path, 'protolens-features');
}

/** The kind recorded in a folder's marker, or null when the folder has no (readable) marker. */
export function outputFolderKind(dir: string): string | null {
  const m = join(dir, OUTPUT_MARKER);
  try {
    const j = JSON.parse(readFileSync(m, 'utf8')) as { writtenBy?: unknown; kind?: unknown };
    return j.writtenBy === 'protolens' && typeof j.kind === 'string' ? j.kind : null;
  } catch {
    return null;
  }
}

/** The marker's content for a folder of `kind`. */
export function outputMarker(kind: OutputFolderKind, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ writtenBy: 'protolens', kind, version: VERSION, created: new Date().toISOString(), ...extra }, null, 1) + '\n';
}

/** Writes the marker into `dir` (which must exist), atomically. */
export function writeOutputMarker(dir: string, kind: OutputFolderKind, extra: Record<string, unknown> = {}): void {
  writeFileAtomicSync(join(dir, OUTPUT_MARKER), outputMarker(kind, extra));
}

const FORCE = 'pass --force to replace it';

/** Refuses outputs that are inputs, hold inputs, or lie on an input's sidecar. */
function checkNotInput(out: string, shown: string, inputs: string[], flag: string): void {
  for (const i of inputs) {
    if (within(i, out)) {
      const what = i === out ? 'is' : 'holds';
      throw new OutputRefusedError(`${flag} ${shown}: the output ${what} ${i === out ? 'one of this command\'s inputs' : `${i}, one of this command's inputs`}; choose another path (--force does not allow this)`);
    }
  }
}

/** Refuses the root, the home folder and any folder holding the working directory. */
function checkNotPrecious(out: string, shown: string, flag: string): void {
  const home = realPath(homedir());
  if (out === parse(out).root || out === home || within(realPath(process.cwd()), out)) {
    throw new OutputRefusedError(`${flag} ${shown}: refusing to replace ${out === home ? 'the home folder' : out === parse(out).root ? 'the filesystem root' : 'a folder holding the working directory'}; choose a folder of its own (--force does not allow this)`);
  }
}

/**
 * Checks that `dir` may be written as a protolens output folder of `kind`.
 * @returns 'new' (nothing there), 'empty' (an empty folder), 'ours' (our marker, same kind) or
 *   'forced' (something else, replaced because `force` was given).
 * @throws OutputRefusedError with a one-line message naming the folder, why, and the flag.
 * @example
 * checkOutputFolder('notes', 'report', { inputs: ['model.json'] });
 * // throws: "--out notes: this folder was not written by protolens (no .protolens-output.json in it); …"
 */
export function checkOutputFolder(dir: string, kind: OutputFolderKind, o: OutputCheck = {}): 'new' | 'empty' | 'ours' | 'forced' {
  const flag = o.flag ?? '--out';
  const out = realPath(dir);
  checkNotInput(out, dir, expandInputs(o.inputs), flag);
  checkNotPrecious(out, dir, flag);
  let st;
  try {
    st = lstatSync(resolve(dir));
  } catch {
    return 'new';
  }
  if (st.isSymbolicLink()) {
    throw new OutputRefusedError(`${flag} ${dir}: this is a symbolic link; give the folder itself (--force does not allow this)`);
  }
  if (!st.isDirectory()) {
    if (o.force) return 'forced';
    throw new OutputRefusedError(`${flag} ${dir}: this is a file, not a folder protolens wrote; choose another path, or ${FORCE} with a folder`);
  }
  const found = outputFolderKind(dir);
  if (found === kind) return 'ours';
  if (readdirSync(dir).length === 0) return 'empty';
  if (o.force) return 'forced';
  if (found) {
    throw new OutputRefusedError(`${flag} ${dir}: this folder holds a protolens ${found}, not a ${kind}; choose another path, or ${FORCE}`);
  }
  throw new OutputRefusedError(`${flag} ${dir}: this folder was not written by protolens (no ${OUTPUT_MARKER} in it); choose another path, or ${FORCE}`);
}

/**
 * Checks that `file` may be written as a protolens output file of `kind`: a model file (JSON) or
 * a feature file (`.npy` plus its `.json` sidecar, both checked).
 * @returns 'new', 'ours' or 'forced', as {@link checkOutputFolder}.
 * @throws OutputRefusedError with a one-line message naming the file, why, and the flag.
 */
export function checkOutputFile(file: string, kind: OutputFileKind, o: OutputCheck = {}): 'new' | 'ours' | 'forced' {
  const flag = o.flag ?? '--out';
  const out = realPath(file);
  const inputs = expandInputs(o.inputs);
  const targets = kind === 'features' ? [out, sidecarOf(out) ?? out] : [out];
  for (const t of targets) checkNotInput(t, t === out ? file : `${file} (its sidecar ${basename(t)})`, inputs, flag);
  if (kind !== 'features') {
    const npy = featureFileBeside(out);
    if (npy) {
      throw new OutputRefusedError(`${flag} ${file}: this is the sidecar of the feature file ${basename(npy)} beside it (its labels and paths); choose another name (--force does not allow this)`);
    }
  }
  let verdict: 'new' | 'ours' | 'forced' = 'new';
  for (const t of targets) {
    let st;
    try {
      st = statSync(t);
    } catch {
      continue;
    }
    const shown = t === out ? file : join(dirname(file), basename(t));
    if (st.isDirectory()) throw new OutputRefusedError(`${flag} ${file}: ${shown} is a folder; give a file path (--force does not allow this)`);
    const ours = kind === 'model' ? isProtolensModelFile(t)
      : kind === 'predictions' ? isProtolensPredictions(t)
        : kind === 'shard' ? isProtolensShard(t)
          : isProtolensSidecar(sidecarOf(out)!) && existsSync(sidecarOf(out)!);
    if (ours) { verdict = verdict === 'forced' ? 'forced' : 'ours'; continue; }
    if (!o.force) {
      const what = kind === 'model' ? 'a protolens model file' : kind === 'predictions' ? 'predictions protolens wrote' : kind === 'shard' ? 'a feature shard protolens wrote'
        : t === out ? 'a feature file protolens wrote (no protolens sidecar beside it)' : 'a protolens feature sidecar';
      throw new OutputRefusedError(`${flag} ${file}: ${shown} exists and is not ${what}; choose another path, or ${FORCE}`);
    }
    verdict = 'forced';
  }
  return verdict;
}

/** Files of an output folder, by plain file name. */
export type OutputFiles = Record<string, string | Uint8Array>;

/**
 * Writes `files` as the complete content of the output folder `dir`, with its marker, atomically:
 * the folder is checked ({@link checkOutputFolder}), a temporary sibling folder is filled, then
 * renamed over `dir` (the old one is moved aside first and removed after). On failure the
 * temporary folder is removed and `dir` is left as it was.
 * @throws OutputRefusedError when `dir` may not be replaced; RangeError for a file name that is
 *   not a plain name; OutputWriteError (naming the folder) when the file system refuses, after cleaning up.
 * @example
 * writeOutputFolder('protolens-out/report', { 'report.html': html }, 'report', { inputs: ['model.json'] });
 */
export function writeOutputFolder(dir: string, files: OutputFiles, kind: OutputFolderKind, check: OutputCheck = {}): void {
  for (const name of Object.keys(files)) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new RangeError(`output file name "${name}" must be a plain file name`);
  }
  recoverKilledWrite(resolve(dir));
  checkOutputFolder(dir, kind, check);
  const target = resolve(dir);
  const parent = dirname(target);
  ensureDir(parent);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  const old = join(parent, `.${basename(target)}.old-${tag}`);
  try {
    mkdirSync(tmp);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
    writeFileSync(join(tmp, OUTPUT_MARKER), outputMarker(kind));
    const had = existsSync(target);
    if (had) renameSync(target, old);
    try {
      renameSync(tmp, target);
    } catch (e) {
      if (had) renameSync(old, target);
      throw e;
    }
    if (had) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw writeError(target, e);
  }
}

/**
 * Undoes what a run killed inside {@link writeOutputFolder} left beside `target`: its temporary
 * folder is removed, and when the kill fell between moving the earlier output aside and moving
 * the new one in (two renames), the earlier output is put back. Only folders of processes that
 * no longer run are touched.
 */
export function recoverKilledWrite(target: string): void {
  const parent = dirname(target);
  const re = new RegExp(`^\\.${escapeRegExp(basename(target))}\\.(tmp|old)-(\\d+)-[0-9a-f]{8}$`);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names.sort()) { // "old" before "tmp"
    const m = re.exec(n);
    if (!m || processAlive(Number(m[2]))) continue;
    const p = join(parent, n);
    if (m[1] === 'old' && !existsSync(target)) renameSync(p, target);
    else rmSync(p, { recursive: true, force: true });
  }
}

/**
 * Makes `dir` a protolens output folder of `kind` that is written into over time (a training run,
 * the demo's working files): checks it, creates it, and writes its marker if it has none.
 * @throws OutputRefusedError as {@link checkOutputFolder}.
 */
export function claimOutputFolder(dir: string, kind: OutputFolderKind, check: OutputCheck = {}): void {
  const state = checkOutputFolder(dir, kind, check);
  if (state === 'forced' && !statSync(dir).isDirectory()) rmSync(dir, { force: true });
  ensureDir(dir);
  if (state !== 'ours') writeOutputMarker(dir, kind);
}
