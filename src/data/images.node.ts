/**
 * Image datasets from disk (Node): a class-per-folder tree, a zip archive of one (Omniglot's
 * own zips are read directly), a list file of `path,label` lines, or, unlabelled, a folder of
 * images, a list file of `path` lines, or image files named one by one. See `images.ts` for the
 * naming and ordering rules.
 */
import { existsSync, readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { listingFromPaths, openZip, compareCodeUnits, isImageName, BadImageError, IMAGE_EXTENSIONS, type ImageEntry, type ImageListing, type ListOptions, type BadEntry } from './images.ts';
import { csvRecords } from './text.ts';
import { readInputFile } from './files.node.ts';

/** A listed dataset that can also read its images' bytes. */
export interface ImageDataset extends ImageListing {
  /** The bytes of one image. @throws BadImageError naming the file when it cannot be read. */
  read(entry: ImageEntry): Promise<Uint8Array>;
}

/** The bytes of an image file. @throws BadImageError naming it when it cannot be read. */
async function readImageFile(p: string): Promise<Uint8Array> {
  try {
    return await readFile(p);
  } catch (err) {
    throw new BadImageError(p, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
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
  return { ...l, read: (e) => readImageFile(join(root, e.path)) };
}

/** Lists a zip archive of a class-per-folder tree (decompressed in memory). */
export function listZip(path: string, options: ListOptions = {}): ImageDataset {
  const z = openZip(readInputFile(path, 'zip archive'), path);
  const l = listingFromPaths('zip', path, z.files, options, z.bad);
  return { ...l, read: async (e) => z.read(e.path) };
}

/**
 * Lists a list file: one `path,label` per line (CSV quoting allowed), an optional header line
 * `path,label`, paths relative to the list file's folder. Order is the file's order. Lines of a
 * path alone (header `path`) list unlabelled images; a file mixes neither form.
 * @throws RangeError naming the line of a malformed row; BadImageError for a missing or
 *   non-image file unless `skipBad` is set.
 */
export function listListFile(path: string, options: ListOptions = {}): ImageDataset {
  const base = dirname(path);
  const entries: ImageEntry[] = [];
  const skipped: BadEntry[] = [];
  // Fields per line: 2 (path,label) or 1 (path, unlabelled), decided by the first line.
  let fields: 1 | 2 | undefined;
  for (const { line, fields: f } of csvRecords(readInputFile(path, 'list file'), path)) {
    const where = `${path}, line ${line}`;
    const first = fields === undefined;
    fields ??= f.length === 1 ? 1 : 2;
    if (first && f[0]?.toLowerCase() === 'path' && (fields === 1 || f[1]?.toLowerCase() === 'label')) continue;
    if (f.length !== fields || f.some((x) => x === '')) {
      const shown = JSON.stringify(f.join(','));
      throw new RangeError(`${where}: expected ${fields === 2 ? '"path,label"' : 'a path alone, as on the first line'}, got ${shown.length > 80 ? shown.slice(0, 80) + '…' : shown}`);
    }
    const [p, label = ''] = f as [string, string?];
    const abs = isAbsolute(p) ? p : join(base, p);
    const reason = !isImageName(p) ? `not an image (expected ${IMAGE_EXTENSIONS.join(', ')})` : !existsSync(abs) ? 'file not found' : undefined;
    if (reason) {
      if (!options.skipBad) throw new BadImageError(abs, `${reason} (listed at ${where})`, true);
      skipped.push({ path: p, reason });
      continue;
    }
    entries.push({ path: p.replace(/\\/g, '/'), label });
  }
  if (entries.length === 0) throw new RangeError(`${path}: the list file names no usable images (expected lines "path,label", or "path" alone)`);
  return {
    root: path,
    kind: 'list',
    labelled: fields === 2,
    entries,
    skipped,
    ignored: [],
    read: (e) => readImageFile(isAbsolute(e.path) ? e.path : join(base, e.path)),
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
  if (!existsSync(p)) throw new RangeError(`${path}: no such folder or file (expected a folder of class folders or of images, a .zip archive or a path,label list file)`);
  if (statSync(p).isDirectory()) return listFolder(p, options);
  const ext = extname(p).toLowerCase();
  if (ext === '.zip') return listZip(p, options);
  if (ext === '.csv' || ext === '.txt' || ext === '.lst') return listListFile(p, options);
  throw new RangeError(`${path}: not a folder, a .zip archive or a list file (.csv, .txt or .lst with lines "path,label")`);
}

/**
 * Lists image files named one by one, unlabelled, in the order given. The dataset's root is their
 * deepest common folder and each entry's path is relative to it.
 * @throws RangeError when a file does not exist or is a folder; BadImageError for a file that is
 *   not an image (unless `skipBad` is set).
 * @example
 * openImageFiles(['shots/a.png', 'shots/day2/b.jpg']).entries
 * // [{ path: 'a.png', label: '' }, { path: 'day2/b.jpg', label: '' }] (root: '<cwd>/shots')
 */
export function openImageFiles(files: readonly string[], options: ListOptions = {}): ImageDataset {
  if (files.length === 0) throw new RangeError('no image files given');
  const abs = files.map((f) => {
    const p = resolve(f);
    if (!existsSync(p)) throw new RangeError(`${f}: no such file`);
    if (statSync(p).isDirectory()) throw new RangeError(`${f}: a folder among image files (give one folder, or image files only)`);
    return p;
  });
  let root = dirname(abs[0]);
  const inside = (p: string, dir: string) => p.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  while (!abs.every((p) => inside(p, root))) root = dirname(root);
  const entries: ImageEntry[] = [];
  const skipped: BadEntry[] = [];
  abs.forEach((p, i) => {
    const rel = relative(root, p).split(sep).join('/');
    if (isImageName(p)) { entries.push({ path: rel, label: '' }); return; }
    const reason = `not an image (expected ${IMAGE_EXTENSIONS.join(', ')})`;
    if (!options.skipBad) throw new BadImageError(files[i], reason, true);
    skipped.push({ path: rel, reason });
  });
  if (entries.length === 0) throw new RangeError(`none of the ${files.length} files is an image (expected ${IMAGE_EXTENSIONS.join(', ')})`);
  return {
    root, kind: 'files', labelled: false, entries, skipped, ignored: [],
    read: (e) => readImageFile(join(root, e.path)),
  };
}

/**
 * Opens what the user named on a command line: one folder, `.zip` or list file
 * ({@link openImageDataset}), or one or more image files ({@link openImageFiles}, unlabelled).
 * @throws the errors of those two.
 * @example
 * openImages(['photos/']).labelled // false for a folder of images alone
 * openImages(['a.png', 'b.png']).kind // 'files'
 */
export function openImages(paths: readonly string[], options: ListOptions = {}): ImageDataset {
  if (paths.length === 1 && !isImageName(paths[0])) return openImageDataset(paths[0], options);
  return openImageFiles(paths, options);
}
