/**
 * Reading a file the user named, with the failures of the file system turned into sentences
 * that name the file: missing, a folder where a file was expected, unreadable, or too large to
 * read whole. Every reader of user files (features, models, list files) goes through here.
 */
import { readFileSync, statSync } from 'node:fs';

/** Largest file read whole (Node's Buffer limit is 2 GiB). */
export const MAX_WHOLE_FILE = 2 ** 31 - 1;

/**
 * Reads a whole file named by the user.
 * @param what - what the file should be ("feature file", "model file"), for the messages.
 * @throws RangeError naming the file when it is missing, a folder, unreadable (with the system's
 *   code: EACCES, ELOOP, …), or larger than 2 GiB (advice: split it into shards, docs/scale.md).
 * @example
 * readInputFile('model.json', 'model file') // <Buffer 7b 22 ...>; on a folder throws 'model.json: is a folder; expected a model file'
 */
export function readInputFile(path: string, what: string): Buffer {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new RangeError(`${path}: is a folder; expected a ${what}`);
    size = st.size;
  } catch (e) {
    if (e instanceof RangeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new RangeError(`${path}: ${what} not found`);
    throw new RangeError(`${path}: cannot read the ${what} (${code ?? (e as Error).message})`);
  }
  if (size > MAX_WHOLE_FILE) {
    throw new RangeError(`${path}: the ${what} is ${(size / 2 ** 30).toFixed(1)} GiB; files over 2 GiB are not read whole (split the data into shards: docs/scale.md)`);
  }
  try {
    return readFileSync(path);
  } catch (e) {
    throw new RangeError(`${path}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
