/**
 * The one place tests find the shared development data.
 *
 * Omniglot lives in `../shared/data/omniglot/` beside the repository (.ci/run checks that it is
 * there). A test that needs it calls {@link omniglotDir}; when the data is absent the test is
 * skipped with a message saying where it was looked for, or, in CI, fails with it
 * (test/helpers/needs.ts).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Need } from './needs.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Root of the shared folder: $PROTOLENS_SHARED or ../shared beside the repository. */
export const sharedDir = process.env.PROTOLENS_SHARED ?? resolve(repoRoot, '..', 'shared');

/**
 * Path of an Omniglot subset (`images_background_small` by default), and the need for it.
 * @example
 * const om = omniglotDir(); test('x', { skip: om.skip }, om.guard(() => { ... om.path ... }));
 */
export function omniglotDir(subset = 'images_background_small'): Need & { path: string } {
  const path = resolve(sharedDir, 'data', 'omniglot', subset);
  const need = new Need(`Omniglot (${subset})`, existsSync(path) ? false : `Omniglot data not found at ${path} (set PROTOLENS_SHARED to the shared folder)`);
  return Object.assign(need, { path });
}

export { repoRoot };
