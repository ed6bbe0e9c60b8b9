/**
 * The tests that need something from the machine (native addon, Omniglot, numpy, Chromium) are
 * skipped when it is missing, except in CI, where they fail and say what is missing. Each row
 * below takes one away, in a fresh test process, and checks both outcomes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from './helpers/data.ts';
import { findChromium } from './helpers/chromium.ts';

/** Runs the tests of `file` whose names match `pattern`, with `env` over this process's (CI removed). */
function run(file: string, pattern: string, env: Record<string, string>): { code: number | null; out: string } {
  const base = { ...process.env };
  delete base.CI;
  delete base.NODE_TEST_CONTEXT; // set by the runner of this file: the child would refuse to run its tests
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', `--test-name-pattern=${pattern}`, file], {
    cwd: repoRoot, env: { ...base, ...env }, encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

const count = (out: string, what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);

const ROWS: Array<{ what: string; file: string; pattern: string; env: Record<string, string>; message: RegExp }> = [
  {
    what: 'native addon', file: 'test/gemm-native.test.ts', pattern: 'subarrays are read and written in place',
    env: { PROTOLENS_NATIVE_ADDON: '/nonexistent/protolens_gemm.node' },
    message: /the native addon is required when CI is set \(\.ci\/run provides it\): native GEMM addon unavailable: the native addon is not built \(\/nonexistent\/protolens_gemm\.node is missing/,
  },
  {
    what: 'Omniglot', file: 'test/datasets.test.ts', pattern: 'Omniglot development set',
    env: { PROTOLENS_SHARED: '/nonexistent/shared' },
    message: /Omniglot \(images_background_small\) is required when CI is set \(\.ci\/run provides it\): Omniglot data not found at \/nonexistent\/shared\/data\/omniglot\/images_background_small/,
  },
  {
    what: 'numpy', file: 'test/npy.test.ts', pattern: 'round trip with numpy',
    env: { PATH: dirname(process.execPath) === '/usr/bin' ? '/nonexistent' : dirname(process.execPath) },
    message: /python3 with numpy is required when CI is set \(\.ci\/run provides it\): python3 -c "import numpy" (could not run|failed)/,
  },
  {
    what: 'Chromium', file: 'test/report.test.ts', pattern: 'headless Chromium',
    env: { CHROMIUM: '/nonexistent/chromium' },
    message: /Chromium is required when CI is set \(\.ci\/run provides it\): CHROMIUM=\/nonexistent\/chromium is not an executable file/,
  },
];

for (const row of ROWS) {
  test(`without ${row.what}: its test is skipped, or fails saying so when CI is set`, () => {
    const local = run(row.file, row.pattern, row.env);
    assert.equal(local.code, 0, local.out);
    assert.ok(count(local.out, 'skipped') >= 1 && count(local.out, 'fail') === 0, local.out);
    const ci = run(row.file, row.pattern, { ...row.env, CI: 'true' });
    assert.equal(ci.code, 1, ci.out);
    assert.ok(count(ci.out, 'fail') >= 1, ci.out);
    assert.match(ci.out, row.message);
  });
}

test('findChromium: the CHROMIUM variable first, then chromium or chromium-browser on the PATH', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-chromium-path-'));
  try {
    const exe = join(dir, 'chromium-browser');
    writeFileSync(exe, '#!/bin/sh\n');
    chmodSync(exe, 0o755);
    writeFileSync(join(dir, 'chromium'), 'not executable');
    assert.deepEqual(findChromium({ PATH: `/nonexistent:${dir}` }), { path: exe });
    assert.deepEqual(findChromium({ PATH: dir, CHROMIUM: exe }), { path: exe });
    assert.deepEqual(findChromium({ PATH: dir, CHROMIUM: join(dir, 'chromium') }), { missing: `CHROMIUM=${join(dir, 'chromium')} is not an executable file` });
    assert.match((findChromium({ PATH: '/nonexistent' }) as { missing: string }).missing, /no chromium or chromium-browser on the PATH/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
