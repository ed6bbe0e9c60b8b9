// Figures live in BENCHMARKS.md; README.md and docs/ point into it by section links. A link whose
// section was renamed or removed would point nowhere: every one must name a heading that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/data.ts';

/** GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces to hyphens; repeats get -1, -2, … */
function headingSlugs(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const slugs = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1].replace(/`/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    slugs.add(n === 0 ? base : `${base}-${n}`);
  }
  return slugs;
}

test('headingSlugs follows GitHub: punctuation and backticks dropped, each space a hyphen, repeats numbered', () => {
  const s = headingSlugs('# A\n## Prototype model: fit at N = 10,000\n```\n# not a heading\n```\n### `protolens fit` in the CLI\n## A\n### Where a fit\'s time goes');
  assert.deepEqual([...s], ['a', 'prototype-model-fit-at-n--10000', 'protolens-fit-in-the-cli', 'a-1', 'where-a-fits-time-goes']);
});

test('every link into BENCHMARKS.md from README.md and docs/ names one of its sections', () => {
  const slugs = headingSlugs(readFileSync(join(repoRoot, 'BENCHMARKS.md'), 'utf8'));
  const files = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const links: string[] = [];
  for (const f of files) {
    for (const m of readFileSync(join(repoRoot, f), 'utf8').matchAll(/BENCHMARKS\.md#([^)\s]+)/g)) {
      links.push(`${f} → #${m[1]}`);
      assert.ok(slugs.has(m[1]), `${f} links to BENCHMARKS.md#${m[1]}, which is no section of it`);
    }
  }
  assert.ok(links.length >= 10, `only ${links.length} section links: ${links.join(', ')}`);
});
