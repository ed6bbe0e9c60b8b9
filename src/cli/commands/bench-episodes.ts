/**
 * `protolens bench episodes`: the episodic few-shot protocol (src/select/episodes.ts) on a
 * labelled feature file, or on an image folder through a backbone (features extracted through
 * the cache first). Prints the Markdown table and writes episodes.md and episodes.json into
 * --out (an output folder protolens owns; the inputs are never outputs).
 */
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import type { Command } from 'commander';
import { CLIError } from '../errors.ts';
import { progressBar } from '../progress.ts';
import { readFeatures, type FeatureSet } from '../../data/features.node.ts';
import { checkOutputFolder, writeOutputFolder } from '../../data/outputs.node.ts';
import { PREPROCESS_METHODS } from '../../model/preprocess.ts';
import {
  EPISODE_CLASSIFIERS, EPISODE_CLASSIFIER_INFO, episodeBenchMarkdown, runEpisodeBench,
  type EpisodeBenchOptions, type EpisodeClassifier, type EpisodeGroups,
} from '../../select/episodes.ts';
import { VERSION } from '../../version.ts';

interface EpisodeFlags {
  features?: string;
  data?: string;
  backbone: string;
  cacheDir?: string;
  ways: string; shots: string; queries: string; episodes: string; seed: string;
  within: boolean; acrossAndWithin: boolean;
  classifiers?: string;
  preprocess: string;
  out: string;
  progress: boolean;
  force: boolean;
}

function ints(flag: string, s: string, min: number): number[] {
  const v = s.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
  if (v.length === 0 || !v.every((x) => Number.isInteger(x) && x >= min)) throw new CLIError(`Invalid value for ${flag}: "${s}". Expected comma-separated integers ≥ ${min}.`);
  return v;
}

function int(flag: string, s: string, min: number): number {
  const v = Number(s);
  if (s.trim() === '' || !Number.isInteger(v) || v < min) throw new CLIError(`Invalid value for ${flag}: "${s}". Expected an integer ≥ ${min}.`);
  return v;
}

/** Turns the flags into protocol options (exported for tests). */
export function episodeOptions(f: EpisodeFlags): EpisodeBenchOptions {
  let classifiers: EpisodeClassifier[] | undefined;
  if (f.classifiers) {
    classifiers = f.classifiers.split(',').map((s) => s.trim()) as EpisodeClassifier[];
    for (const c of classifiers) {
      if (!(EPISODE_CLASSIFIERS as readonly string[]).includes(c)) throw new CLIError(`Invalid value for --classifiers: "${c}". Expected some of: ${EPISODE_CLASSIFIERS.join(', ')}.`);
    }
  }
  if (!(PREPROCESS_METHODS as readonly string[]).includes(f.preprocess)) {
    throw new CLIError(`Invalid value for --preprocess: "${f.preprocess}". Expected one of: ${PREPROCESS_METHODS.join(', ')}.`);
  }
  const groups: EpisodeGroups[] = f.acrossAndWithin ? ['across', 'within'] : f.within ? ['within'] : ['across'];
  return {
    ways: ints('--ways', f.ways, 2), shots: ints('--shots', f.shots, 1), queries: int('--queries', f.queries, 1),
    episodes: int('--episodes', f.episodes, 1), seed: int('--seed', f.seed, 0), groups, classifiers,
    preprocess: f.preprocess as EpisodeBenchOptions['preprocess'],
  };
}

/** The feature file, or the image folder's features through a backbone. */
async function loadFeatures(f: EpisodeFlags, say: (s: string) => void): Promise<{ fs: FeatureSet; source: string }> {
  if (f.features && f.data) throw new CLIError('Give either --features FILE or --data DIR (with --backbone), not both.');
  if (f.features) {
    const fs = readFeatures(f.features);
    if (fs.labels.length === 0) throw new CLIError(`${f.features}: the file has no labels (a .npy needs its .json sidecar); episodes need one label per row.`);
    return { fs, source: `${f.features} (${fs.X.rows}×${fs.X.cols})` };
  }
  if (!f.data) throw new CLIError('Missing input: give --features FILE, or --data DIR with --backbone NAME.');
  const { openImageDataset } = await import('../../data/images.node.ts');
  const { extractDataset } = await import('../../features/extract.node.ts');
  const ds = openImageDataset(f.data);
  say(`${ds.root}: ${ds.entries.length} images; extracting ${f.backbone} features through the cache`);
  let bar: ReturnType<typeof progressBar> | undefined;
  const r = await extractDataset(ds, {
    backbone: f.backbone, cacheDir: f.cacheDir,
    onReady: (e) => { if (f.progress) bar = progressBar('extract', e.total, 'images'); },
    onProgress: (p) => bar?.update(p.done),
  });
  bar?.stop();
  return { fs: r, source: `${f.data} through ${f.backbone} (${r.X.rows}×${r.X.cols})` };
}

/** Registers `bench episodes` under the `bench` command. */
export function registerEpisodes(bench: Command): void {
  bench
    .command('episodes')
    .description('N-way K-shot episodes: the library\'s classifiers fitted on each support set, accuracy on the queries with 95 % intervals')
    .option('-f, --features <file>', 'feature file (.npy with .json sidecar, .csv, .jsonl) with one label per row')
    .option('--data <dir>', 'image dataset (class folders, .zip, list file) to extract features from, through the cache')
    .option('-b, --backbone <name>', 'backbone for --data (a bundled name or a TF.js model folder)', 'mobilenet_v2')
    .option('--cache-dir <dir>', 'feature cache for --data (default $PROTOLENS_CACHE or ~/.cache/protolens)')
    .option('--ways <list>', 'classes per episode (N)', '5,20')
    .option('--shots <list>', 'support samples per class (K)', '1,5')
    .option('--queries <n>', 'query samples per class', '15')
    .option('--episodes <n>', 'episodes per setting', '1000')
    .option('--seed <n>', 'seed of the episodes', '0')
    .option('--within', 'draw each episode\'s classes from one group (labels of the form group/class)')
    .option('--across-and-within', 'both: episodes across groups, then within one group')
    .option('--classifiers <list>', `classifiers to fit (default all): ${EPISODE_CLASSIFIERS.join(', ')}`)
    .option('--preprocess <name>', `feature preprocessing fitted on each support set: ${PREPROCESS_METHODS.join(' | ')}`, 'none')
    .option('-o, --out <dir>', 'output folder for episodes.md and episodes.json (replaced as a whole; only a folder protolens wrote, see --force)', 'bench-out')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--no-progress', 'no progress bar')
    .action(async (flags: EpisodeFlags) => {
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const options = episodeOptions(flags);
      const check = { inputs: [flags.features, flags.data], force: flags.force };
      checkOutputFolder(flags.out, 'bench', check);
      let loaded;
      try {
        loaded = await loadFeatures(flags, say);
      } catch (e) {
        if (e instanceof RangeError || e instanceof TypeError) throw new CLIError(e.message);
        throw e;
      }
      const { fs, source } = loaded;
      const bar = flags.progress ? progressBar('episodes', 1, 'episodes') : undefined;
      const cpu0 = process.cpuUsage();
      let result;
      try {
        result = runEpisodeBench({ X: fs.X, labels: fs.labels.map(String) }, {
          ...options,
          onProgress: (p) => { bar?.setTotal(p.total); bar?.update(p.done, `${p.setting.kShot}-shot ${p.setting.nWay}-way ${p.setting.groups}`); },
        });
      } catch (e) {
        bar?.stop();
        if (e instanceof RangeError || e instanceof TypeError) throw new CLIError(`${flags.features ?? flags.data}: ${e.message}`);
        throw e;
      }
      bar?.stop();
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const table = episodeBenchMarkdown([{ name: source, result }]);
      const md = [
        `# Few-shot episodes`, '',
        `Accuracy (%) ± 95 % interval over ${result.options.episodes} episodes per setting, ${result.options.queries} queries per class, seed ${result.options.seed}; ` +
        `classifiers fitted on each support set (${result.options.classifiers.map((c) => `${EPISODE_CLASSIFIER_INFO[c].name}: ${EPISODE_CLASSIFIER_INFO[c].settings}`).join('; ')}); preprocessing: ${result.options.preprocess}.`, '',
        table, '',
        `${result.samples} samples, ${result.classes} classes, ${result.dim} dimensions; ${result.seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU) on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, protolens ${VERSION}.`,
      ].join('\n');
      const out = resolve(flags.out);
      const json = {
        format: 'protolens-episodes', version: 1, library: `protolens ${VERSION}`, created: new Date().toISOString(),
        source, features: { path: flags.features ?? null, data: flags.data ?? null, backbone: flags.data ? flags.backbone : null, meta: fs.meta },
        cpuSeconds, ...result,
      };
      writeOutputFolder(out, { 'episodes.json': JSON.stringify(json) + '\n', 'episodes.md': md + '\n' }, 'bench', check);
      process.stdout.write(table + '\n');
      say(`wrote ${join(out, 'episodes.md')} and episodes.json in ${result.seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU)`);
    });
}
