import { Option, type Command } from 'commander';
import { toCliError } from '../errors.ts';
import { int, libraryChoice, names, positive } from '../flags.ts';
import { progressBar, type Progress } from '../progress.ts';
import { checkNodeBackend } from '../../features/backend.node.ts';
import type { BackendName } from '../../features/backend.ts';
import { trainEmbedding, type RunOptions } from '../../embedding/run.node.ts';
import { DEFAULT_TEST_GROUPS, DEFAULT_VAL_GROUPS } from '../../embedding/split.ts';
import { NO_JITTER, SMALL_JITTER } from '../../embedding/augment.ts';
import { CONV_PASSES, HEADS, TRAIN_DEFAULTS, checkTrainOptions, type EmbeddingHead, type ConvPasses, type TrainOptions } from '../../embedding/train.ts';

interface Flags {
  out: string;
  head: string;
  passes: string;
  engine?: string;
  way: string; shot: string; query: string;
  valWay: string; valShot: string; valQuery: string; valEpisodes: string;
  evalEvery: string; patience: string; maxEpisodes: string; maxMinutes: string;
  lr: string; lrHalfLife: string;
  rotations: boolean; jitter?: boolean;
  prototypesPerClass: string; alpha: string; bankRate: string; layerLrScale: string; protonetEpisodes: string; groupEpisodes: string;
  filters: string; blocks: string; inputSize: string;
  valAlphabets?: string; testAlphabets?: string;
  seed: string; backend: string; progress: boolean; force: boolean; json?: boolean;
}

/** The command-line options (commander's attribute names) behind each training option. */
const OPTION_FLAGS: Partial<Record<keyof TrainOptions, string[]>> = {
  head: ['head'], passes: ['passes'], episode: ['way', 'shot', 'query'], valEpisode: ['valWay', 'valShot', 'valQuery'],
  valEpisodes: ['valEpisodes'], evalEvery: ['evalEvery'], patience: ['patience'], maxEpisodes: ['maxEpisodes'],
  maxMinutes: ['maxMinutes'], learningRate: ['lr'], lrHalfLife: ['lrHalfLife'], rotations: ['rotations'], jitter: ['jitter'],
  prototypesPerClass: ['prototypesPerClass'], alpha: ['alpha'], bankRate: ['bankRate'], layerLrScale: ['layerLrScale'],
  protonetEpisodes: ['protonetEpisodes'], groupEpisodes: ['groupEpisodes'], net: ['filters', 'blocks', 'inputSize'], seed: ['seed'],
};

/** `valWay` → `--val-way`. */
function flagName(attr: string): string {
  return '--' + (attr === 'learningRate' ? 'lr' : attr.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
}

/**
 * The training options the flags ask for: every option parsed and checked (`all`), and the ones
 * given on the command line (`train`; a resumed run keeps its checkpoint's options and reports
 * the ones given that differ).
 */
function trainOptions(f: Flags, cmd: Command): { train: Partial<TrainOptions>; backend: BackendName; passes: ConvPasses } {
  const d = TRAIN_DEFAULTS;
  if (f.engine !== undefined) f.passes = f.engine;
  const head = libraryChoice('--head', f.head, (h) => checkTrainOptions({ head: h as EmbeddingHead }).head);
  const passes = libraryChoice(f.engine !== undefined ? '--engine' : '--passes', f.passes, (p) => checkTrainOptions({ passes: p as ConvPasses }).passes);
  const backend = libraryChoice('--backend', f.backend, checkNodeBackend);
  const all: TrainOptions = {
    ...d,
    head,
    passes,
    episode: { nWay: int('--way', f.way), kShot: int('--shot', f.shot), nQuery: int('--query', f.query, 0) },
    valEpisode: { nWay: int('--val-way', f.valWay), kShot: int('--val-shot', f.valShot), nQuery: int('--val-query', f.valQuery) },
    valEpisodes: int('--val-episodes', f.valEpisodes),
    evalEvery: int('--eval-every', f.evalEvery),
    patience: int('--patience', f.patience),
    maxEpisodes: int('--max-episodes', f.maxEpisodes),
    maxMinutes: positive('--max-minutes', f.maxMinutes),
    learningRate: positive('--lr', f.lr),
    lrHalfLife: int('--lr-half-life', f.lrHalfLife),
    rotations: f.rotations,
    jitter: f.jitter === false ? NO_JITTER : SMALL_JITTER,
    prototypesPerClass: int('--prototypes-per-class', f.prototypesPerClass),
    alpha: positive('--alpha', f.alpha, true),
    bankRate: positive('--bank-rate', f.bankRate, true),
    layerLrScale: positive('--layer-lr-scale', f.layerLrScale),
    protonetEpisodes: int('--protonet-episodes', f.protonetEpisodes, 0),
    groupEpisodes: positive('--group-episodes', f.groupEpisodes, true),
    net: { ...d.net, filters: int('--filters', f.filters), blocks: int('--blocks', f.blocks), inputSize: int('--input-size', f.inputSize, 4) },
    seed: int('--seed', f.seed, 0),
  };
  const given = (flag: string): boolean => cmd.getOptionValueSource(flag) === 'cli';
  const train: Partial<TrainOptions> = {};
  for (const [key, flags] of Object.entries(OPTION_FLAGS) as Array<[keyof TrainOptions, string[]]>) {
    if (flags.some(given)) (train as Record<string, unknown>)[key] = all[key];
  }
  if (given('engine')) train.passes = all.passes;
  return { train, backend, passes };
}

/** Progress bars and lines on stderr for the training's callbacks. */
function reporter(progress: boolean, say: (s: string) => void): { callbacks: Pick<RunOptions, 'onLoad' | 'onStart' | 'onEpisode' | 'onEvaluate'>; stop(): void } {
  let bar: Progress | null = null;
  let loadBar: Progress | null = null;
  let lastVal = NaN;
  const callbacks: Pick<RunOptions, 'onLoad' | 'onStart' | 'onEpisode' | 'onEvaluate'> = {
    onLoad: (done, total) => {
      if (!progress) return;
      loadBar ??= progressBar('loading images', total, 'images');
      loadBar.update(done);
      if (done === total) { loadBar.stop(); }
    },
    onStart: (s) => {
      const o = s.options;
      say(`train-embedding: ${o.head}, ${o.episode.nWay}-way ${o.episode.kShot}-shot ${o.episode.nQuery}-query episodes; ` +
        `${s.nTrainClasses} training classes${o.rotations ? ' (with rotations)' : ''}, ${s.nValClasses} validation, ${s.nTestClasses} test (never used); seed ${o.seed}`);
      if (s.resumedFrom > 0) say(`resuming from the checkpoint at episode ${s.resumedFrom}`);
      for (const i of s.ignoredOnResume) {
        say(`  note: ${(OPTION_FLAGS[i.option] ?? [i.option]).map(flagName).join('/')} ignored: a resumed run keeps its checkpoint's ${i.option} (${JSON.stringify(i.kept)}); only --max-minutes, --max-episodes, --patience and --passes change on resume`);
      }
      if (progress) bar = progressBar('training', Math.round(o.maxMinutes * 60), 's');
    },
    onEpisode: (r) => {
      bar?.update(Math.round(r.seconds), `episode ${r.episode} loss ${r.loss.toFixed(3)} acc ${r.accuracy.toFixed(3)} val ${Number.isNaN(lastVal) ? '–' : lastVal.toFixed(3)}`);
    },
    onEvaluate: (p, improved) => {
      lastVal = p.valAccuracy;
      if (!process.stderr.isTTY || bar === null) {
        say(`episode ${p.episode}: ${(p.seconds / 60).toFixed(1)} min (${(p.cpuSeconds / 60).toFixed(1)} CPU min), train loss ${p.trainLoss.toFixed(3)} acc ${p.trainAccuracy.toFixed(3)}, ${Number.isNaN(p.valAccuracy) ? '' : `val ${p.valAccuracy.toFixed(4)}${improved ? ' (best)' : ''}, `}${p.imagesPerSecond.toFixed(0)} img/s`);
      }
    },
  };
  return { callbacks, stop: () => { (bar as Progress | null)?.stop(); } };
}

/** `protolens train-embedding DATA --out DIR`: learns a Conv-4 embedding episodically. */
export function register(program: Command): void {
  const d = TRAIN_DEFAULTS;
  program
    .command('train-embedding')
    .argument('<data>', 'folder of Alphabet/character folders (or a .zip of one, or a path,label list)')
    .requiredOption('-o, --out <dir>', 'output folder: model.json + weights.bin, embedding.json, curve.svg, checkpoint (resumed when present; only a folder protolens wrote, see --force)')
    .option('--force', 'write into --out even if protolens did not make it (never the data folder)')
    .option('--head <name>', `${HEADS.join(' | ')}`, d.head)
    .option('--passes <name>', `${CONV_PASSES.join(' | ')}: which code computes the CNN's forward and backward passes (gemm: protolens's own kernels, faster; tfjs: TF.js ops; same results)`, d.passes)
    .addOption(new Option('--engine <name>', 'old name of --passes').hideHelp())
    .option('--way <n>', 'classes per training episode (N)', String(d.episode.nWay))
    .option('--shot <k>', 'support images per class (K)', String(d.episode.kShot))
    .option('--query <q>', 'query images per class', String(d.episode.nQuery))
    .option('--val-way <n>', 'classes per validation episode', String(d.valEpisode.nWay))
    .option('--val-shot <k>', 'support images per class in validation', String(d.valEpisode.kShot))
    .option('--val-query <q>', 'query images per class in validation', String(d.valEpisode.nQuery))
    .option('--val-episodes <n>', 'fixed validation episodes per evaluation', String(d.valEpisodes))
    .option('--eval-every <n>', 'episodes between evaluations (and checkpoints)', String(d.evalEvery))
    .option('--patience <n>', 'stop after this many evaluations without improvement', String(d.patience))
    .option('--max-episodes <n>', 'stop after this many episodes', String(d.maxEpisodes))
    .option('--max-minutes <m>', 'stop after this much training time', String(d.maxMinutes))
    .option('--lr <x>', 'Adam learning rate', String(d.learningRate))
    .option('--lr-half-life <n>', 'halve the learning rate every n episodes', String(d.lrHalfLife))
    .option('--no-rotations', 'do not add 90°/180°/270° rotations as new classes')
    .option('--jitter', 'small random affine jitter (±10°, ±10 % scale, ±0.1 shear, ±2 px); on unless --no-jitter')
    .option('--no-jitter', 'no affine jitter')
    .option('--prototypes-per-class <p>', 'prototype-layer heads: prototypes per class (per training class, or per episode class from the support set)', String(d.prototypesPerClass))
    .option('--alpha <a>', 'prototype-layer heads: weight of the L1 penalty on W', String(d.alpha))
    .option('--bank-rate <b>', 'prototype-layer head: refresh the drawn classes\' prototypes towards their support centres, p ← (1 − b)p + b·centre (0: no refresh)', String(d.bankRate))
    .option('--layer-lr-scale <s>', 'prototype-layer heads: learning-rate multiplier for the prototypes and W', String(d.layerLrScale))
    .option('--group-episodes <f>', 'fraction of training episodes drawn within one alphabet (with its rotations; harder negatives)', String(d.groupEpisodes))
    .option('--protonet-episodes <n>', 'prototype-layer heads: pre-train with the protonet head for n episodes first', String(d.protonetEpisodes))
    .option('--filters <f>', 'filters per block (64 = Conv-4; wider is slower)', String(d.net.filters))
    .option('--blocks <b>', 'conv blocks', String(d.net.blocks))
    .option('--input-size <s>', 'images are resized to s×s', String(d.net.inputSize))
    .option('--val-alphabets <a,b,…>', `held-out alphabets for early stopping (default ${DEFAULT_VAL_GROUPS.join(',')})`)
    .option('--test-alphabets <a,b,…>', `alphabets never used (default ${DEFAULT_TEST_GROUPS.join(',')})`)
    .option('--seed <n>', 'seed of every random choice', String(d.seed))
    .option('--backend <name>', 'TF.js backend: wasm | cpu', 'wasm')
    .option('--json', 'print the result as JSON (model file, why it stopped, episodes, minutes, best validation accuracy) instead of the model\'s path', false)
    .option('--no-progress', 'no progress bar')
    .action(async (data: string, f: Flags, cmd: Command) => {
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const { train, backend } = trainOptions(f, cmd);
      const check = { inputs: [data], force: f.force };
      const stop = { requested: false };
      const onSigint = () => { stop.requested = true; say('\ninterrupt: finishing this episode and writing a checkpoint (Ctrl-C again to abort)'); process.removeListener('SIGINT', onSigint); };
      process.on('SIGINT', onSigint);
      const report = reporter(f.progress, say);
      try {
        const result = await trainEmbedding({
          data, out: f.out, train, backend, stop, check, ...report.callbacks,
          onReady: (r) => { if (r.kernels !== null) say(`passes: gemm (GEMM ${r.gemm}, element-wise kernels ${r.kernels})`); },
          valGroups: names(f.valAlphabets, DEFAULT_VAL_GROUPS), testGroups: names(f.testAlphabets, DEFAULT_TEST_GROUPS),
        });
        report.stop();
        say(`stopped (${result.reason}) after ${result.episodes} episodes, ${(result.seconds / 60).toFixed(1)} min; ` + (Number.isNaN(result.bestValAccuracy)
          ? `no validation alphabets: the output is the network at episode ${result.bestEpisode}`
          : `best validation accuracy ${result.bestValAccuracy.toFixed(4)} at episode ${result.bestEpisode}`));
        process.stdout.write(f.json
          ? JSON.stringify({ model: `${result.out}/model.json`, reason: result.reason, episodes: result.episodes, minutes: result.seconds / 60, bestValAccuracy: result.bestValAccuracy, bestEpisode: result.bestEpisode }) + '\n'
          : `${result.out}/model.json\n`);
      } catch (e) {
        report.stop();
        throw toCliError(e);
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });
}
