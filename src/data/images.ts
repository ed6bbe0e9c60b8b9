/**
 * Image datasets as lists of (path, label): the browser-safe part (naming rules, ordering,
 * counts, zip archives held in memory). Reading folders and list files from disk is in
 * `images.node.ts`.
 *
 * Rules, the same for folders and zip archives:
 * - An image is a file ending in `.png`, `.jpg` or `.jpeg` (any case). Any other file is a
 *   *bad* entry: an error naming it, or with `skipBad` left out and reported.
 * - Hidden files and folders (name starting with ".") and zip metadata (`__MACOSX/`) are
 *   ignored and counted in `ignored`, never silently.
 * - The label of an image is its folder path relative to the dataset root with "/" between
 *   parts, so Omniglot's `Greek/character03/0396_01.png` is labelled `Greek/character03`.
 * - Unlabelled images: a root that holds images directly and none in sub-folders is read
 *   unlabelled (every image, label ""); with the `labels: 'none'` option any tree is (sub-folders
 *   are then only where the images are). Images directly in a root that also has class folders
 *   are bad entries.
 * - Order is deterministic: by label, then file name, comparing UTF-16 code units (not locale).
 */
import { readZipEntry, zipEntries, ZipEntryError, type ZipEntry } from './zip.ts';

/** One image of a dataset. */
export interface ImageEntry {
  /** Path relative to the dataset root (or as written in a list file), "/"-separated. */
  path: string;
  label: string;
}

/** A file left out of a dataset, and why. */
export interface BadEntry {
  path: string;
  reason: string;
}

/** A listed dataset: its images in order plus everything that was left out. */
export interface ImageListing {
  /** The folder, zip file or list file given by the user. */
  root: string;
  kind: 'folder' | 'zip' | 'list' | 'files';
  /** False when the images carry no labels (every entry's label is ""); absent means labelled. */
  labelled?: boolean;
  entries: ImageEntry[];
  /** Bad files left out because `skipBad` was set (without it they throw). */
  skipped: BadEntry[];
  /** Hidden files and archive metadata that were ignored. */
  ignored: string[];
}

/** Options for listing a dataset. */
export interface ListOptions {
  /** Leave bad files out (reported in `skipped`) instead of failing. Default false. */
  skipBad?: boolean;
  /**
   * 'auto' (default): labels are class folders, and a root with images only directly in it is
   * read unlabelled; 'none': every image is read unlabelled, whatever folders hold it.
   */
  labels?: 'auto' | 'none';
}

/**
 * Error for a file of a dataset that cannot be used; `path` names it. `skippable` when the
 * `skipBad` option would have left the file out (the message then says so, by the option's name).
 */
export class BadImageError extends Error {
  constructor(readonly path: string, readonly reason: string, readonly skippable = false) {
    super(`${path}: ${reason}${skippable ? ' (the skipBad option leaves such files out)' : ''}`);
    this.name = 'BadImageError';
  }
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/** True when the file name ends in an image extension we read. */
export function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** Compares by UTF-16 code units, so the order does not depend on the locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True for hidden parts (".x") and zip metadata ("__MACOSX"). */
export function isIgnoredPath(rel: string): boolean {
  return rel.split('/').some((p) => p.startsWith('.') || p === '__MACOSX');
}

/**
 * Turns relative file paths into a sorted listing with labels from their folders, or an
 * unlabelled one (see the module comment for when).
 *
 * @param files - "/"-separated paths relative to the dataset root (files only).
 * @param known - entries already found bad while listing (a symbolic-link loop, an unsafe name in
 *   an archive), treated like the bad files found here.
 * @throws BadImageError for a non-image file or an image outside any class folder, unless
 *   `skipBad` is set; RangeError when no image is left.
 * @example
 * listingFromPaths('zip', 'x.zip', ['Greek/c2/b.png', 'Greek/c1/a.png']).entries
 * // [{ path: 'Greek/c1/a.png', label: 'Greek/c1' }, { path: 'Greek/c2/b.png', label: 'Greek/c2' }]
 * listingFromPaths('folder', 'photos', ['b.png', 'a.jpg']).entries
 * // [{ path: 'a.jpg', label: '' }, { path: 'b.png', label: '' }] (labelled: false)
 */
export function listingFromPaths(kind: 'folder' | 'zip', root: string, files: readonly string[], options: ListOptions = {},
  known: readonly BadEntry[] = []): ImageListing {
  const images = files.filter((f) => !isIgnoredPath(f) && isImageName(f));
  const labelled = options.labels === 'none' ? false : !(images.length > 0 && images.every((f) => !f.includes('/')));
  const entries: ImageEntry[] = [];
  const skipped: BadEntry[] = [];
  const ignored: string[] = [];
  const bad = (path: string, reason: string): void => {
    if (!options.skipBad) throw new BadImageError(`${root}/${path}`, reason, true);
    skipped.push({ path, reason });
  };
  for (const b of known) bad(b.path, b.reason);
  for (const rel of files) {
    if (isIgnoredPath(rel)) { ignored.push(rel); continue; }
    const slash = rel.lastIndexOf('/');
    if (!isImageName(rel)) { bad(rel, `not an image (expected ${IMAGE_EXTENSIONS.join(', ')})`); continue; }
    if (!labelled) { entries.push({ path: rel, label: '' }); continue; }
    if (slash < 0) { bad(rel, 'image outside any class folder (put each class in its own folder; a folder holding images alone is read unlabelled)'); continue; }
    entries.push({ path: rel, label: rel.slice(0, slash) });
  }
  entries.sort((a, b) => compareCodeUnits(a.label, b.label) || compareCodeUnits(a.path, b.path));
  skipped.sort((a, b) => compareCodeUnits(a.path, b.path));
  ignored.sort(compareCodeUnits);
  if (entries.length === 0) {
    throw new RangeError(`${root}: no images found (expected class folders holding ${IMAGE_EXTENSIONS.join('/')} files, or such files alone)`);
  }
  return { root, kind, labelled, entries, skipped, ignored };
}

/** Number of images per label, in label order. */
export function classCounts(entries: readonly ImageEntry[]): Array<{ label: string; count: number }> {
  const m = new Map<string, number>();
  for (const e of entries) m.set(e.label, (m.get(e.label) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => compareCodeUnits(a[0], b[0])).map(([label, count]) => ({ label, count }));
}

/** One-line-per-issue notes about a listing: classes with a single image, skipped and ignored files. */
export function listingWarnings(l: ImageListing): string[] {
  const out: string[] = [];
  const single = l.labelled === false ? [] : classCounts(l.entries).filter((c) => c.count === 1).map((c) => c.label);
  if (single.length > 0) {
    out.push(`${single.length} class${single.length > 1 ? 'es have' : ' has'} a single image: ${single.slice(0, 5).join(', ')}${single.length > 5 ? ', …' : ''}`);
  }
  for (const s of l.skipped) out.push(`skipped ${s.path}: ${s.reason}`);
  if (l.ignored.length > 0) out.push(`ignored ${l.ignored.length} hidden or metadata file(s), e.g. ${l.ignored[0]}`);
  return out;
}

/** The files of a zip archive held in memory, with the single top folder (if any) removed; read one at a time. */
export interface ZipImages {
  /** Relative paths (top folder stripped) of the entries that can be listed. */
  files: string[];
  /** Entries left out of `files`: unsafe names (`..`, absolute), names given twice. */
  bad: BadEntry[];
  /** The top folder that was stripped ("" when the archive has several). */
  prefix: string;
  /** The bytes of one file. @throws BadImageError naming it when it cannot be read (see src/data/zip.ts). */
  read(rel: string): Uint8Array;
}

/** Why an archive entry's name cannot be a data set path, or undefined when it can. */
function unsafeName(n: string): string | undefined {
  if (n.startsWith('/') || /^[A-Za-z]:/.test(n) || n.includes('\\')) return 'unsafe name in the archive (absolute path or backslash)';
  if (n.split('/').some((p) => p === '..')) return 'unsafe name in the archive (a ".." part)';
  if (n.includes('\0')) return 'unsafe name in the archive (a NUL character)';
  return undefined;
}

/**
 * Opens a zip archive held in memory (such as Omniglot's `images_background.zip`, whose
 * single top folder `images_background/` is stripped so labels read `Alphabet/characterNN`).
 * Nothing is inflated here; `read` inflates one entry with the limits of src/data/zip.ts.
 * @throws RangeError naming `name` when the bytes are not a zip archive.
 */
export function openZip(bytes: Uint8Array, name: string): ZipImages {
  const all = zipEntries(bytes, name).filter((e) => !e.name.endsWith('/'));
  const byName = new Map<string, ZipEntry[]>();
  for (const e of all) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
  const bad: BadEntry[] = [];
  const names: string[] = [];
  for (const [n, es] of byName) {
    const why = unsafeName(n) ?? (es.length > 1 ? `appears ${es.length} times in the archive (which one is meant is unclear)` : undefined);
    if (why) bad.push({ path: n, reason: why }); else names.push(n);
  }
  const tops = new Set(names.filter((n) => !isIgnoredPath(n)).map((n) => (n.includes('/') ? n.slice(0, n.indexOf('/') + 1) : '')));
  let prefix = tops.size === 1 ? [...tops][0] : '';
  // Keep the top folder when stripping it would leave images without a class folder.
  if (prefix && names.some((n) => n.startsWith(prefix) && !n.slice(prefix.length).includes('/') && isImageName(n))) prefix = '';
  const files = names.map((n) => (prefix && n.startsWith(prefix) ? n.slice(prefix.length) : n));
  return {
    files,
    bad,
    prefix,
    read(rel) {
      const e = (byName.get(prefix + rel) ?? byName.get(rel))?.[0];
      if (!e) throw new BadImageError(`${name}/${rel}`, 'not in the archive');
      try {
        return readZipEntry(bytes, e);
      } catch (err) {
        if (err instanceof ZipEntryError) throw new BadImageError(`${name}/${rel}`, err.reason, true);
        throw err;
      }
    },
  };
}
