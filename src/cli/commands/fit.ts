/**
 * `protolens fit FEATURES --out MODEL.json`: fits the paper's prototype classifier on a labelled
 * feature file and saves it (atomically) for `predict` and `explain`.
 */
import type { Command } from 'commander';
import { PrototypeClassifier, type PrototypeOptions } from '../../model/prototype.ts';
import { FeatureTransform, Pipeline, PREPROCESS_METHODS, checkPreprocessMethod } from '../../model/preprocess.ts';
import { readFeatures } from '../../data/features.node.ts';
import { writeModelFile } from '../../data/modelfile.node.ts';
import { checkOutputFile } from '../../data/outputs.node.ts';
import { CLIError, toCliError, userInput } from '../errors.ts';
import { anyInt, int, libraryChoice, positive } from '../flags.ts';
import { progressBar } from '../progress.ts';

interface FitFlags {
  out: string;
  prototypes?: string;
  regularization: string;
  alpha: string;
  tau: string;
  tauScale?: string;
  maxIter?: string;
  seed: string;
  preprocess: string;
  progress: boolean;
  force: boolean;
}

/** Parses the CLI flags into model options. @throws CLIError naming the flag and what was expected. */
export function fitOptions(f: FitFlags): PrototypeOptions {
  const o: PrototypeOptions = {};
  if (f.prototypes !== undefined) o.nPrototypes = int('--prototypes', f.prototypes, 1);
  o.regularization = libraryChoice('--regularization', f.regularization,
    (r) => new PrototypeClassifier({ regularization: r as 'l1' | 'l2' }).getParams().regularization as 'l1' | 'l2');
  o.alpha = positive('--alpha', f.alpha, true);
  o.tau = f.tau === 'auto' ? 'auto' : positive('--tau', f.tau);
  if (f.tauScale !== undefined) o.tauScale = positive('--tau-scale', f.tauScale);
  if (f.maxIter !== undefined) o.maxIter = int('--max-iter', f.maxIter, 0);
  o.seed = anyInt('--seed', f.seed);
  return o;
}

export function register(program: Command): void {
  program
    .command('fit')
    .description('Fit the prototype classifier on a labelled feature file and save it as JSON')
    .argument('<features>', 'feature file (.npy with its .json sidecar, .csv or .jsonl), with labels')
    .requiredOption('-o, --out <model.json>', 'where to save the model (an existing file only if protolens wrote it, see --force)')
    .option('--force', 'replace --out even if it is not a protolens model (never an input or a feature sidecar)')
    .option('-J, --prototypes <J>', 'number of prototypes (default: 2 per class)')
    .option('--regularization <l1|l2>', 'penalty on W', 'l2')
    .option('--alpha <a>', 'penalty weight α', '0.001')
    .option('--tau <auto|number>', 'scale τ of the prototype layer; auto = tau-scale × median pair squared distance / 2', 'auto')
    .option('--tau-scale <s>', 'multiplier of the data scale when --tau auto (default 0.1)')
    .option('--max-iter <n>', 'outer iterations (default 100)')
    .option('--seed <s>', 'seed of every random choice', '0')
    .option('--preprocess <method>', `feature transform learned on these features and saved with the model: ${PREPROCESS_METHODS.join(' | ')}`, 'none')
    .option('--no-progress', 'no progress bar')
    .action((features: string, flags: FitFlags) => {
      if (!/\.json$/i.test(flags.out)) throw new CLIError(`Invalid value for --out: "${flags.out}". Expected a path ending in .json.`);
      const options = fitOptions(flags);
      const check = { inputs: [features], force: flags.force };
      checkOutputFile(flags.out, 'model', check);
      const preprocess = libraryChoice('--preprocess', flags.preprocess, checkPreprocessMethod);
      const fs = userInput(() => readFeatures(features));
      if (fs.labels.length === 0) throw new CLIError(`${features}: the file has no labels; fitting needs one label per row`);
      const transform = preprocess === 'none' ? null : new FeatureTransform(preprocess);
      const model = new PrototypeClassifier(options);
      const maxIter = Number(model.getParams().maxIter);
      const bar = flags.progress ? progressBar('fit', maxIter, 'iterations') : null;
      const t0 = performance.now();
      try {
        model.fit(transform ? transform.fitTransform(fs.X) : fs.X, fs.labels, (rec) => bar?.update(rec.iter, `loss ${rec.loss.toFixed(4)} acc ${rec.accuracy.toFixed(3)}`));
      } catch (e) {
        throw toCliError(e, features);
      } finally {
        bar?.stop();
      }
      writeModelFile(flags.out, transform ? new Pipeline(transform, model) : model, check);
      const h = model.history_;
      process.stdout.write(
        `Fitted ${model.W_!.rows} prototypes on ${fs.X.rows} samples × ${fs.X.cols} features, ${model.classes_.length} classes ` +
        `in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${model.nIter_} iterations${model.converged_ ? ' (converged)' : ''}, ` +
        `loss ${h[0].loss.toFixed(4)} → ${h.at(-1)!.loss.toFixed(4)}, training accuracy ${h.at(-1)!.accuracy.toFixed(3)}.\n` +
        `τ = ${model.tau_.toPrecision(4)} (${model.tauRule_}).${transform ? ` Features preprocessed: ${transform.method} (saved with the model).` : ''}\nSaved ${flags.out}\n`);
    });
}
