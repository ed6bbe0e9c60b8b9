/**
 * `protolens bench episodes`: the episodic few-shot protocol (src/select/episodes.ts) on a
 * labelled feature file, or on an image folder through a backbone (features extracted through
 * the cache first). Prints the Markdown table and writes episodes.md and episodes.json into
 * --out (an output folder protolens owns; the inputs are never outputs).
 */
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import type { Command } from 'commander';
import { toCliError, userInput } from '../errors.ts';
import { int, libraryChoice, names, numberList, oneOf, featureSourceOptions, preprocessHelp, type OptionsWithChoice } from '../flags.ts';
import { progressBar } from '../progress.ts';
import { checkOutputFolder, writeOutputFolder } from '../../data/outputs.node.ts';
import { checkPreprocessChoice, type PreprocessChoice } from '../../model/preprocess.ts';
import type { LabelledFeatures } from '../../features/input.node.ts';
import {
  EPISODE_CLASSIFIERS, EPISODE_CLASSIFIER_INFO, episodeBenchMarkdown, runEpisodeBench, type EpisodeBenchOptions, type EpisodeGroups,
} from '../../select/episodes.ts';
import { VERSION } from '../../version.ts';

interface EpisodeFlags {
  features?: string;
  data?: string;
  backbone: string;
  cacheDir?: string;
  tta?: string;
  ways: string; shots: string; queries: string; episodes: string; seed: string;
  within: boolean; acrossAndWithin: boolean;
  classifiers?: string;
  preprocess: string;
  out: string;
  progress: boolean;
  force: boolean;
  json?: boolean;
}

/** Turns the flags into protocol options (exported for tests). */
export function episodeOptions(f: EpisodeFlags): OptionsWithChoice<EpisodeBenchOptions> {
  const groups: EpisodeGroups[] = f.acrossAndWithin ? ['across', 'within'] : f.within ? ['within'] : ['across'];
  return {
    ways: numberList('--ways', f.ways, (x) => Number.isInteger(x) && x >= 2, 'integers ≥ 2'),
    shots: numberList('--shots', f.shots, (x) => Number.isInteger(x) && x >= 1, 'positive integers'),
    queries: int('--queries', f.queries), episodes: int('--episodes', f.episodes), seed: int('--seed', f.seed, 0), groups,
    classifiers: f.classifiers ? names(f.classifiers).map((c) => oneOf('--classifiers', c, EPISODE_CLASSIFIERS, true)) : undefined,
    preprocess: libraryChoice('--preprocess', f.preprocess, checkPreprocessChoice),
  };
}

/** What `bench` gives this command to read its input (a feature file, or an image folder through a backbone) and resolve `--preprocess auto` on it. */
export type LoadFeatures = (f: Pick<EpisodeFlags, 'features' | 'data' | 'backbone' | 'cacheDir' | 'tta' | 'progress'>, preprocess: PreprocessChoice, say: (s: string) => void) => Promise<LabelledFeatures>;

/** Registers `bench episodes` under the `bench` command. */
export function registerEpisodes(bench: Command, loadFeatures: LoadFeatures): void {
  featureSourceOptions(bench
    .command('episodes')
    .description('N-way K-shot episodes: the library\'s classifiers fitted on each support set, accuracy on the queries with 95 % intervals'))
    .option('--ways <list>', 'classes per episode (N)', '5,20')
    .option('--shots <list>', 'support samples per class (K)', '1,5')
    .option('--queries <n>', 'query samples per class', '15')
    .option('--episodes <n>', 'episodes per setting', '1000')
    .option('--seed <n>', 'seed of the episodes', '0')
    .option('--within', 'draw each episode\'s classes from one group (labels of the form group/class)')
    .option('--across-and-within', 'both: episodes across groups, then within one group')
    .option('--classifiers <list>', `classifiers to fit (default all): ${EPISODE_CLASSIFIERS.join(', ')}`)
    .option('--preprocess <name>', preprocessHelp('feature preprocessing fitted on each support set'), 'auto')
    .option('-o, --out <dir>', 'output folder for episodes.md and episodes.json (replaced as a whole; only a folder protolens wrote, see --force)', 'bench-out')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--json', 'print the results as JSON (what episodes.json holds) instead of the Markdown table', false)
    .option('--no-progress', 'no progress bar')
    .action(async (flags: EpisodeFlags) => {
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const options = episodeOptions(flags);
      const check = { inputs: [flags.features, flags.data], force: flags.force };
      checkOutputFolder(flags.out, 'bench', check);
      const { fs, source, preprocess } = await userInput(() => loadFeatures(flags, options.preprocess, say));
      const bar = flags.progress ? progressBar('episodes', 1, 'episodes') : undefined;
      const cpu0 = process.cpuUsage();
      let result;
      try {
        result = runEpisodeBench({ X: fs.X, labels: fs.labels.map(String) }, {
          ...options, preprocess,
          onProgress: (p) => { bar?.setTotal(p.total); bar?.update(p.done, `${p.setting.kShot}-shot ${p.setting.nWay}-way ${p.setting.groups}`); },
        });
      } catch (e) {
        bar?.stop();
        throw toCliError(e, flags.features ?? flags.data);
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
      process.stdout.write(flags.json ? JSON.stringify(json) + '\n' : table + '\n');
      say(`wrote ${join(out, 'episodes.md')} and episodes.json in ${result.seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU)`);
    });
}
