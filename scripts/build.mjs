#!/usr/bin/env node
// Builds the package into dist/, which is what `npm pack` ships (the `prepack` script runs this):
//  1. the library and the CLI, compiled by tsc (tsconfig.build.json): ESM .js with source maps (the
//     sources inlined, as src/ is not shipped) and .d.ts declarations, whose relative imports are
//     rewritten from .ts to .js like the code's (tsc rewrites the code's only);
//  2. the two worker entry files, which in the sources register tsx first, as plain imports of the
//     compiled workers;
//  3. the explorer's page, built by Vite into dist/web/, so that an installed `protolens serve`
//     never needs Vite (a devDependency);
//  4. dist/build.json: the version and the date of the build. bin/protolens.mjs runs the sources
//     (through tsx) instead of dist/ in a checkout whose src/ changed after that file was written.
//
// Everything is built in a temporary folder renamed over dist/ at the end: a failed build leaves the
// previous one intact. `--if-stale` skips the build when dist/build.json is newer than every file it
// is made from (src/, web/, package.json, the tsconfigs, this script).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const stamp = join(dist, 'build.json');
const say = (s) => process.stderr.write(`build: ${s}\n`);

/** Every file below `dir` (skipping `skip` folders), recursively. */
function files(dir, skip = new Set()) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (!skip.has(e.name)) out.push(...files(p, skip)); } else out.push(p);
  }
  return out;
}

/** The files dist/ is made from. */
function sources() {
  return [
    ...files(join(root, 'src')), ...files(join(root, 'web'), new Set(['dist', 'node_modules'])),
    ...['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'].map((f) => join(root, f)),
  ];
}

function upToDate() {
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  return sources().every((f) => statSync(f).mtimeMs <= built);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// src/version.ts is the browser-safe copy of package.json's version (written by `npm version`, scripts/version.mjs).
const versionTs = readFileSync(join(root, 'src', 'version.ts'), 'utf8');
if (!versionTs.includes(`VERSION = '${pkg.version}'`)) {
  say(`src/version.ts does not hold package.json's version ${pkg.version}: run "node scripts/version.mjs"`);
  process.exit(1);
}

if (process.argv.includes('--if-stale') && upToDate()) {
  say(`dist/ is up to date (${relative(process.cwd(), stamp) || stamp})`);
  process.exit(0);
}

const t0 = performance.now();
const tmp = join(root, `dist.tmp-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
try {
  // 1. tsc
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', tmp], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}${r.stderr}`);
  let rewritten = 0;
  for (const f of files(tmp).filter((p) => p.endsWith('.d.ts'))) {
    const text = readFileSync(f, 'utf8');
    const next = text.replace(/((?:from\s+|import\s*\(\s*)['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g, (_, a, p, b) => `${a}${p}.js${b}`);
    if (next !== text) { writeFileSync(f, next); rewritten++; }
  }
  say(`tsc: ${files(tmp).filter((p) => p.endsWith('.js')).length} modules, ${rewritten} declaration files' imports rewritten to .js`);

  // 2. worker entries
  for (const boot of files(join(root, 'src')).filter((p) => p.endsWith('-boot.node.mjs'))) {
    const text = readFileSync(boot, 'utf8');
    const target = /await import\('(\.\/[^']+)\.ts'\)/.exec(text);
    if (!target) throw new Error(`${relative(root, boot)}: expected an "await import('./….ts')" line`);
    const out = join(tmp, relative(join(root, 'src'), boot));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `// Entry of a worker thread (compiled package): runs the compiled worker.\nawait import('${target[1]}.js');\n`);
  }

  // 3. the explorer's page
  const { build } = await import('vite');
  await build({
    root: join(root, 'web'), configFile: join(root, 'web', 'vite.config.ts'), logLevel: 'warn',
    build: { outDir: join(tmp, 'web'), emptyOutDir: true },
  });
  if (!existsSync(join(tmp, 'web', 'index.html'))) throw new Error('Vite wrote no web/index.html');

  // 4. the stamp, then the swap
  writeFileSync(join(tmp, 'build.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, built: new Date().toISOString() }, null, 1)}\n`);
  const old = join(root, `dist.old-${process.pid}`);
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(tmp, dist);
  rmSync(old, { recursive: true, force: true });
} catch (e) {
  rmSync(tmp, { recursive: true, force: true });
  say(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
say(`dist/ built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
