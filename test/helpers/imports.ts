/**
 * The import graph of a source tree and the architecture rules it must obey (README, "Layout";
 * notes/HELPERS.md, house rules). Pure functions over a map path → text, so that the tests can
 * run them on the real src/ and web/src/ and on small planted trees that must fail.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix } from 'node:path';

/** One import of a file: the specifier as written and, for a relative one, the repository path it names. */
export interface ImportEdge {
  spec: string;
  /** Repository path (posix, e.g. `src/model/types.ts`) of a relative import; undefined for a package. */
  target?: string;
}

/** Files (repository paths) → their text. */
export type SourceTree = ReadonlyMap<string, string>;

/** Reads every .ts/.mts/.mjs file below `dirs` (repository-relative) into a {@link SourceTree}. */
export function readTree(root: string, dirs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = posix.join(rel, name);
      if (statSync(join(root, r)).isDirectory()) walk(r);
      else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.set(r, readFileSync(join(root, r), 'utf8'));
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

/** Text without comments (strings kept), so that a commented-out import or a word in a comment does not count. */
export function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1');
}

/** The static imports, re-exports and dynamic `import('…')` of a file, relative ones resolved. */
export function importsOf(path: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const re = /(?:^|[\n;])\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of stripComments(text).matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    edges.push(spec.startsWith('.') ? { spec, target: posix.normalize(posix.join(posix.dirname(path), spec)) } : { spec });
  }
  return edges;
}

/** Packages that need Node (native code, the file system, a terminal). */
const NODE_PACKAGES = new Set(['sharp', 'onnxruntime-node', 'commander', 'cli-progress', 'playwright-core', 'vite', 'tsx', 'mnist']);

/** Whether `spec` names a Node built-in module or a Node-only package. */
export function isNodeOnly(spec: string): boolean {
  if (spec.startsWith('node:')) return true;
  const base = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  return builtinModules.includes(base) || NODE_PACKAGES.has(base);
}

/** The folder (`src/model`, `web/src`, …) of a repository path: its first two segments. */
function area(path: string): string {
  return path.split('/').slice(0, 2).join('/');
}

/** Whether a file runs in the browser: web/src, and every file of src/ outside src/cli and src/server not named *.node.*. */
export function isBrowserSide(path: string): boolean {
  if (path.startsWith('web/src/')) return true;
  if (!path.startsWith('src/')) return false;
  const a = area(path);
  if (a === 'src/cli' || a === 'src/server') return false;
  return !/\.node\.(ts|mts|mjs)$/.test(path);
}

/** DOM globals the model must not touch (it runs in workers and in Node). */
const DOM = /\b(document|window|navigator|localStorage|sessionStorage|HTML\w*Element|OffscreenCanvas|ImageData|requestAnimationFrame)\b/;

/**
 * The rules the tree breaks, one line each (empty when it obeys them all):
 * - a browser-side file ({@link isBrowserSide}) imports a Node module, a Node-only package, or a
 *   file that is not browser-side itself (a `*.node.*` adapter, src/cli, src/server);
 * - a file outside src/cli imports src/cli (nothing imports the CLI);
 * - src/model imports src/features, src/embedding, src/server, src/viz, src/cli, src/interpret,
 *   src/select, '@tensorflow/…' or a Node module, or uses a DOM global.
 */
export function layoutViolations(tree: SourceTree): string[] {
  const bad: string[] = [];
  const MODEL_MAY_NOT = ['src/features', 'src/embedding', 'src/server', 'src/viz', 'src/cli', 'src/interpret', 'src/select'];
  for (const [path, text] of tree) {
    const edges = importsOf(path, text);
    for (const { spec, target } of edges) {
      if (isBrowserSide(path)) {
        if (!target && isNodeOnly(spec)) bad.push(`${path}: browser-side, imports the Node module ${spec}`);
        if (target && !isBrowserSide(target)) bad.push(`${path}: browser-side, imports ${target}, which is not`);
      }
      if (target && area(target) === 'src/cli' && area(path) !== 'src/cli') bad.push(`${path}: imports the CLI (${target})`);
      if (area(path) === 'src/model') {
        if (target && MODEL_MAY_NOT.includes(area(target))) bad.push(`${path}: the model imports ${target}`);
        if (!target && (spec.startsWith('@tensorflow/') || isNodeOnly(spec))) bad.push(`${path}: the model imports ${spec}`);
      }
    }
    if (area(path) === 'src/model') {
      const m = DOM.exec(stripComments(text).replace(/'[^'\n]*'|"[^"\n]*"|`[^`]*`/g, "''"));
      if (m) bad.push(`${path}: the model uses the DOM (${m[1]})`);
    }
  }
  return bad;
}
