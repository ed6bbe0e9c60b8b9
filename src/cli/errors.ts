/**
 * The one error type the CLI prints without a stack: a user mistake (bad file, bad option),
 * described in a sentence that names the file, row or field and what was expected.
 */
export class CLIError extends Error {
  constructor(message: string, readonly code = 2) {
    super(message);
    this.name = 'CLIError';
  }
}
