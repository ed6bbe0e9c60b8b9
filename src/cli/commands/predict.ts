/**
 * `protolens predict MODEL (--features FILE | --images DIR|FILES…) [--explain] [--json | --format F] [-o OUT]`:
 * the class of every row of a feature file, or of every image (embedded with the model's own
 * backbone, layer and preprocessing); with --explain, why: the class probabilities, the margin
 * between the two best classes, an ambiguity flag (rule in docs/interpretation.md) and the
 * prototypes that matched, with their class links. CSV with a header (default), JSON, or text, on
 * stdout or into a file (src/viz/predictions.ts). The job is src/viz/predict.node.ts.
 */
import type { Command } from 'commander';
import { writeFileAtomicSync } from '../../data/atomic.node.ts';
import { checkOutputFile } from '../../data/outputs.node.ts';
import { predictFiles } from '../../viz/predict.node.ts';
import { predictionsCsv, predictionsJson, predictionsText } from '../../viz/predictions.ts';
import { CLIError, userInput } from '../errors.ts';
import { oneOf, positiveInt } from '../flags.ts';
import { progressBar, type Progress } from '../progress.ts';

interface PredictFlags {
  features?: string;
  images?: string[];
  explain: boolean;
  json: boolean;
  format?: string;
  out?: string;
  force: boolean;
  top: string;
  cacheDir?: string;
  cache: boolean;
  workers: string;
  skipBad: boolean;
  progress: boolean;
}

const FORMATS = ['csv', 'json', 'text'] as const;
type Format = typeof FORMATS[number];

/** The output format: --json, --format, else the extension of -o, else CSV. */
function formatOf(f: PredictFlags): Format {
  if (f.json && f.format && f.format !== 'json') throw new CLIError(`--json and --format ${f.format} disagree; give one of them`);
  const format: Format = f.json ? 'json' : f.format ? oneOf('--format', f.format, FORMATS) : /\.json$/i.test(f.out ?? '') ? 'json' : 'csv';
  if (format === 'text' && f.out) throw new CLIError('--format text is for the terminal; -o writes csv or json');
  return format;
}

export function register(program: Command): void {
  program
    .command('predict')
    .argument('<model>', 'model saved by "protolens fit" (JSON)')
    .option('-f, --features <file>', 'feature file (.npy + sidecar, .csv or .jsonl)')
    .option('--images <paths...>', 'images instead of features: a folder, a .zip, a list file, or image files, embedded with the model\'s own backbone')
    .option('--explain', 'explain each decision (prototype models only)', false)
    .option('--json', 'JSON (the same as --format json)', false)
    .option('--format <csv|json|text>', 'output format (default csv, or json when -o ends in .json); text spells explanations out')
    .option('-o, --out <file>', 'write the predictions into this file (csv or json) instead of stdout; only a file protolens wrote is replaced, see --force')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--top <k>', 'prototypes listed per explanation', '3')
    .option('--cache-dir <dir>', 'with --images: feature cache (default $PROTOLENS_CACHE or ~/.cache/protolens)')
    .option('--no-cache', 'with --images: neither read nor write the feature cache')
    .option('--workers <n|auto>', 'with --images: threads computing features', 'auto')
    .option('--skip-bad', 'with --images: leave unreadable or non-image files out (reported) instead of failing')
    .option('--no-progress', 'with --images: no progress bar')
    .action(async (modelPath: string, flags: PredictFlags) => {
      const top = positiveInt('--top', flags.top);
      const format = formatOf(flags);
      if ((flags.features === undefined) === (flags.images === undefined)) throw new CLIError('give the input as --features FILE or as --images DIR|FILES…, one of the two');
      const workers = flags.workers === 'auto' ? 'auto' : positiveInt('--workers', flags.workers);
      const check = { inputs: [modelPath, flags.features, ...(flags.images ?? [])], force: flags.force, flag: '-o' };
      if (flags.out) userInput(() => checkOutputFile(flags.out!, 'predictions', check));
      let bar: Progress | undefined;
      const result = await userInput(() => predictFiles(modelPath, flags.features !== undefined ? { features: flags.features } : { images: flags.images! }, {
        explain: flags.explain, top,
        extract: {
          cacheDir: flags.cache ? flags.cacheDir : false, workers, skipBad: flags.skipBad,
          onReady: (r) => { if (flags.progress && r.cached < r.total) bar = progressBar('embedding', r.total, 'images'); },
          onProgress: (p) => bar?.update(p.done),
        },
      }), undefined, { skipBad: '--skip-bad' }).finally(() => bar?.stop());
      for (const s of result.input.images?.skipped ?? []) process.stderr.write(`skipped ${s.path}: ${s.reason}\n`);
      const text = format === 'json' ? predictionsJson(result) : format === 'csv' ? predictionsCsv(result) : predictionsText(result);
      if (!flags.out) {
        process.stdout.write(text);
        return;
      }
      writeFileAtomicSync(flags.out, text);
      process.stderr.write(`wrote ${result.rows.length} predictions to ${flags.out}` +
        `${result.accuracy !== null ? ` (accuracy ${result.accuracy.toFixed(3)})` : ''}${result.note ? `; ${result.note}` : ''}\n`);
    });
}
