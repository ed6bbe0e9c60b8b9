#!/usr/bin/env node
// Entry point of the `protolens` command. An installed package runs its compiled JavaScript
// (dist/, built by scripts/build.mjs when the package is packed). In a checkout, where src/ sits
// beside dist/, the sources run instead (through tsx, a devDependency) when there is no build,
// when a source file changed after it (so that an edit is never hidden by a stale build), or when
// PROTOLENS_BIN_SOURCES=1.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const stamp = new URL('dist/build.json', root);
const src = new URL('src/', root);

/** True when a file below `dir` was modified after `time` (ms). */
function changedSince(dir, time) {
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && statSync(`${e.parentPath ?? e.path}/${e.name}`).mtimeMs > time) return true;
  }
  return false;
}

let main;
const checkout = existsSync(src);
const sources = checkout && (process.env.PROTOLENS_BIN_SOURCES === '1' || !existsSync(stamp) || changedSince(src, statSync(stamp).mtimeMs));
if (!sources) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('protolens: this checkout has no up-to-date build (dist/) and no tsx to run its sources: run "npm install" (or "npm run build")\n');
    process.exit(1);
  }
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);
