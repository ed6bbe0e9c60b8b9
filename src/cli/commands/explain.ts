/**
 * `protolens explain MODEL --features FILE [--images [ROOT]] [--out DIR] [--reconstruct]
 * [--adversarial N]`: the interpretation report of a fitted prototype model on labelled features —
 * Figure 1, the W heat map, findings with their rules, a description of every prototype with its
 * nearest samples (as thumbnails when the images are known), and, through the backbone that made
 * the features, each prototype's reconstruction and the adversarial reading of N samples. Written
 * all-or-nothing into DIR by src/viz/explain.node.ts.
 */
import type { Command } from 'commander';
import { relative } from 'node:path';
import { explainModelFile } from '../../viz/explain.node.ts';
import { userInput } from '../errors.ts';
import { names, oneOf, positiveInt, anyInt } from '../flags.ts';
import { ATTACK_NORMS, ATTACK_TARGETS } from '../../interpret/adversarial.ts';

interface ExplainFlags {
  features: string;
  images?: string | boolean;
  out: string;
  nearest: string;
  png: boolean;
  title?: string;
  force: boolean;
  json: boolean;
  reconstruct?: boolean;
  steps?: string;
  adversarial?: string;
  norms?: string;
  targets?: string;
  backbone?: string;
  seed: string;
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
    .option('--reconstruct', 'reconstruct every prototype: an image whose feature lands on it, through the backbone that made the features (TF.js backbones; ONNX gives no gradients)')
    .option('--steps <n>', 'gradient steps per reconstruction (default 200 for network inputs up to 64×64, 80 for larger ones)')
    .option('--adversarial <n>', 'adversarial reading of N samples spread over the classes: the smallest perturbation that changes the best prototype and the class (needs --images)')
    .option('--norms <list>', `norms of the adversarial search, some of: ${ATTACK_NORMS.join(', ')}`, ATTACK_NORMS.join(','))
    .option('--targets <list>', `what the adversarial search changes, some of: ${ATTACK_TARGETS.join(', ')}`, ATTACK_TARGETS.join(','))
    .option('-b, --backbone <name|dir>', 'the backbone for --reconstruct and --adversarial, instead of the one the features record')
    .option('--seed <s>', 'seed of the reconstructions and of the choice of samples', '0')
    .action(async (modelPath: string, flags: ExplainFlags) => {
      const nearest = positiveInt('--nearest', flags.nearest, true);
      const seed = anyInt('--seed', flags.seed);
      const steps = flags.steps === undefined ? undefined : positiveInt('--steps', flags.steps);
      const adversarial = flags.adversarial === undefined ? undefined : positiveInt('--adversarial', flags.adversarial);
      const norms = names(flags.norms).map((n) => oneOf('--norms', n, ATTACK_NORMS, true));
      const targets = names(flags.targets).map((t) => oneOf('--targets', t, ATTACK_TARGETS, true));
      const cmd = `protolens explain ${modelPath} --features ${flags.features}${flags.images ? ` --images${typeof flags.images === 'string' ? ` ${flags.images}` : ''}` : ''}` +
        `${flags.reconstruct ? ' --reconstruct' : ''}${adversarial ? ` --adversarial ${adversarial}` : ''}${flags.backbone ? ` --backbone ${flags.backbone}` : ''}`;
      const say = (s: string) => process.stderr.write(s + '\n');
      const { analysis, written } = await userInput(() => explainModelFile(modelPath, flags.features, flags.out, {
        images: flags.images, nearest, png: flags.png, title: flags.title, command: cmd,
        log: say, check: { force: flags.force, inputs: flags.backbone ? [flags.backbone] : [] },
        reconstruct: flags.reconstruct ? { seed, ...(steps ? { steps } : {}) } : undefined,
        adversarial, adversarialOptions: { seed, norms, targets }, backbone: flags.backbone,
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
