/**
 * `protolens demo`: the README's main job (src/viz/demo.node.ts). The prototype model and its
 * baselines on the embedded synthetic data, then, unless --no-images, the digits report.
 */
import type { Command } from 'commander';
import { runDigitsDemo, syntheticDemo } from '../../viz/demo.node.ts';
import { userInput } from '../errors.ts';
import { anyInt, multipleOf, positiveInt } from '../flags.ts';
import { progressBar, type Progress } from '../progress.ts';

export function register(program: Command): void {
  program
    .command('demo')
    .option('--seed <n>', 'seed of the data and of every fit', '1')
    .option('-J, --prototypes <J>', 'number of prototypes (in all)', '30')
    .option('--digits <n>', 'handwritten digits (mnist package) embedded with MobileNetV2 for the report', '300')
    .option('--no-images', 'skip the digits report (no CNN, synthetic data only)')
    .option('-o, --out <dir>', 'report folder of the digits demo (its working files go to <dir>-digits)', 'protolens-out/demo')
    .option('--force', 'replace those folders even if protolens did not write them')
    .option('--json', 'print the results as JSON (the synthetic part\'s accuracies; the digits report\'s path, accuracy and findings)', false)
    .action(async (opts: { seed: string; prototypes: string; digits: string; images: boolean; out: string; force: boolean; json: boolean }) => {
      const seed = anyInt('--seed', opts.seed), prototypes = positiveInt('--prototypes', opts.prototypes);
      const n = multipleOf('--digits', opts.digits, 10, 20);
      const synthetic = syntheticDemo({ seed, prototypes });
      if (!opts.json) process.stdout.write(synthetic.text + '\n');
      let digits: Record<string, unknown> | null = null;
      if (opts.images) {
        let bar: Progress | undefined;
        const r = await userInput(() => runDigitsDemo({
          n, seed, out: opts.out, workDir: `${opts.out.replace(/[/\\]+$/, '')}-digits`, force: opts.force,
          log: (m) => process.stderr.write(m + '\n'),
          onProgress: (p) => {
            bar ??= progressBar('embedding digits', p.total, 'images');
            bar.update(p.done, p.cached ? `(${p.cached} cached)` : '');
          },
        }));
        bar?.stop();
        if (!opts.json) process.stdout.write('\n' + r.summary + '\n');
        const counts: Record<string, number> = {};
        for (const f of r.analysis.findings) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
        digits = { report: r.report, accuracy: r.analysis.samples.accuracy, findings: counts };
      }
      if (opts.json) {
        const { text: _, ...figures } = synthetic;
        process.stdout.write(JSON.stringify({ synthetic: figures, digits }, null, 1) + '\n');
      }
    });
}
