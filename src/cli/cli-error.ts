/**
 * The CLI's one error type printed without a stack. Its own module, with no imports, so that the
 * command's start (`protolens --version`, `--help`) loads nothing else; src/cli/errors.ts re-exports it.
 */

/**
 * A user mistake (bad file, bad option), described in a sentence that names the file, row or
 * field and what was expected. `code` is the exit code (2 unless said).
 */
export class CLIError extends Error {
  constructor(message: string, readonly code = 2) {
    super(message);
    this.name = 'CLIError';
  }
}
