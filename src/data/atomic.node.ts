/**
 * Atomic file writes for Node: write a temporary file in the same directory, then rename it
 * over the target, so a reader never sees half a file and a failed run leaves the previous
 * version intact; the temporary files of a killed run are removed by the next write of the same
 * file. A write the file system refuses (a read-only disk, a folder under /proc, no
 * space left) fails with an {@link OutputWriteError} naming the path, never with a stack.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';

/** The file system refused a write: the message names the path and the reason in words. */
export class OutputWriteError extends Error {
  constructor(readonly path: string, readonly code: string | undefined, detail?: string) {
    super(`${path}: cannot be written (${detail ?? describeCode(code)})`);
    this.name = 'OutputWriteError';
  }
}

const CODES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'this location does not accept new files',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  ELOOP: 'too many symbolic links in the path',
  ENAMETOOLONG: 'the name is too long',
  EEXIST: 'something else is in the way',
  EXDEV: 'the temporary file and the target are on different file systems',
};

function describeCode(code: string | undefined): string {
  return code ? `${CODES[code] ?? 'the file system refused'}: ${code}` : 'the file system refused';
}

/**
 * The error to throw for a failed write of `path`: a refusal of the file system (an errno code
 * such as ENOENT or EACCES) becomes an {@link OutputWriteError}; anything else (a bug) is returned as it is.
 */
export function writeError(path: string, e: unknown): unknown {
  if (e instanceof OutputWriteError) return e;
  return isSystemError(e) ? new OutputWriteError(path, e.code) : e;
}

/** True for an error of the file system or the operating system (ENOENT, EACCES, ENOSPC, …), which names its path. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  const x = e as NodeJS.ErrnoException | null;
  return x instanceof Error && typeof x.code === 'string' && /^E[A-Z]+$/.test(x.code) && typeof x.syscall === 'string';
}

/**
 * Creates `dir` and its missing parents, one level at a time (Node's own recursive mkdir never
 * returns under /proc, where mkdir answers ENOENT for a parent that exists).
 * @throws OutputWriteError naming the folder that could not be made.
 * @example
 * ensureDir('out/a/b') // creates out, out/a and out/a/b as needed
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  let cur = resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw writeError(cur, e);
      missing.push(cur);
      const parent = dirname(cur);
      if (parent === cur) break;
      cur = parent;
      continue;
    }
    if (!st.isDirectory()) throw new OutputWriteError(cur, 'ENOTDIR', 'it is a file, not a folder');
    break;
  }
  for (let k = missing.length - 1; k >= 0; k--) {
    try {
      mkdirSync(missing[k]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statSync(missing[k]).isDirectory()) continue; // made meanwhile
      throw writeError(missing[k], e);
    }
  }
}

// Random, not pid + counter: worker threads share the pid and each has its own counter.
function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** True while process `pid` runs (or exists under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A name for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes the temporary files a killed run left beside `path` (`.name.<pid>.<hex>.tmp` whose
 * process no longer runs). Never touches another running process's temporary file.
 */
export function removeStaleTemps(path: string): void {
  const dir = dirname(path);
  const re = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.(\\d+)\\.[0-9a-f]{12}\\.tmp$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = re.exec(n);
    if (m && !processAlive(Number(m[1]))) rmSync(join(dir, n), { force: true });
  }
}

/**
 * Writes `data` to `path` atomically (creating the directory if needed).
 * @throws OutputWriteError naming the path when the file system refuses.
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  ensureDir(dirname(path));
  removeStaleTemps(path);
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw writeError(path, e);
  }
}

/** Async version of {@link writeFileAtomicSync}. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  ensureDir(dirname(path));
  removeStaleTemps(path);
  const tmp = tempName(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw writeError(path, e);
  }
}
