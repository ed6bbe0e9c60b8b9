/**
 * What some tests need from the machine beyond npm's packages: the native addon (built at
 * `npm ci`), python3 with numpy, Chromium (test/helpers/chromium.ts) and the Omniglot data
 * (test/helpers/data.ts). Outside CI, a test whose need is missing is skipped with the reason. In
 * CI (the environment variable `CI` set to true or 1, which .ci/run exports) it runs and fails
 * with that reason: the CLI and every headline figure depend on these, so a green CI run must
 * mean that every such test ran.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { nativeGemmStatus } from '../../src/linalg/gemm-native.node.ts';

/** Whether this run is CI: `CI` is "true" or "1" (any case). */
export const inCI = /^(true|1)$/i.test(process.env.CI?.trim() ?? '');

/** Something a test needs, and why it is missing (false when present). */
export class Need {
  constructor(readonly what: string, readonly missing: string | false) {}

  /** The `skip` option of a test that needs it: the reason when it is missing outside CI, else false. */
  get skip(): string | false {
    return this.missing && !inCI ? this.missing : false;
  }

  /** Fails, naming what is missing, when it is missing (reached only in CI, where the test is not skipped). */
  check(): void {
    if (this.missing) assert.fail(`${this.what} is required when CI is set (.ci/run provides it): ${this.missing}`);
  }

  /** `fn`, preceded by {@link check}. */
  guard<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => {
      this.check();
      return fn(...args);
    };
  }

  /** For a need found inside a test: skips the rest of it outside CI, fails in CI. Returns true when missing. */
  skipOrFail(t: TestContext): boolean {
    if (!this.missing) return false;
    this.check();
    t.skip(this.missing);
    return true;
  }
}

/** The native GEMM addon (native/gemm.cc), built by scripts/build-native.mjs at `npm ci` (loaded on the first call). */
export function nativeAddon(): Need {
  const s = nativeGemmStatus();
  return new Need('the native addon', s.available ? false : `native GEMM addon unavailable: ${s.reason}`);
}

/** python3 on the PATH with numpy (Debian's python3-numpy); runs python3 once per call. */
export function numpy(): Need {
  const r = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
  return new Need('python3 with numpy', r.status === 0 ? false
    : `python3 -c "import numpy" ${r.error ? `could not run (${r.error.message})` : 'failed'}: install Debian's python3-numpy`);
}
