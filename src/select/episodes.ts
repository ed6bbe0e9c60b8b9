/**
 * The episodic few-shot protocol (Vinyals et al. 2016; Snell, Swersky & Zemel 2017) on any
 * labelled feature matrix: N-way K-shot episodes — N classes drawn at random, K support and Q
 * query samples from each, all distinct — and protolens's classifiers fitted on each episode's
 * support set and scored on its queries. Accuracy is averaged over episodes with a 95 % interval
 * (1.96 × standard deviation / √episodes).
 *
 * - Episodes are drawn from a generator seeded by (seed, setting) only, so that every feature
 *   file of the same images, in the same order, is scored on the same episodes.
 * - "Within one group": when labels have the form `group/class` (an Omniglot alphabet and its
 *   character), an episode can take its N classes from one group, drawn at random among the
 *   groups with at least N classes (harder: the classes share a style).
 * - A query is never in its episode's support: both come from one shuffle of each class's
 *   samples, support first.
 * - Preprocessing, when asked for, is fitted on the support set of each episode only.
 *
 * Browser-safe: no I/O; progress goes through a callback. The command is `protolens bench
 * episodes` (src/cli/commands/bench-episodes.ts).
 */
import { takeRows, toMatrix, type Matrix, type MatrixInput } from '../linalg/matrix.ts';
import { deriveSeed, rng, type Rng } from '../linalg/random.ts';
import { checkEpisodeShape, indexByLabel, sampleEpisode, type ClassIndex, type Episode } from '../data/episodes.ts';
import { PrototypeClassifier, type PrototypeOptions } from '../model/prototype.ts';
import { KNearestNeighbors, NearestClassMean, SoftmaxRegression } from '../model/baselines.ts';
import { FeatureTransform, checkPreprocessMethod, type PreprocessMethod } from '../model/preprocess.ts';
import type { Classifier } from '../model/types.ts';
import { meanStd } from './stats.ts';

/**
 * Settings of the learned-metric prototype model on episodes (no validation data inside an
 * episode, so they are fixed): chosen on the validation alphabets of images_background
 * (BENCHMARKS.md, "Prototype model with a learned metric" and "On a learned embedding").
 * `prototypeSteps: 0` keeps each class's prototype at its support mean: with one prototype per
 * class and 1–5 support samples, descending the support loss in P only pushes prototypes apart
 * from the other classes' few samples, which cost 0.07 (1-shot) and 0.23 (5-shot) points on the
 * validation alphabets against prototypes left at the means; Ω, W and τ are still learned.
 */
export const EPISODE_METRIC = { shrinkage: 0.7, metricPenalty: 10, alpha: 1e-5, prototypeSteps: 0 } as const;

/** The classifiers fitted on each episode, in table order. */
export const EPISODE_CLASSIFIERS = ['prototype', 'prototype-metric', 'class-mean', 'knn', 'softmax'] as const;
export type EpisodeClassifier = typeof EPISODE_CLASSIFIERS[number];

/** Column titles and settings of the classifiers. */
export const EPISODE_CLASSIFIER_INFO: Record<EpisodeClassifier, { name: string; settings: string }> = {
  prototype: { name: 'prototype model (paper)', settings: 'J = 2 per class for K > 1, 1 for K = 1; L2, α = 1e-3; τ = 0.1 × median pair distance / 2' },
  'prototype-metric': { name: 'prototype model, learned metric', settings: `J = 1 per class, kept at the support mean; low-rank metric from shrinkage-LDA whitening (shrinkage ${EPISODE_METRIC.shrinkage}), learned with β = ${EPISODE_METRIC.metricPenalty}; τ auto (whitened units); L2, α = ${EPISODE_METRIC.alpha}` },
  'class-mean': { name: 'nearest class mean', settings: 'one prototype per class, the support mean' },
  knn: { name: '1-NN', settings: 'nearest support sample' },
  softmax: { name: 'softmax (L2)', settings: 'λ = 1e-3' },
};

/** Where an episode's classes come from. */
export type EpisodeGroups = 'across' | 'within';

/** One setting of the benchmark. */
export interface EpisodeSetting {
  nWay: number;
  kShot: number;
  groups: EpisodeGroups;
}

/** Options of {@link runEpisodeBench}. */
export interface EpisodeBenchOptions {
  /** Numbers of classes per episode. Default [5, 20]. */
  ways?: number[];
  /** Support samples per class. Default [1, 5]. */
  shots?: number[];
  /** Query samples per class. Default 15. */
  queries?: number;
  /** Episodes per setting. Default 1000. */
  episodes?: number;
  /** Seed of the episodes (and of the classifiers' own randomness). Default 0. */
  seed?: number;
  /** 'across' (classes from anywhere), 'within' (from one group), or both. Default ['across']. */
  groups?: EpisodeGroups[];
  /** An explicit list of settings, instead of every N × K × groups. */
  settings?: EpisodeSetting[];
  /** Classifiers to fit. Default all of {@link EPISODE_CLASSIFIERS}. */
  classifiers?: EpisodeClassifier[];
  /** Feature preprocessing, fitted on each support set. Default 'none'. */
  preprocess?: PreprocessMethod;
  /** Options of every prototype model over its defaults (not J, the penalty, α, τ or the seed). */
  prototypeOptions?: Omit<PrototypeOptions, 'nPrototypes' | 'regularization' | 'alpha' | 'tau' | 'tauScale' | 'seed'>;
  /** Called after every episode. */
  onProgress?: (p: { setting: EpisodeSetting; done: number; total: number }) => void;
}

/** Accuracy of one classifier over the episodes of one setting. */
export interface EpisodeScore {
  /** Mean accuracy over episodes, in [0, 1]. */
  mean: number;
  /** Half-width of the 95 % interval, 1.96 × sd / √episodes. */
  ci95: number;
  /** Accuracy on each episode, in episode order (for paired comparisons). */
  perEpisode: number[];
}

/** Result of one setting. */
export interface EpisodeSettingResult {
  setting: EpisodeSetting;
  /** The seed its episodes were drawn from. */
  seed: number;
  episodes: number;
  queries: number;
  /** Groups episodes were drawn from (within-group settings only). */
  groupsUsed?: string[];
  scores: Partial<Record<EpisodeClassifier, EpisodeScore>>;
  seconds: number;
}

/** Result of {@link runEpisodeBench}. */
export interface EpisodeBenchResult {
  options: Required<Omit<EpisodeBenchOptions, 'onProgress' | 'prototypeOptions' | 'settings'>> & { prototypeOptions: EpisodeBenchOptions['prototypeOptions']; settings: EpisodeSetting[] };
  samples: number;
  dim: number;
  classes: number;
  settings: EpisodeSettingResult[];
  seconds: number;
}

/** Group of a label: its part before the first "/". */
function groupOfLabel(label: string): string {
  const k = label.indexOf('/');
  return k < 0 ? label : label.slice(0, k);
}

/**
 * The class index of each group with at least `nWay` classes, for within-group episodes.
 * @throws RangeError when a label has no "/" (naming it and its row), or when no group has
 *   `nWay` classes (naming the largest).
 */
export function groupIndexes(labels: readonly string[], nWay: number): Array<{ group: string; index: ClassIndex }> {
  const bad = labels.findIndex((l) => !l.includes('/'));
  if (bad >= 0) throw new RangeError(`within-group episodes need labels of the form group/class; row ${bad} has the label "${labels[bad]}"`);
  const rows = new Map<string, number[]>();
  labels.forEach((l, i) => {
    const g = groupOfLabel(l);
    let r = rows.get(g);
    if (r === undefined) { r = []; rows.set(g, r); }
    r.push(i);
  });
  const out: Array<{ group: string; index: ClassIndex }> = [];
  let largest = { group: '', classes: 0 };
  for (const [group, r] of rows) {
    const local = indexByLabel(r.map((i) => labels[i]));
    const index = { names: local.names, members: local.members.map((m) => Array.from(m, (k) => r[k])) };
    if (index.names.length > largest.classes) largest = { group, classes: index.names.length };
    if (index.names.length >= nWay) out.push({ group, index });
  }
  if (out.length === 0) {
    throw new RangeError(`no group has ${nWay} classes for ${nWay}-way episodes within one group; the largest, "${largest.group}", has ${largest.classes}`);
  }
  return out;
}

/** Seed of a setting's episodes: the same for every feature file of the same labels. */
export function settingSeed(seed: number, s: EpisodeSetting): number {
  return deriveSeed(seed, s.nWay * 1000 + s.kShot * 10 + (s.groups === 'within' ? 1 : 0));
}

/**
 * The episodes of one setting.
 * @throws RangeError when the data cannot fill an episode: fewer classes than N, or a class with
 *   fewer samples than K + Q (the message names the class and its count).
 * @example
 * const labels = ['a/1', 'a/1', 'a/2', 'a/2'];
 * drawEpisodes(labels, { nWay: 2, kShot: 1, groups: 'across' }, 1, 3, 0).length // 3
 */
export function drawEpisodes(labels: readonly string[], s: EpisodeSetting, queries: number, episodes: number, seed: number): { episodes: Episode[]; groupsUsed?: string[] } {
  const shape = { nWay: s.nWay, kShot: s.kShot, nQuery: queries };
  const r: Rng = rng(settingSeed(seed, s));
  if (s.groups === 'across') {
    const index = indexByLabel(labels);
    checkEpisodeShape(index, shape, 'the data');
    return { episodes: Array.from({ length: episodes }, () => sampleEpisode(index, shape, r)) };
  }
  const groups = groupIndexes(labels, s.nWay);
  for (const g of groups) checkEpisodeShape(g.index, shape, `group "${g.group}"`);
  // An episode's `classes` number the classes of its group.
  const eps = Array.from({ length: episodes }, () => sampleEpisode(groups[r.int(groups.length)].index, shape, r));
  return { episodes: eps, groupsUsed: groups.map((g) => g.group) };
}

/** A classifier as fitted on each episode. */
function makeClassifier(c: EpisodeClassifier, s: EpisodeSetting, seed: number, protoOptions: EpisodeBenchOptions['prototypeOptions']): Classifier {
  switch (c) {
    case 'prototype':
      return new PrototypeClassifier({ ...protoOptions, nPrototypes: (s.kShot > 1 ? 2 : 1) * s.nWay, regularization: 'l2', alpha: 1e-3, tau: 'auto', tauScale: 0.1, seed });
    case 'prototype-metric':
      return new PrototypeClassifier({ ...EPISODE_METRIC, ...protoOptions, nPrototypes: s.nWay, regularization: 'l2', metric: 'lowrank', tau: 'auto', seed });
    case 'class-mean': return new NearestClassMean();
    case 'knn': return new KNearestNeighbors({ k: 1 });
    case 'softmax': return new SoftmaxRegression({ l2: 1e-3 });
    default: {
      const never: never = c;
      throw new RangeError(`unknown classifier ${String(never)}`);
    }
  }
}

/**
 * Accuracy of each classifier on one episode: fitted on the support rows, scored on the query rows.
 * @throws RangeError when a support row is also a query row (a protocol error, never expected).
 */
export function scoreEpisode(X: Matrix, ep: Episode, s: EpisodeSetting, queries: number, classifiers: readonly EpisodeClassifier[], preprocess: PreprocessMethod, seed: number, protoOptions?: EpisodeBenchOptions['prototypeOptions']): number[] {
  const support = new Set(ep.support);
  for (const q of ep.query) if (support.has(q)) throw new RangeError(`episode: sample ${q} is both support and query`);
  const ySup = Array.from(ep.support, (_, i) => Math.floor(i / s.kShot));
  const yQ = Array.from(ep.query, (_, i) => Math.floor(i / queries));
  let Xs = takeRows(X, ep.support), Xq = takeRows(X, ep.query);
  if (preprocess !== 'none') {
    const t = new FeatureTransform(preprocess).fit(Xs);
    Xs = t.transform(Xs); Xq = t.transform(Xq);
  }
  return classifiers.map((c) => {
    const pred = makeClassifier(c, s, seed, protoOptions).fit(Xs, ySup).predict(Xq);
    let ok = 0;
    for (let i = 0; i < yQ.length; i++) if (pred[i] === yQ[i]) ok++;
    return ok / yQ.length;
  });
}

/** Mean and 95 % interval of per-episode accuracies. */
export function episodeScore(perEpisode: number[]): EpisodeScore {
  const { mean, std, n } = meanStd(perEpisode);
  return { mean, ci95: n > 1 ? (1.96 * std) / Math.sqrt(n) : NaN, perEpisode };
}

/** The settings of a run: every N × K × groups, in that order. */
export function episodeSettings(ways: readonly number[], shots: readonly number[], groups: readonly EpisodeGroups[]): EpisodeSetting[] {
  return groups.flatMap((g) => shots.flatMap((k) => ways.map((n) => ({ nWay: n, kShot: k, groups: g }))));
}

/** Checks and completes the options. @throws RangeError naming the bad option. */
function checkOptions(o: EpisodeBenchOptions): EpisodeBenchResult['options'] {
  const out = {
    ways: o.ways ?? [5, 20], shots: o.shots ?? [1, 5], queries: o.queries ?? 15, episodes: o.episodes ?? 1000, seed: o.seed ?? 0,
    groups: o.groups ?? ['across' as const], classifiers: o.classifiers ?? [...EPISODE_CLASSIFIERS],
    preprocess: checkPreprocessMethod(o.preprocess ?? 'none'), prototypeOptions: o.prototypeOptions, settings: [] as EpisodeSetting[],
  };
  out.settings = o.settings ?? episodeSettings(out.ways, out.shots, out.groups);
  for (const st of out.settings) {
    if (!Number.isInteger(st.nWay) || st.nWay < 2 || !Number.isInteger(st.kShot) || st.kShot < 1 || (st.groups !== 'across' && st.groups !== 'within')) {
      throw new RangeError(`a setting needs nWay ≥ 2, kShot ≥ 1 and groups 'across' or 'within'; got ${JSON.stringify(st)}`);
    }
  }
  for (const [k, v, min] of [['ways', out.ways, 2], ['shots', out.shots, 1]] as const) {
    if (v.length === 0 || !v.every((x) => Number.isInteger(x) && x >= min)) throw new RangeError(`${k} must be integers ≥ ${min}, got ${v.join(', ')}`);
  }
  if (!Number.isInteger(out.queries) || out.queries < 1) throw new RangeError(`queries must be a positive integer, got ${out.queries}`);
  if (!Number.isInteger(out.episodes) || out.episodes < 1) throw new RangeError(`episodes must be a positive integer, got ${out.episodes}`);
  if (!Number.isInteger(out.seed)) throw new RangeError(`seed must be an integer, got ${out.seed}`);
  for (const g of out.groups) if (g !== 'across' && g !== 'within') throw new RangeError(`groups must be some of: across, within; got ${String(g)}`);
  for (const c of out.classifiers) {
    if (!(EPISODE_CLASSIFIERS as readonly string[]).includes(c)) throw new RangeError(`classifiers must be some of: ${EPISODE_CLASSIFIERS.join(', ')}; got ${String(c)}`);
  }
  return out;
}

/**
 * Runs the protocol: for every setting, its seeded episodes, every classifier fitted on each
 * support set and scored on its queries.
 * @param data - the samples (rows of X) and one label per row.
 * @throws RangeError for bad options, a label count that differs from the rows, or data that
 *   cannot fill an episode (naming the class, or the largest group).
 * @example
 * const r = runEpisodeBench({ X, labels }, { ways: [5], shots: [1], episodes: 100, classifiers: ['class-mean'] });
 * r.settings[0].scores['class-mean'] // { mean: 0.93, ci95: 0.012, perEpisode: [...] }
 */
export function runEpisodeBench(data: { X: MatrixInput; labels: readonly string[] }, options: EpisodeBenchOptions = {}): EpisodeBenchResult {
  const t0 = performance.now();
  const o = checkOptions(options);
  const X = toMatrix(data.X, { name: 'X' });
  if (data.labels.length !== X.rows) throw new RangeError(`${X.rows} rows but ${data.labels.length} labels`);
  const settings = o.settings;
  // Draw (and check) every setting's episodes before the long part.
  const drawn = settings.map((s) => drawEpisodes(data.labels, s, o.queries, o.episodes, o.seed));
  const results = settings.map((s, si): EpisodeSettingResult => {
    const t1 = performance.now();
    const acc = o.classifiers.map(() => [] as number[]);
    drawn[si].episodes.forEach((ep, e) => {
      scoreEpisode(X, ep, s, o.queries, o.classifiers, o.preprocess, deriveSeed(o.seed, e), o.prototypeOptions).forEach((a, k) => acc[k].push(a));
      options.onProgress?.({ setting: s, done: e + 1, total: o.episodes });
    });
    const scores: EpisodeSettingResult['scores'] = {};
    o.classifiers.forEach((c, k) => { scores[c] = episodeScore(acc[k]); });
    return {
      setting: s, seed: settingSeed(o.seed, s), episodes: o.episodes, queries: o.queries,
      ...(drawn[si].groupsUsed ? { groupsUsed: drawn[si].groupsUsed } : {}), scores, seconds: (performance.now() - t1) / 1000,
    };
  });
  return { options: o, samples: X.rows, dim: X.cols, classes: new Set(data.labels).size, settings: results, seconds: (performance.now() - t0) / 1000 };
}

/** A setting in words: "5-shot 20-way" or "1-shot 20-way, within one group". */
export function settingName(s: EpisodeSetting): string {
  return `${s.kShot}-shot ${s.nWay}-way${s.groups === 'within' ? ', within one group' : ''}`;
}

/**
 * The results as a Markdown table: one row per setting (and source, when several are given),
 * one column per classifier, accuracy in % ± the 95 % interval.
 * @example
 * episodeBenchMarkdown([{ name: 'learned', result }]) // '| features | setting | nearest class mean |\n|---|---|---|\n| learned | 5-shot 20-way | 97.1 ± 0.1 |'
 */
export function episodeBenchMarkdown(sources: ReadonlyArray<{ name: string; result: EpisodeBenchResult }>): string {
  const classifiers = sources[0]?.result.options.classifiers ?? [];
  const lines = [`| features | setting | ${classifiers.map((c) => EPISODE_CLASSIFIER_INFO[c].name).join(' | ')} |`, `|---|---|${classifiers.map(() => '---|').join('')}`];
  const settings = sources[0]?.result.settings.map((r) => r.setting) ?? [];
  settings.forEach((s, si) => {
    for (const src of sources) {
      const r = src.result.settings[si];
      const cells = classifiers.map((c) => {
        const sc = r.scores[c];
        return sc ? `${(100 * sc.mean).toFixed(1)} ± ${(100 * sc.ci95).toFixed(1)}` : '–';
      });
      lines.push(`| ${src.name} | ${settingName(s)} | ${cells.join(' | ')} |`);
    }
  });
  return lines.join('\n');
}
