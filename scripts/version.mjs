#!/usr/bin/env node
// Writes package.json's version into src/version.ts, the library's browser-safe copy of it (no JSON
// import, so the browser build and the declarations need nothing special). Run by npm's `version`
// script, so `npm version <new>` keeps both equal; scripts/build.mjs and test/package.test.ts check it.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(join(root, 'src', 'version.ts'),
  `/** The library version (package.json's, copied by scripts/version.mjs), written into every saved model, feature file and report. */\nexport const VERSION = '${version}';\n`);
