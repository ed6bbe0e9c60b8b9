/**
 * Runs the protolens CLI in-process, capturing what it writes to stdout and stderr, for the CLI tests.
 *
 * The CLI writes strings. Anything else written meanwhile (the test runner's own reports, which it
 * sends as bytes over this process's stdout while a command awaits) goes through untouched.
 */
import { main } from '../../src/cli/main.ts';

export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  // Let the test runner write out the previous test's report first: while stdout is captured here it would be lost.
  await new Promise((r) => setTimeout(r, 20));
  const out: string[] = [], err: string[] = [];
  const wo = process.stdout.write.bind(process.stdout), we = process.stderr.write.bind(process.stderr);
  const capture = (into: string[], write: typeof wo) => ((s: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof s !== 'string') return (write as (...a: unknown[]) => boolean)(s, ...rest);
    into.push(s);
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture(out, wo);
  process.stderr.write = capture(err, we);
  try {
    const code = await main(['node', 'protolens', ...args]);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = wo;
    process.stderr.write = we;
  }
}
