/**
 * Image datasets from disk (Node): a class-per-folder tree, a zip archive of one (Omniglot's
 * own zips are read directly), or a list file of `path,label` lines. See `images.ts` for the
 * naming and ordering rules.
 */
import { existsSync, readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { listingFromPaths, openZip, compareCodeUnits, isImageName, BadImageError, IMAGE_EXTENSIONS, type ImageEntry, type ImageListing, type ListOptions, type BadEntry } from './images.ts';
import { csvRecords } from './text.ts';
import { readInputFile } from './files.node.ts';

/** A listed dataset that can also read its images' bytes. */
export interface ImageDataset extends ImageListing {
  /** The bytes of one image. @throws BadImageError naming the file when it cannot be read. */
  read(entry: ImageEntry): Promise<Uint8Array>;
}

/** Most folder levels walked below a data set's root. */
export const MAX_FOLDER_DEPTH = 64;

/** Lists the files under `root`: relative paths, plus the folders that could not be walked (loops). */
function walk(root: string): { files: string[]; bad: BadEntry[] } {
  const files: string[] = [];
  const bad: BadEntry[] = [];
  // Real paths of the folders being walked, from the root down: a link back to one of them is a loop.
  const stack: string[] = [];
  const visit = (rel: string): void => {
    const dir = rel ? join(root, rel) : root;
    let real: string;
    let names: Dirent[];
    try {
      real = realpathSync(dir);
      names = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw new RangeError(`${dir}: folder cannot be listed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (stack.includes(real)) {
      bad.push({ path: rel, reason: `symbolic link loop (it leads back to ${real}, a folder above it)` });
      return;
    }
    if (stack.length > MAX_FOLDER_DEPTH) {
      bad.push({ path: rel, reason: `more than ${MAX_FOLDER_DEPTH} folder levels below the root` });
      return;
    }
    stack.push(real);
    names.sort((a, b) => compareCodeUnits(a.name, b.name));
    for (const d of names) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      let isDir = d.isDirectory();
      if (d.isSymbolicLink()) {
        try {
          isDir = statSync(join(dir, d.name)).isDirectory();
        } catch {
          isDir = false; // a dangling link: a file that cannot be read, reported when it is
        }
      }
      if (isDir) {
        if (d.name.startsWith('.')) { files.push(r + '/'); continue; }
        visit(r);
      } else files.push(r);
    }
    stack.pop();
  };
  visit('');
  return { files, bad };
}

/** Lists a class-per-folder tree. @throws RangeError when it is missing or holds no images. */
export function listFolder(root: string, options: ListOptions = {}): ImageDataset {
  const { files, bad } = walk(root);
  const l = listingFromPaths('folder', root, files, options, bad);
  return {
    ...l,
    async read(e) {
      const p = join(root, e.path);
      try {
        return await readFile(p);
      } catch (err) {
        throw new BadImageError(p, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    },
  };
}

/** Lists a zip archive of a class-per-folder tree (decompressed in memory). */
export function listZip(path: string, options: ListOptions = {}): ImageDataset {
  const z = openZip(readInputFile(path, 'zip archive'), path);
  const l = listingFromPaths('zip', path, z.files, options, z.bad);
  return { ...l, read: async (e) => z.read(e.path) };
}

/**
 * Lists a list file: one `path,label` per line (CSV quoting allowed), an optional header line
 * `path,label`, paths relative to the list file's folder. Order is the file's order.
 * @throws RangeError naming the line of a malformed row; BadImageError for a missing or
 *   non-image file unless `skipBad` is set.
 */
export function listListFile(path: string, options: ListOptions = {}): ImageDataset {
  const base = dirname(path);
  const entries: ImageEntry[] = [];
  const skipped: BadEntry[] = [];
  for (const { line, fields: f } of csvRecords(readInputFile(path, 'list file'), path)) {
    const where = `${path}, line ${line}`;
    if (entries.length === 0 && skipped.length === 0 && f[0]?.toLowerCase() === 'path' && f[1]?.toLowerCase() === 'label') continue;
    if (f.length !== 2 || f[0] === '' || f[1] === '') {
      const shown = JSON.stringify(f.join(','));
      throw new RangeError(`${where}: expected "path,label", got ${shown.length > 80 ? shown.slice(0, 80) + '…' : shown}`);
    }
    const [p, label] = f as [string, string];
    const abs = isAbsolute(p) ? p : join(base, p);
    const reason = !isImageName(p) ? `not an image (expected ${IMAGE_EXTENSIONS.join(', ')})` : !existsSync(abs) ? 'file not found' : undefined;
    if (reason) {
      if (!options.skipBad) throw new BadImageError(abs, `${reason} (listed at ${where})`, true);
      skipped.push({ path: p, reason });
      continue;
    }
    entries.push({ path: p.replace(/\\/g, '/'), label });
  }
  if (entries.length === 0) throw new RangeError(`${path}: the list file names no usable images (expected lines "path,label")`);
  return {
    root: path,
    kind: 'list',
    entries,
    skipped,
    ignored: [],
    async read(e) {
      const p = isAbsolute(e.path) ? e.path : join(base, e.path);
      try {
        return await readFile(p);
      } catch (err) {
        throw new BadImageError(p, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    },
  };
}

/**
 * Opens a dataset from what the user named: a folder, a `.zip` archive, or a list file
 * (`.csv`/`.txt`/`.lst`).
 * @throws RangeError when the path does not exist or is of an unknown kind.
 * @example
 * const ds = openImageDataset('../shared/data/omniglot/images_background_small');
 * ds.entries.length // 4840; ds.entries[0].label === 'Balinese/character01'
 */
export function openImageDataset(path: string, options: ListOptions = {}): ImageDataset {
  const p = resolve(path);
  if (!existsSync(p)) throw new RangeError(`${path}: no such folder or file (expected a folder of class folders, a .zip archive or a path,label list file)`);
  if (statSync(p).isDirectory()) return listFolder(p, options);
  const ext = extname(p).toLowerCase();
  if (ext === '.zip') return listZip(p, options);
  if (ext === '.csv' || ext === '.txt' || ext === '.lst') return listListFile(p, options);
  throw new RangeError(`${path}: not a folder, a .zip archive or a list file (.csv, .txt or .lst with lines "path,label")`);
}
