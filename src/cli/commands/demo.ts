import type { Command } from 'commander';

/** `protolens demo`: fits every model on the embedded synthetic data (filled in with the model). */
export function register(program: Command): void {
  program.command('demo').description('Fit all models on the embedded default data and summarise').action(() => {
    process.stdout.write('demo: not yet implemented\n');
  });
}
