/**
 * The explorer's page: in a checkout, built from web/ with Vite when its build is missing or stale
 * ({@link ensureWebBuild}); in an installed package, the page built when the package was packed
 * (dist/web/, scripts/build.mjs), so that `protolens serve` never needs Vite there
 * ({@link explorerPage} chooses).
 *
 * The build goes to `web/dist/<hash>/`, where the hash covers every file the page is made of
 * (web/ outside dist, and src/, which the page and its workers import). A build is written to a
 * temporary folder beside it and renamed into place, so a server never sees half a build and two
 * servers starting at once do not corrupt each other's. All but the three newest builds are removed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's web/ folder. */
export function webRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

function collect(dir: string, out: string[], skip: (p: string) => boolean): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (skip(p)) continue;
    const s = statSync(p);
    if (s.isDirectory()) collect(p, out, skip);
    else if (s.isFile()) out.push(p);
  }
}

/** The page built when the package was packed (dist/web/ beside the compiled server). */
export function packagedPage(): string {
  return fileURLToPath(new URL('../web/', import.meta.url));
}

/**
 * The folder of the explorer's page to serve: in a checkout (web/ sources present, Vite installed),
 * an up-to-date Vite build of it; otherwise the page shipped in the package.
 * @throws Error when neither exists (a checkout without Vite that was never built: run "npm install").
 * @example
 * await explorerPage() // '<package>/dist/web/' in an installed package
 */
export async function explorerPage(options: WebBuildOptions = {}): Promise<string> {
  const root = options.root ?? webRoot();
  const packaged = packagedPage();
  if (existsSync(join(root, 'index.html'))) {
    let hasVite = true;
    try {
      await import('vite');
    } catch {
      hasVite = false;
    }
    if (hasVite) return ensureWebBuild(options);
    if (!existsSync(join(packaged, 'index.html'))) {
      throw new Error('the explorer page is built with Vite, a development dependency of protolens that is not installed, and there is no packaged page (dist/web); run "npm install" in the protolens folder');
    }
  }
  if (!existsSync(join(packaged, 'index.html'))) throw new Error(`the explorer page is missing from this installation (${packaged}index.html); reinstall protolens`);
  return packaged;
}

/** Hash of the files the page is built from. */
export function sourceHash(root = webRoot()): string {
  const repo = resolve(root, '..');
  const files: string[] = [];
  collect(root, files, (p) => p === join(root, 'dist') || p.endsWith('node_modules'));
  collect(join(repo, 'src'), files, () => false);
  for (const f of ['package.json']) if (existsSync(join(repo, f))) files.push(join(repo, f));
  const h = createHash('sha256');
  for (const f of files) h.update(relative(repo, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Options of {@link ensureWebBuild}. */
export interface WebBuildOptions {
  /** web/ folder (default: the repository's). */
  root?: string;
  /** Called with a line when a build starts and ends. */
  log?: (line: string) => void;
  /** Rebuild even when an up-to-date build exists. */
  force?: boolean;
}

/**
 * The folder of an up-to-date build of the page, building it first when needed (a few seconds).
 * @throws Error when Vite fails (its message names the file).
 */
export async function ensureWebBuild(options: WebBuildOptions = {}): Promise<string> {
  const root = options.root ?? webRoot();
  const hash = sourceHash(root);
  const dist = join(root, 'dist');
  const out = join(dist, hash);
  if (!options.force && existsSync(join(out, 'index.html'))) return out;
  const tmp = join(dist, `.tmp-${process.pid}-${hash}`);
  options.log?.(`building the explorer page with Vite (web/ → ${relative(process.cwd(), out) || out})…`);
  const t0 = performance.now();
  let build: typeof import('vite').build;
  try {
    ({ build } = await import('vite'));
  } catch (e) {
    throw new Error(`the explorer page is built with Vite, a development dependency of protolens that is not installed (${(e as Error).message}); run "npm install" in the protolens folder`);
  }
  await build({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: tmp, emptyOutDir: true },
  });
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  // Keep the three newest builds: a server started earlier may still be serving one of them.
  // Temporary folders older than ten minutes are the remains of interrupted builds.
  const entries = readdirSync(dist).map((n) => ({ n, t: statSync(join(dist, n)).mtimeMs }));
  const builds = entries.filter((e) => !e.n.startsWith('.tmp-')).sort((a, b) => b.t - a.t);
  for (const b of builds.slice(3)) rmSync(join(dist, b.n), { recursive: true, force: true });
  for (const e of entries) if (e.n.startsWith('.tmp-') && Date.now() - e.t > 10 * 60_000) rmSync(join(dist, e.n), { recursive: true, force: true });
  options.log?.(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}
