/**
 * `protolens bench openset`: the open-set protocol (src/select/openset.ts) on a labelled feature
 * file, or on an image folder through a backbone. Prints the Markdown report and writes
 * openset.md and openset.json into --out (an output folder protolens owns; the inputs are never
 * outputs).
 */
import type { Command } from 'commander';
import { CLIError } from '../errors.ts';
import { int, libraryChoice, names, oneOf, positive, featureSourceOptions, preprocessHelp, type OptionsWithChoice } from '../flags.ts';
import { checkPreprocessChoice } from '../../model/preprocess.ts';
import { OPENSET_MODELS, runOpenSet, type OpenSetOptions } from '../../select/openset.ts';
import { openSetMarkdown } from '../../select/openset-report.ts';
import type { LoadFeatures } from './bench-episodes.ts';
import { runBenchCommand, type BenchRunFlags } from './bench-run.ts';

interface OpenSetFlags extends BenchRunFlags {
  known: string; shots: string; validation: string; queries: string; unknownClasses?: string; unseenGroups: string;
  splits: string; seed: string; preprocess: string; models?: string; targetRejection: string;
  reduce: boolean;
  title?: string;
}

/** Turns the flags into protocol options (exported for tests). */
export function openSetOptions(f: OpenSetFlags): OptionsWithChoice<OpenSetOptions> {
  const rate = positive('--target-rejection', f.targetRejection, true);
  if (rate >= 1) throw new CLIError(`Invalid value for --target-rejection: "${f.targetRejection}". Expected a share below 1, e.g. 0.05.`);
  return {
    known: int('--known', f.known, 2), shots: int('--shots', f.shots), validation: int('--validation', f.validation), queries: int('--queries', f.queries),
    unknownClasses: f.unknownClasses === undefined ? undefined : int('--unknown-classes', f.unknownClasses), unseenGroups: int('--unseen-groups', f.unseenGroups, 0),
    splits: int('--splits', f.splits), seed: int('--seed', f.seed, 0), preprocess: libraryChoice('--preprocess', f.preprocess, checkPreprocessChoice),
    models: f.models ? names(f.models).map((m) => oneOf('--models', m, OPENSET_MODELS, true)) : undefined,
    targetFalseRejection: rate,
    reduce: f.reduce,
  };
}

/** Registers `bench openset` under the `bench` command. */
export function registerOpenSet(bench: Command, loadFeatures: LoadFeatures): void {
  featureSourceOptions(bench
    .command('openset')
    .description('Open-set recognition: known classes against classes never fitted; AUROC and FPR at 95 % TPR of every novelty score and baseline over seeded splits'))
    .option('--known <n>', 'known classes per split (N)', '20')
    .option('--shots <k>', 'samples per known class to fit on', '5')
    .option('--validation <n>', 'held-out samples per known class that calibrate', '5')
    .option('--queries <n>', 'test samples per known class and per unknown class', '10')
    .option('--unknown-classes <n>', 'unknown classes of each kind per split (default: as many as known)')
    .option('--unseen-groups <n>', 'groups held out of each split for unknowns of unseen groups (labels group/class; 0 for none)', '2')
    .option('--splits <n>', 'random splits', '10')
    .option('--seed <n>', 'seed of the splits', '0')
    .option('--preprocess <name>', preprocessHelp('feature preprocessing fitted on each split\'s fitting samples'), 'auto')
    .option('--models <list>', `models to fit (default all): ${OPENSET_MODELS.join(', ')}`)
    .option('--target-rejection <rate>', 'share of held-out known samples the stored threshold rejects', '0.05')
    .option('--no-reduce', 'fit and score the prototype models on all feature columns instead of the fitting samples\' span')
    .option('-o, --out <dir>', 'output folder for openset.md and openset.json (replaced as a whole; only a folder protolens wrote, see --force)', 'bench-out')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--title <text>', 'heading of the report')
    .option('--json', 'print the results as JSON (what openset.json holds) instead of the Markdown report', false)
    .option('--no-progress', 'no progress bar')
    .action(async (flags: OpenSetFlags) => {
      const options = openSetOptions(flags);
      await runBenchCommand(flags, options.preprocess, loadFeatures, {
        name: 'openset', unit: 'splits', total: options.splits ?? 10,
        run: (data, preprocess, tick) => runOpenSet(data, { ...options, preprocess, onProgress: (p) => tick(p.done) }),
        markdown: (result, context) => openSetMarkdown(result, { title: flags.title ?? 'Open-set recognition', ...context }),
      });
    });
}
