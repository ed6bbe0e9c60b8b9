/**
 * `protolens doctor [--json]`: what runs protolens on this machine and why — the GEMM backend and
 * the native addon, the convolution kernels, TF.js's backend, onnxruntime, sharp, the feature
 * cache, the explorer's page (src/environment.node.ts). Lines marked "!" are fallbacks.
 */
import type { Command } from 'commander';
import { environmentReport, environmentText } from '../../environment.node.ts';

export function register(program: Command): void {
  program
    .command('doctor')
    .option('--json', 'print the report as JSON', false)
    .action(async (flags: { json: boolean }) => {
      const r = await environmentReport();
      process.stdout.write(flags.json ? JSON.stringify(r, null, 1) + '\n' : environmentText(r));
    });
}
