/**
 * The one place tests find the shared development data.
 *
 * Omniglot lives in `../shared/data/omniglot/` beside the repository (CI always has it). A test
 * that needs it calls {@link omniglotDir}; when the data is absent the test is skipped with a
 * message saying where it was looked for, never silently passed.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Root of the shared folder: $PROTOLENS_SHARED or ../shared beside the repository. */
export const sharedDir = process.env.PROTOLENS_SHARED ?? resolve(repoRoot, '..', 'shared');

/**
 * Path of an Omniglot subset (`images_background_small` by default), or a skip reason.
 * @example
 * const om = omniglotDir(); test('x', { skip: om.skip }, () => { ... om.path ... });
 */
export function omniglotDir(subset = 'images_background_small'): { path: string; skip: string | false } {
  const path = resolve(sharedDir, 'data', 'omniglot', subset);
  return existsSync(path)
    ? { path, skip: false }
    : { path, skip: `Omniglot data not found at ${path} (set PROTOLENS_SHARED to the shared folder)` };
}

export { repoRoot };
