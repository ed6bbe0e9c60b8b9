/**
 * The one place the browser tests (explorer, report) find Chromium: the file named by the
 * environment variable `CHROMIUM`, else `chromium` or `chromium-browser` on the PATH (Debian's
 * package, which .ci/run installs). Never a downloaded browser.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Need } from './needs.ts';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Where Chromium is, or why it was not found.
 * @example
 * findChromium({ PATH: '/usr/bin' }) // { path: '/usr/bin/chromium' } on Debian with the chromium package
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  const given = env.CHROMIUM?.trim();
  if (given) return executable(given) ? { path: given } : { missing: `CHROMIUM=${given} is not an executable file` };
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of dirs) if (executable(join(dir, name))) return { path: join(dir, name) };
  }
  return { missing: 'Chromium not found: no CHROMIUM variable, and no chromium or chromium-browser on the PATH (apt-get install chromium)' };
}

const found = findChromium();

/** Path of the Chromium executable ('' when missing: the tests are skipped, or fail in CI). */
export const chromiumPath = 'path' in found ? found.path : '';

/** Chromium, for the browser tests. */
export const chromium = new Need('Chromium', 'missing' in found ? found.missing : false);

/** Flags for headless runs inside containers, with no network chatter. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
