import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/data.ts';

// The browser-safe core of src/data and src/features (every file not named *.node.*) must not
// import Node modules or Node adapters, so that the web explorer can bundle it.
const NODE_ONLY = /^(node:|fs$|path$|os$|crypto$|worker_threads$|child_process$|sharp$|url$|module$)/;

test('src/data and src/features: files not named *.node.* import no Node modules or adapters', () => {
  for (const dir of ['src/data', 'src/features']) {
    for (const f of readdirSync(join(repoRoot, dir))) {
      if (!/\.(ts|mjs)$/.test(f) || f.includes('.node.')) continue;
      const text = readFileSync(join(repoRoot, dir, f), 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2];
        assert.doesNotMatch(spec, NODE_ONLY, `${dir}/${f} imports ${spec}`);
        assert.doesNotMatch(spec, /\.node\.(ts|mjs)$/, `${dir}/${f} imports the Node adapter ${spec}`);
      }
    }
  }
});
