/**
 * A whole training run in Node: load the images, split by alphabet, resume from the output
 * folder's checkpoint if there is one, train with early stopping, checkpoint at every
 * evaluation, and keep the best network (by validation accuracy) as the output model.
 * {@link trainEmbedding} is the same run with TF.js and the kernels started first: what
 * `protolens train-embedding` calls, and the package's Node entry exports.
 */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint, saveEmbedding, writeCheckpoint } from './io.node.ts';
import { loadInkImages } from './omniglot.node.ts';
import { DEFAULT_TEST_GROUPS, DEFAULT_VAL_GROUPS, splitByGroup } from './split.ts';
import { EmbeddingTrainer, TRAIN_DEFAULTS, type ConvPasses, type CurvePoint, type EpisodeReport, type StopReason, type TrainOptions } from './train.ts';
import { VERSION } from '../version.ts';
import { checkOutputFolder, claimOutputFolder, type OutputCheck } from '../data/outputs.node.ts';
import { initTfNode } from '../features/backend.node.ts';
import type { BackendName } from '../features/backend.ts';
import { registerWasmTrainingKernels } from './kernels.ts';
import { enableNativeConvKernels } from './conv-native.node.ts';
import { gemmBackendName } from '../linalg/gemm.ts';
import { convKernelsName } from './conv4-gemm.ts';

/** Options a resumed run may change: the stopping rules, and which code computes the (same) passes. */
const RESUMABLE = ['maxMinutes', 'maxEpisodes', 'patience', 'passes'] as const;

/** Checkpoints written before `engine` was renamed `passes` (same values). */
function withPassesOption(options: TrainOptions): TrainOptions {
  const old = options as TrainOptions & { engine?: TrainOptions['passes'] };
  if (old.passes !== undefined || old.engine === undefined) return options;
  const { engine, ...rest } = old;
  return { ...rest, passes: engine };
}

/** What to train on and where to write. */
export interface RunOptions {
  data: string;
  out: string;
  valGroups?: readonly string[];
  testGroups?: readonly string[];
  /** Training options; on resume only the stopping rules and `passes` are taken, the others must be the checkpoint's or are reported in `onStart`. Give only what the user chose. */
  train: Partial<TrainOptions>;
  /** Called while images load, after every episode, and at every evaluation. */
  onLoad?: (done: number, total: number) => void;
  onEpisode?: (r: EpisodeReport, trainer: EmbeddingTrainer) => void;
  onEvaluate?: (p: CurvePoint, improved: boolean, trainer: EmbeddingTrainer) => void;
  onStart?: (info: { resumedFrom: number; ignoredOnResume: Array<{ option: keyof TrainOptions; kept: unknown }>; nTrainClasses: number; nValClasses: number; nTestClasses: number; options: TrainOptions }) => void;
  /** Set to true (e.g. on SIGINT) to stop after the current episode with a checkpoint. */
  stop?: { requested: boolean };
  /** The output folder may be one protolens made for an embedding, or new or empty, unless `force` (src/data/outputs.node.ts). */
  check?: OutputCheck;
}

/** What a finished (or interrupted) run reports. */
export interface RunResult {
  reason: StopReason;
  episodes: number;
  seconds: number;
  bestValAccuracy: number;
  bestEpisode: number;
  curve: CurvePoint[];
  out: string;
}

/**
 * Trains (or resumes) an embedding on TF.js as already started: {@link trainEmbedding} starts it
 * (and the kernels) first, and is what most callers want.
 * @param o The data, the output folder, the training options the caller chose, callbacks.
 * @returns How the run stopped, its episodes and time, the best validation accuracy (NaN without
 *   validation alphabets) and its episode, the curve, the output folder.
 * @throws RangeError for unusable data or options (named); CheckpointError for an unreadable
 *   checkpoint in the output folder; OutputRefusedError when the output folder is not one
 *   protolens made for an embedding (without `check.force`) or holds the data.
 * @example
 * await initTfNode('wasm'); registerWasmTrainingKernels();
 * const r = await runTraining({ data: 'omniglot/images_background', out: 'runs/a', train: { maxEpisodes: 200 } });
 * r.episodes // 200
 */
export async function runTraining(o: RunOptions): Promise<RunResult> {
  const out = resolve(o.out);
  claimOutputFolder(o.out, 'embedding', { ...o.check, inputs: [o.data, ...(o.check?.inputs ?? [])] });
  const previous = readCheckpoint(out); // before the slow image load: fail fast on a bad one
  const size = previous?.options.net.inputSize ?? o.train.net?.inputSize ?? 28;
  const images = await loadInkImages(o.data, size, o.onLoad);
  const split = splitByGroup(images.labels, o.valGroups ?? DEFAULT_VAL_GROUPS, o.testGroups ?? DEFAULT_TEST_GROUPS);
  const data = { pixels: images.pixels, size, train: split.train, val: split.val };
  let trainer: EmbeddingTrainer;
  let ignoredOnResume: Array<{ option: keyof TrainOptions; kept: unknown }> = [];
  if (previous) {
    // The run's own options win; only the stopping rules and the passes (same function) may be
    // changed on resume. Options given that differ from the checkpoint's are reported as ignored.
    const kept = withPassesOption(previous.options);
    const options: TrainOptions = { ...kept };
    for (const k of Object.keys(o.train) as Array<keyof TrainOptions>) {
      if (o.train[k] === undefined) continue;
      if ((RESUMABLE as readonly string[]).includes(k)) (options as unknown as Record<string, unknown>)[k] = o.train[k];
      else if (JSON.stringify(o.train[k]) !== JSON.stringify(kept[k])) ignoredOnResume.push({ option: k, kept: kept[k] });
    }
    trainer = new EmbeddingTrainer(data, options, { ...previous, options });
  } else {
    trainer = new EmbeddingTrainer(data, o.train);
  }
  o.onStart?.({ resumedFrom: previous?.episode ?? 0, ignoredOnResume, nTrainClasses: trainer.nClasses, nValClasses: split.val.members.length, nTestClasses: split.test.members.length, options: trainer.options });
  const meta = () => ({
    protolens: VERSION, tfjs: tf.version.tfjs, backend: tf.getBackend(), date: new Date().toISOString(),
    passes: { name: trainer.options.passes, gemm: gemmBackendName(), kernels: convKernelsName() },
    training: {
      data: images.root, images: images.labels.length,
      split: { rule: 'whole alphabets (first part of the label)', ...split.groups },
      classes: { train: split.train.members.length, trainWithRotations: trainer.nClasses, val: split.val.members.length, test: split.test.members.length },
      head: trainer.options.head, episode: trainer.options.episode, rotations: trainer.options.rotations, jitter: trainer.options.jitter,
      episodes: trainer.episode, seconds: trainer.seconds,
      best: trainer.best ? { valAccuracy: trainer.best.valAccuracy, episode: trainer.best.episode } : null,
    },
    seed: trainer.options.seed,
    options: trainer.options,
    curve: trainer.curve,
  });
  const title = `${trainer.options.head}, ${trainer.options.episode.nWay}-way ${trainer.options.episode.kShot}-shot training, seed ${trainer.options.seed}`;
  let reason: StopReason | null = trainer.shouldStop();
  try {
    while (reason === null) {
      const r = trainer.step();
      // Let the event loop run (a SIGINT handler sets o.stop between episodes, not only at evaluations).
      await new Promise((done) => setImmediate(done));
      o.onEpisode?.(r, trainer);
      if (trainer.episode % trainer.options.evalEvery === 0) {
        const { point, improved } = trainer.evaluate();
        if (improved) await saveEmbedding(out, trainer.best!.net, meta(), trainer.curve, title);
        writeCheckpoint(out, trainer.state());
        o.onEvaluate?.(point, improved, trainer);
      }
      reason = o.stop?.requested ? 'interrupted' : trainer.shouldStop();
    }
    if (reason !== 'interrupted' && trainer.episode % trainer.options.evalEvery !== 0) {
      const { improved } = trainer.evaluate();
      if (improved) await saveEmbedding(out, trainer.best!.net, meta(), trainer.curve, title);
    }
    writeCheckpoint(out, trainer.state());
    if (trainer.best) await saveEmbedding(out, trainer.best.net, meta(), trainer.curve, title);
    return {
      reason, episodes: trainer.episode, seconds: trainer.seconds,
      bestValAccuracy: trainer.best?.valAccuracy ?? NaN, bestEpisode: trainer.best?.episode ?? 0,
      curve: trainer.curve.slice(), out,
    };
  } finally {
    trainer.dispose();
  }
}

/** Options of {@link trainEmbedding}: those of {@link runTraining}, and what runs the network. */
export interface TrainEmbeddingOptions extends RunOptions {
  /** TF.js backend of the heads and of the `tfjs` passes: `wasm` (default) or `cpu`. */
  backend?: BackendName;
  /**
   * Called once TF.js and the kernels are ready, before the images load: the backend, the passes
   * asked for, the GEMM the `gemm` passes multiply with, and their element-wise kernels (native,
   * or JavaScript with the reason; null for the `tfjs` passes).
   */
  onReady?: (r: { backend: BackendName; passes: ConvPasses; gemm: string; kernels: string | null }) => void;
}

/**
 * Trains an embedding end to end, as `protolens train-embedding` does (docs/embedding.md): checks
 * the output folder, starts TF.js on `backend`, registers the training kernels the wasm backend
 * lacks, installs the native element-wise kernels of the `gemm` passes when they load, then runs
 * {@link runTraining}. The output folder is an ordinary TF.js layers model with its card
 * (`embedding.json`), a backbone for `extract --backbone DIR` and `loadBackboneNode(DIR)`;
 * running it again resumes from its checkpoint. Call `enableNodeGemm()` first to multiply on the
 * native GEMM on every core, as the CLI does (otherwise the WebAssembly kernels, one thread).
 * @param o The data (class folders `alphabet/character/*.png`, split by alphabet), the output
 *   folder, the training options the caller chose (the others: `TRAIN_DEFAULTS`), callbacks.
 * @returns How the run stopped, its episodes and time, the best validation accuracy and its
 *   episode (NaN without validation alphabets), the curve, and the output folder.
 * @throws OutputRefusedError when `out` is not a folder protolens made for an embedding (without
 *   `check.force`) or holds the data; RangeError for a backend that does not run in Node, unusable
 *   data or options (named); CheckpointError for an unreadable checkpoint in `out`.
 * @example
 * import { enableNodeGemm, trainEmbedding } from 'protolens/node';
 * enableNodeGemm();
 * const r = await trainEmbedding({ data: 'omniglot/images_background', out: 'runs/a', train: { maxEpisodes: 2000, seed: 2 } });
 * // r.reason 'max-episodes', r.bestValAccuracy ≈ 0.96; runs/a holds model.json, weights.bin, embedding.json
 */
export async function trainEmbedding(o: TrainEmbeddingOptions): Promise<RunResult> {
  const { backend: asked, onReady, ...run } = o;
  checkOutputFolder(o.out, 'embedding', { ...o.check, inputs: [o.data, ...(o.check?.inputs ?? [])] }); // before anything loads
  const backend = await initTfNode(asked ?? 'wasm');
  registerWasmTrainingKernels();
  const passes = o.train.passes ?? TRAIN_DEFAULTS.passes;
  const kernels = passes === 'gemm' ? enableNativeConvKernels() : null;
  onReady?.({ backend, passes, gemm: gemmBackendName(), kernels });
  return runTraining(run);
}
