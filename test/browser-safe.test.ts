import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repoRoot } from './helpers/data.ts';
import { importsOf, isBrowserSide, layoutViolations, readTree } from './helpers/imports.ts';

// The layout rules (README, "Layout"): the browser-side code (src/model, src/linalg,
// src/interpret, src/select, src/viz, src/data, src/features, src/embedding — every file not named
// *.node.* — and the page in web/src) imports no Node module, Node-only package or adapter;
// nothing imports the CLI; the model imports neither the CNN, files, TF.js nor the DOM.

const tree = readTree(repoRoot, ['src', 'web/src']);

test('the source tree obeys the layout rules', () => {
  assert.deepEqual(layoutViolations(tree), []);
});

test('every browser-side folder is covered, with files in it', () => {
  const browserDirs = ['src/model', 'src/linalg', 'src/interpret', 'src/select', 'src/viz', 'src/data', 'src/features', 'src/embedding', 'web/src'];
  for (const dir of browserDirs) {
    const files = [...tree.keys()].filter((f) => f.startsWith(dir + '/') && isBrowserSide(f));
    assert.ok(files.length > 0, `${dir}: no browser-side file read`);
  }
  // Adapters, the CLI and the server are Node-side.
  for (const f of ['src/linalg/gemm-native.node.ts', 'src/data/outputs.node.ts', 'src/cli/main.ts', 'src/server/server.node.ts', 'src/features/worker-boot.node.mjs']) {
    assert.equal(isBrowserSide(f), false, f);
  }
});

test('imports are read from static, re-export, side-effect and dynamic forms, not from comments', () => {
  const text = [
    "import { a } from '../linalg/matrix.ts';",
    "import type { B } from './b.ts';",
    "export { c } from 'vega';",
    "import 'side-effect';",
    "const m = await import('../cli/main.ts');",
    "// import { no } from 'node:fs';",
    "/* import('sharp') */",
    'const s = "from \'x\'";',
  ].join('\n');
  assert.deepEqual(importsOf('src/model/x.ts', text), [
    { spec: '../linalg/matrix.ts', target: 'src/linalg/matrix.ts' },
    { spec: './b.ts', target: 'src/model/b.ts' },
    { spec: 'vega' },
    { spec: 'side-effect' },
    { spec: '../cli/main.ts', target: 'src/cli/main.ts' },
  ]);
});

test('the checker catches each planted violation, and passes the same tree without it', () => {
  const clean = new Map([
    ['src/model/m.ts', "import { zeros } from '../linalg/matrix.ts';\nexport const m = zeros(1, 1);"],
    ['src/linalg/matrix.ts', 'export function zeros() {}'],
    ['src/linalg/gemm-native.node.ts', "import { createRequire } from 'node:module';"],
    ['src/viz/v.ts', "import { m } from '../model/m.ts';\nimport * as vega from 'vega';"],
    ['src/cli/main.ts', "import { m } from '../model/m.ts';\nimport { readFileSync } from 'node:fs';"],
    ['src/server/s.node.ts', "import { createServer } from 'node:http';\nimport { m } from '../viz/v.ts';"],
    ['web/src/main.ts', "import { m } from '../../src/viz/v.ts';"],
  ]);
  assert.deepEqual(layoutViolations(clean), []);
  const planted: Array<[string, string, RegExp]> = [
    ['src/server/s.node.ts', "import { main } from '../cli/main.ts';", /s\.node\.ts: imports the CLI \(src\/cli\/main\.ts\)/],
    ['src/viz/v.ts', "const c = await import('../cli/main.ts');", /v\.ts: browser-side, imports src\/cli\/main\.ts[\s\S]*imports the CLI/],
    ['src/interpret/a.ts', "import { readFileSync } from 'node:fs';", /a\.ts: browser-side, imports the Node module node:fs/],
    ['src/data/d.ts', "import sharp from 'sharp';", /d\.ts: browser-side, imports the Node module sharp/],
    ['src/embedding/e.ts', "import { gemmNative } from '../linalg/gemm-native.node.ts';", /e\.ts: browser-side, imports src\/linalg\/gemm-native\.node\.ts, which is not/],
    ['src/select/s.ts', "import { join } from 'path';", /s\.ts: browser-side, imports the Node module path/],
    ['web/src/w.ts', "import { createServer } from '../../src/server/s.node.ts';", /w\.ts: browser-side, imports src\/server\/s\.node\.ts/],
    ['src/model/bad.ts', "import * as tf from '@tensorflow/tfjs';", /the model imports @tensorflow\/tfjs/],
    ['src/model/bad.ts', "import { extractDataset } from '../features/extract.ts';", /the model imports src\/features\/extract\.ts/],
    ['src/model/bad.ts', "import { renderSvg } from '../viz/render.ts';", /the model imports src\/viz\/render\.ts/],
    ['src/model/bad.ts', "import { x } from '../embedding/train.ts';", /the model imports src\/embedding\/train\.ts/],
    ['src/model/bad.ts', "import { x } from '../server/mapdata.ts';", /the model imports src\/server\/mapdata\.ts/],
    ['src/model/bad.ts', 'export const w = () => document.body;', /the model uses the DOM \(document\)/],
  ];
  for (const [path, text, expected] of planted) {
    const tree2 = new Map(clean);
    tree2.set(path, (tree2.get(path) ?? '') + '\n' + text);
    const v = layoutViolations(tree2);
    assert.ok(v.length > 0, `${path}: "${text}" was not caught`);
    assert.match(v.join('\n'), expected);
  }
  // Words in comments and strings are not uses.
  const quiet = new Map(clean);
  quiet.set('src/model/ok.ts', "// the document says\nexport const s = 'window';");
  assert.deepEqual(layoutViolations(quiet), []);
});
