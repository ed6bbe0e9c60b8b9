/**
 * Resolving URL paths to files inside one served directory, refusing everything else.
 *
 * A path is refused (the caller answers 404) when, after one percent-decoding, it holds a NUL,
 * a backslash, an empty or dot segment (".", ".." or any hidden name), or when the real path of
 * the file (symlinks followed) is not inside the real path of the root. Percent-decoding is done
 * once only, so a double-encoded "%252e%252e" stays the literal name "%2e%2e" (which does not
 * exist). The raw request path is used, never a normalised URL, so "/a/../b" is refused rather
 * than silently rewritten to "/b".
 */
import { realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';

/** Content types of the files the explorer serves. */
export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Content type for a file name ("application/octet-stream" when unknown). */
export function contentType(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The real path of the regular file that `rawPath` (percent-encoded, relative to `root`, no
 * query) names inside `root`, or `null` when it is missing or outside the tree.
 * @example
 * safeResolve('/srv/www', 'assets/app.js') // '/srv/www/assets/app.js' (if it exists)
 * safeResolve('/srv/www', '..%2fetc%2fpasswd') // null
 */
export function safeResolve(root: string, rawPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const parts = decoded.split('/');
  if (parts.length > 0 && parts[0] === '') parts.shift();
  if (parts.length === 0 || parts.some((s) => s === '' || s.startsWith('.'))) return null;
  let realRoot: string, real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(join(realRoot, ...parts));
  } catch {
    return null;
  }
  if (!real.startsWith(realRoot + sep)) return null;
  try {
    if (!statSync(real).isFile()) return null;
  } catch {
    return null;
  }
  return real;
}
