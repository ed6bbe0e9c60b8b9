/**
 * `protolens evaluate FEATURES [--folds K | --test-size F] [-o DIR]` (or `--features FEATURES`): the prototype model
 * beside its baselines on held-out data — accuracy, per-class precision/recall/F1 and confusion
 * matrices, as a report folder (src/viz/evaluate.node.ts) and a summary on stdout.
 */
import type { Command } from 'commander';
import { relative } from 'node:path';
import { checkPreprocessChoice } from '../../model/preprocess.ts';
import { DEFAULT_ALPHA } from '../../model/prototype.ts';
import { EVALUATE_CLASSIFIERS, checkEvaluateClassifiers, evaluateFile } from '../../viz/evaluate.node.ts';
import { evaluationMarkdown } from '../../viz/evaluation.ts';
import { CLIError, userInput } from '../errors.ts';
import { anyInt, featureFile, int, libraryChoice, names, positive, preprocessHelp } from '../flags.ts';
import { progressBar, type Progress } from '../progress.ts';
import { fitOptions, type ModelFlags } from './fit.ts';

interface EvaluateFlags extends Omit<ModelFlags, 'prune'> {
  features?: string;
  out: string;
  force: boolean;
  folds?: string;
  testSize?: string;
  preprocess: string;
  classifiers?: string;
  title?: string;
  model?: string;
  json: boolean;
  progress: boolean;
}

/** The flags that --model replaces: given with it, they would be ignored. */
const MODEL_FLAGS = ['prototypes', 'regularization', 'alpha', 'tau', 'tauScale', 'metric', 'maxIter', 'preprocess'];

/** @throws CLIError when a flag --model replaces was given too. */
function refuseModelFlags(cmd: Command): void {
  const given = cmd.options.filter((o) => MODEL_FLAGS.includes(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli');
  if (given.length) throw new CLIError(`--model gives the prototype model's settings and feature transform; drop ${given.map((o) => o.long).join(', ')}`);
}

export function register(program: Command): void {
  program
    .command('evaluate')
    .argument('[features]', 'labelled feature file (.npy + sidecar, .csv or .jsonl)')
    .option('-f, --features <file>', 'the feature file, as a flag instead of the first argument')
    .option('--folds <K>', 'stratified K-fold cross-validation: every sample scored once (default 5 unless --test-size)')
    .option('--test-size <fraction>', 'a stratified train/test split with this fraction held out for testing, instead of folds')
    .option('--seed <s>', 'seed of the split (and of the prototype model)', '0')
    .option('--preprocess <method>', preprocessHelp('feature transform every classifier is fitted behind, learned on each training part'), 'auto')
    .option('--classifiers <list>', `which to evaluate (default all): ${EVALUATE_CLASSIFIERS.join(', ')}`)
    .option('-m, --model <model.json>', 'evaluate the settings of a model "fit" wrote (e.g. chosen by fit --cv): its prototype model\'s options and seed, and its feature transform')
    .option('-J, --prototypes <J>', 'prototype model: number of prototypes (default 2 per class)')
    .option('--regularization <l1|l2>', 'prototype model: penalty on W', 'l2')
    .option('--alpha <a>', `prototype model: penalty weight α (default: ${DEFAULT_ALPHA.l2} with l2, ${DEFAULT_ALPHA.l1} with l1)`)
    .option('--tau <auto|number>', 'prototype model: scale τ', 'auto')
    .option('--tau-scale <s>', 'prototype model: multiplier of the data scale when --tau auto')
    .option('--metric <name>', 'prototype model: euclidean | diagonal | lowrank', 'euclidean')
    .option('--max-iter <n>', 'prototype model: outer iterations (default 100)')
    .option('-o, --out <dir>', 'report folder: report.html, evaluation.json, evaluation.md, confusion-*.svg (replaced as a whole; only a folder protolens wrote, see --force)', 'protolens-out/evaluation')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--title <text>', 'report title')
    .option('--json', 'print the evaluation as JSON instead of Markdown', false)
    .option('--no-progress', 'no progress bar')
    .action(async (positional: string | undefined, flags: EvaluateFlags, cmd: Command) => {
      const features = featureFile(positional, flags.features);
      if (flags.model) refuseModelFlags(cmd);
      if (flags.folds !== undefined && flags.testSize !== undefined) throw new CLIError('--folds and --test-size are two ways of holding data out; give one of them');
      const split = flags.testSize !== undefined
        ? { kind: 'holdout' as const, testSize: positive('--test-size', flags.testSize) }
        : { kind: 'folds' as const, folds: flags.folds === undefined ? 5 : int('--folds', flags.folds, 2) };
      if (split.kind === 'holdout' && split.testSize >= 1) throw new CLIError(`Invalid value for --test-size: "${flags.testSize}". Expected a fraction between 0 and 1.`);
      const seed = anyInt('--seed', flags.seed);
      const preprocess = libraryChoice('--preprocess', flags.preprocess, checkPreprocessChoice);
      const classifiers = flags.classifiers ? libraryChoice('--classifiers', flags.classifiers, (s) => checkEvaluateClassifiers(names(s))) : undefined;
      const model = fitOptions({ ...flags, prune: true });
      let bar: Progress | undefined;
      const total = (classifiers ?? EVALUATE_CLASSIFIERS).length * (split.kind === 'folds' ? split.folds : 1);
      const { evaluation, files, dir } = await userInput(() => evaluateFile({
        features, out: flags.out, split, seed, preprocess, model, settingsFrom: flags.model, classifiers, title: flags.title,
        command: `protolens ${process.argv.slice(2).join(' ')}`, check: { force: flags.force },
        onProgress: (p) => {
          if (!flags.progress) return;
          bar ??= progressBar('evaluate', total, 'fits');
          bar.setTotal(p.rounds * (classifiers ?? EVALUATE_CLASSIFIERS).length);
          bar.update(p.classifier * p.rounds + p.round + 1);
        },
      })).finally(() => bar?.stop());
      process.stdout.write(flags.json ? JSON.stringify(evaluation, null, 1) + '\n' : evaluationMarkdown(evaluation, flags.title ?? `Evaluation of ${features}`));
      const shown = relative(process.cwd(), dir);
      process.stderr.write(`wrote ${shown.startsWith('..') ? dir : shown}/: ${files.join(', ')}\n`);
    });
}
