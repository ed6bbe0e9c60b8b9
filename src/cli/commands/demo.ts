/**
 * `protolens demo`: the README's main job. Fits the prototype model and its baselines on the
 * embedded synthetic data (classes made of several remote blobs, interleaved, unbalanced, one
 * singleton), prints the accuracies side by side and which prototypes make up each class.
 */
import type { Command } from 'commander';
import { twistedClasses, stratifiedSplit } from '../../data/synthetic.ts';
import { takeRows } from '../../linalg/matrix.ts';
import { PrototypeClassifier } from '../../model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../../model/baselines.ts';
import type { Classifier, Label } from '../../model/types.ts';
import { gemmBackendName } from '../../linalg/gemm.ts';
import { describeNodeGemm, nodeGemmChoice } from '../../linalg/gemm-native.node.ts';
import { CLIError } from '../errors.ts';
import { runDigitsDemo } from '../digits-demo.ts';

export interface DemoOptions {
  seed: number;
  prototypes: number;
}

/** Text summary of which prototypes serve each class and which link to several classes. */
export function prototypeSummary(m: PrototypeClassifier, blobsPerClass?: Map<Label, number>): string {
  const J = m.W_!.rows;
  const byClass = new Map<Label, number[]>();
  const multi: string[] = [];
  for (let j = 0; j < J; j++) {
    const { winningClass, links } = m.links(j);
    const list = byClass.get(winningClass) ?? [];
    list.push(j);
    byClass.set(winningClass, list);
    const strong = links.filter((l) => l.weight >= 0.5 * links[0].weight);
    if (strong.length > 1) multi.push(`  p${j}: ${strong.map((l) => `${l.label} (${l.weight.toFixed(2)})`).join(', ')}`);
  }
  const lines = ['Prototypes per class (winning class = argmax of the prototype\'s row of W):'];
  for (const c of m.classes_) {
    const ps = byClass.get(c) ?? [];
    const truth = blobsPerClass?.get(c);
    lines.push(`  ${String(c).padEnd(10)} ${String(ps.length).padStart(2)} prototype(s)${truth !== undefined ? ` [true blobs: ${truth}]` : ''}: ${ps.map((j) => `p${j}`).join(' ')}`);
  }
  lines.push(multi.length
    ? `Prototypes linked to several classes (weight ≥ half the strongest link):\n${multi.join('\n')}`
    : 'No prototype links to several classes (weight ≥ half the strongest link).');
  return lines.join('\n');
}

/** Runs the synthetic demo and returns the printed report. */
export function runSyntheticDemo(o: DemoOptions): string {
  const d = twistedClasses({ seed: o.seed });
  const { train, test } = stratifiedSplit(d.y, 0.3, o.seed);
  const Xtr = takeRows(d.X, train), Xte = takeRows(d.X, test);
  const ytr = train.map((i) => d.y[i]), yte = test.map((i) => d.y[i]);
  const blobs = new Map<Label, number>();
  for (const c of d.blobClass) blobs.set(c, (blobs.get(c) ?? 0) + 1);
  const out: string[] = [];
  out.push(`protolens demo — embedded synthetic data (seed ${o.seed}): ${d.X.rows} samples, ${d.X.cols} dimensions, ` +
    `${blobs.size} classes made of ${d.blobClass.length} Gaussian blobs (multi-blob classes surround other classes; one singleton class).`);
  out.push(`Train ${train.length} / test ${test.length} (stratified). ${describeNodeGemm(nodeGemmChoice() ?? { backend: gemmBackendName() })}.`);
  const ours = new PrototypeClassifier({ nPrototypes: o.prototypes, seed: o.seed });
  const l1 = new PrototypeClassifier({ nPrototypes: o.prototypes, seed: o.seed, regularization: 'l1' });
  const paper = new PrototypeClassifier({ nPrototypes: o.prototypes, seed: o.seed, tau: 1 });
  const models: Array<[string, Classifier]> = [
    [`prototypes, L2, J=${o.prototypes}, τ auto`, ours],
    [`prototypes, L1, J=${o.prototypes}, τ auto`, l1],
    [`prototypes, L2, J=${o.prototypes}, τ = 1 (paper)`, paper],
    ['single prototype (class mean)', new NearestClassMean()],
    ['softmax, L2', new SoftmaxRegression()],
    ['1-nearest neighbour', new KNearestNeighbors()],
  ];
  out.push('', 'Test accuracy:');
  for (const [name, m] of models) {
    const t0 = performance.now();
    m.fit(Xtr, ytr);
    const ms = performance.now() - t0;
    out.push(`  ${name.padEnd(38)} ${m.score(Xte, yte).toFixed(3)}   (fit ${ms.toFixed(0)} ms)`);
  }
  out.push('', `Prototype model (L2): τ ${ours.tauRule_}; ${ours.nIter_} iterations, ` +
    `loss ${ours.history_[0].loss.toFixed(4)} → ${ours.history_.at(-1)!.loss.toFixed(4)}${ours.converged_ ? ' (converged)' : ''}.`);
  out.push(prototypeSummary(ours, blobs));
  return out.join('\n');
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('Fit the prototype model and its baselines on the embedded default data, and summarise')
    .option('--seed <n>', 'seed of the data and of every fit', '1')
    .option('--prototypes <J>', 'number of prototypes', '30')
    .option('--digits <n>', 'handwritten digits (mnist package) embedded with MobileNetV2 for the report', '300')
    .option('--no-images', 'skip the digits report (no CNN, synthetic data only)')
    .option('-o, --out <dir>', 'report folder of the digits demo (its working files go to <dir>-digits)', 'protolens-out/demo')
    .option('--force', 'replace those folders even if protolens did not write them')
    .action(async (opts: { seed: string; prototypes: string; digits: string; images: boolean; out: string; force: boolean }) => {
      const seed = Number(opts.seed), prototypes = Number(opts.prototypes);
      if (!Number.isInteger(seed)) throw new CLIError(`Invalid value for --seed: ${opts.seed}. Expected an integer.`);
      if (!Number.isInteger(prototypes) || prototypes < 1) throw new CLIError(`Invalid value for --prototypes: ${opts.prototypes}. Expected a positive integer.`);
      const n = Number(opts.digits);
      if (!Number.isInteger(n) || n < 20 || n % 10 !== 0) throw new CLIError(`Invalid value for --digits: ${opts.digits}. Expected a multiple of 10, at least 20.`);
      process.stdout.write(runSyntheticDemo({ seed, prototypes }) + '\n');
      if (opts.images) {
        const r = await runDigitsDemo({ n, seed, out: opts.out, workDir: `${opts.out.replace(/[/\\]+$/, '')}-digits`, force: opts.force, log: (m) => process.stderr.write(m + '\n') });
        process.stdout.write('\n' + r.summary + '\n');
      }
    });
}
