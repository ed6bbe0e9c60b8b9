/**
 * `protolens fit FEATURES --out MODEL.json`: fits the paper's prototype classifier on a labelled
 * feature file and saves it (atomically) for `predict` and `explain`.
 */
import type { Command } from 'commander';
import { PrototypeClassifier, type PrototypeOptions } from '../../model/prototype.ts';
import { FeatureTransform, Pipeline, PREPROCESS_METHODS, type PreprocessMethod } from '../../model/preprocess.ts';
import { CLIError } from '../errors.ts';
import { progressBar } from '../progress.ts';
import { readFeatureFile, writeModelFile } from '../modelfile.ts';
import { checkOutputFile } from '../../data/outputs.node.ts';

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
  const int = (flag: string, s: string, min: number): number => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < min) throw new CLIError(`Invalid value for ${flag}: "${s}". Expected an integer ≥ ${min}.`);
    return v;
  };
  const pos = (flag: string, s: string, allowZero: boolean): number => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
      throw new CLIError(`Invalid value for ${flag}: "${s}". Expected a ${allowZero ? 'non-negative' : 'positive'} number.`);
    }
    return v;
  };
  if (f.prototypes !== undefined) o.nPrototypes = int('--prototypes', f.prototypes, 1);
  if (f.regularization !== 'l1' && f.regularization !== 'l2') throw new CLIError(`Invalid value for --regularization: "${f.regularization}". Expected one of: l1, l2.`);
  o.regularization = f.regularization;
  o.alpha = pos('--alpha', f.alpha, true);
  o.tau = f.tau === 'auto' ? 'auto' : pos('--tau', f.tau, false);
  if (f.tauScale !== undefined) o.tauScale = pos('--tau-scale', f.tauScale, false);
  if (f.maxIter !== undefined) o.maxIter = int('--max-iter', f.maxIter, 0);
  const seed = Number(f.seed);
  if (!Number.isInteger(seed)) throw new CLIError(`Invalid value for --seed: "${f.seed}". Expected an integer.`);
  o.seed = seed;
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
      if (!(PREPROCESS_METHODS as readonly string[]).includes(flags.preprocess)) {
        throw new CLIError(`Invalid value for --preprocess: "${flags.preprocess}". Expected one of: ${PREPROCESS_METHODS.join(', ')}.`);
      }
      const fs = readFeatureFile(features);
      if (fs.labels.length === 0) throw new CLIError(`${features}: the file has no labels; fitting needs one label per row`);
      const transform = flags.preprocess === 'none' ? null : new FeatureTransform(flags.preprocess as PreprocessMethod);
      const model = new PrototypeClassifier(options);
      const maxIter = Number(model.getParams().maxIter);
      const bar = flags.progress ? progressBar('fit', maxIter, 'iterations') : null;
      const t0 = performance.now();
      try {
        model.fit(transform ? transform.fitTransform(fs.X) : fs.X, fs.labels, (rec) => bar?.update(rec.iter, `loss ${rec.loss.toFixed(4)} acc ${rec.accuracy.toFixed(3)}`));
      } catch (e) {
        if (e instanceof RangeError || e instanceof TypeError) throw new CLIError(`${features}: ${e.message}`);
        throw e;
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
