/**
 * Image datasets from disk (Node): a class-per-folder tree, a zip archive of one (Omniglot's
 * own zips are read directly), or a list file of `path,label` lines. See `images.ts` for the
 * naming and ordering rules.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { listingFromPaths, openZip, compareCodeUnits, isImageName, BadImageError, IMAGE_EXTENSIONS, type ImageEntry, type ImageListing, type ListOptions, type BadEntry } from './images.ts';
import { splitCsvLine } from './text.ts';

/** A listed dataset that can also read its images' bytes. */
export interface ImageDataset extends ImageListing {
  /** The bytes of one image. @throws BadImageError naming the file when it cannot be read. */
  read(entry: ImageEntry): Promise<Uint8Array>;
}

function walk(root: string, rel: string, out: string[]): void {
  const dir = rel ? join(root, rel) : root;
  const names = readdirSync(dir, { withFileTypes: true }).sort((a, b) => compareCodeUnits(a.name, b.name));
  for (const d of names) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory() || (d.isSymbolicLink() && statSync(join(dir, d.name)).isDirectory())) {
      if (d.name.startsWith('.')) { out.push(r + '/'); continue; }
      walk(root, r, out);
    } else out.push(r);
  }
}

/** Lists a class-per-folder tree. @throws RangeError when it is missing or holds no images. */
export function listFolder(root: string, options: ListOptions = {}): ImageDataset {
  const files: string[] = [];
  walk(root, '', files);
  const l = listingFromPaths('folder', root, files, options);
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
  const z = openZip(readFileSync(path), path);
  const l = listingFromPaths('zip', path, z.files, options);
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
  const raw = readFileSync(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
  const entries: ImageEntry[] = [];
  const skipped: BadEntry[] = [];
  for (let k = 0; k < raw.length; k++) {
    if (raw[k].trim() === '') continue;
    const where = `${path}, line ${k + 1}`;
    const f = splitCsvLine(raw[k], where);
    if (entries.length === 0 && skipped.length === 0 && f[0]?.toLowerCase() === 'path' && f[1]?.toLowerCase() === 'label') continue;
    if (f.length !== 2 || f[0] === '' || f[1] === '') {
      throw new RangeError(`${where}: expected "path,label", got ${JSON.stringify(raw[k])}`);
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
