/**
 * `protolens explain MODEL --features FILE [--images [ROOT]] [--out DIR]`: the interpretation
 * report of a fitted prototype model on labelled features — Figure 1, the W heat map, findings
 * with their rules, a description of every prototype with its nearest samples (as thumbnails when
 * the images are known). Written all-or-nothing into DIR by src/viz/explain.node.ts.
 */
import type { Command } from 'commander';
import { relative } from 'node:path';
import { explainModelFile } from '../../viz/explain.node.ts';
import { userInput } from '../errors.ts';
import { positiveInt } from '../flags.ts';

interface ExplainFlags {
  features: string;
  images?: string | boolean;
  out: string;
  nearest: string;
  png: boolean;
  title?: string;
  force: boolean;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('explain')
    .argument('<model>', 'PrototypeClassifier saved by "protolens fit" (JSON)')
    .requiredOption('-f, --features <file>', 'labelled feature file (.npy + sidecar, .csv or .jsonl), usually the training features')
    .option('--images [root]', 'show thumbnails; root = image folder/zip/list (default: the one recorded by "protolens extract")')
    .option('-o, --out <dir>', 'report folder (replaced as a whole once the new report is complete; only a folder protolens wrote, see --force)', 'protolens-out/report')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--nearest <k>', 'nearest training samples shown per prototype', '8')
    .option('--title <text>', 'report title')
    .option('--no-png', 'skip the PNG versions of the figures')
    .option('--json', 'print the summary as JSON (report, accuracy, explained variance, findings by kind, files)', false)
    .action(async (modelPath: string, flags: ExplainFlags) => {
      const nearest = positiveInt('--nearest', flags.nearest, true);
      const cmd = `protolens explain ${modelPath} --features ${flags.features}${flags.images ? ` --images${typeof flags.images === 'string' ? ` ${flags.images}` : ''}` : ''}`;
      const { analysis, written } = await userInput(() => explainModelFile(modelPath, flags.features, flags.out, {
        images: flags.images, nearest, png: flags.png, title: flags.title, command: cmd,
        log: (s) => process.stderr.write(s + '\n'), check: { force: flags.force },
      }));
      const counts = new Map<string, number>();
      for (const f of analysis.findings) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
      const shown = relative(process.cwd(), written.html);
      if (flags.json) {
        process.stdout.write(JSON.stringify({
          report: written.html, accuracy: analysis.samples.accuracy, explainedRatio: analysis.projection.explainedRatio.slice(0, 2),
          findings: Object.fromEntries(counts), files: written.files,
        }, null, 1) + '\n');
        return;
      }
      process.stdout.write(`Report: ${shown.startsWith('..') ? written.html : shown}\n` +
        `Accuracy on these samples ${analysis.samples.accuracy.toFixed(3)}; PCA axes explain ${(100 * analysis.projection.explainedRatio[0]).toFixed(1)}% + ${(100 * analysis.projection.explainedRatio[1]).toFixed(1)}% of the variance.\n` +
        `Findings: ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}\n` +
        `Files: ${written.files.join(', ')}\n`);
    });
}
