import type { Command } from 'commander';
import { CLIError, toCliError } from '../errors.ts';
import { libraryChoice, numbers, positiveInt, ttaFlag } from '../flags.ts';
import { progressBar } from '../progress.ts';
import { openImages } from '../../data/images.node.ts';
import { classCounts, listingWarnings } from '../../data/images.ts';
import { writeFeatures } from '../../data/features.node.ts';
import { parseShard, shardRange, writeShard } from '../../data/shards.node.ts';
import { checkOutputFile } from '../../data/outputs.node.ts';
import { NODE_BACKENDS, checkNodeBackend } from '../../features/backend.node.ts';
import { extractDataset } from '../../features/extract.node.ts';
import { BUILTIN_NAMES, RUNTIMES, checkRuntime } from '../../features/load.node.ts';
import { POOL_MODES, checkPool } from '../../features/onnx-backbone.ts';
import { PRESETS, checkPreprocessing, nsfwjsPreprocessing, presetPreprocessing, type Preprocessing } from '../../features/pixels.ts';

interface ExtractFlags {
  backbone: string;
  out: string;
  layer?: string;
  pool?: string;
  tta?: string;
  preset?: string;
  mean?: string;
  std?: string;
  inputSize?: string;
  valueRange?: string;
  resize?: string;
  batchSize: string;
  workers: string;
  cacheDir?: string;
  cache: boolean;
  skipBad: boolean;
  backend: string;
  runtime: string;
  progress: boolean;
  force: boolean;
  labels: boolean;
  json: boolean;
  shard?: string;
}

/** The preprocessing flags (--input-size, --value-range, --mean, --std, --resize) as changes to the backbone's own. */
export function preprocessingFlags(flags: Pick<ExtractFlags, 'inputSize' | 'valueRange' | 'mean' | 'std' | 'resize'>): Partial<Preprocessing> {
  const pre: Partial<Preprocessing> = {};
  if (flags.inputSize) { const [h, w] = numbers('--input-size', flags.inputSize, 2); pre.height = h; pre.width = w; }
  if (flags.valueRange) { const [lo, hi] = numbers('--value-range', flags.valueRange, 2); pre.range = [lo, hi]; }
  if (flags.mean) pre.mean = numbers('--mean', flags.mean, 3) as [number, number, number];
  if (flags.std) pre.std = numbers('--std', flags.std, 3) as [number, number, number];
  if (flags.resize) pre.resize = libraryChoice('--resize', flags.resize, (r) => checkPreprocessing({ ...nsfwjsPreprocessing(224), alignCorners: false, resize: r as Preprocessing['resize'] }).resize);
  return pre;
}

/** The --json summary of a finished extraction. */
function summary(out: string, result: Awaited<ReturnType<typeof extractDataset>>, skipped: unknown[], seconds: number): Record<string, unknown> {
  const s = result.stats;
  return {
    out, rows: result.X.rows, cols: result.X.cols, labelled: result.labels.length > 0,
    classes: new Set(result.labels.map(String)).size, computed: s.computed, cached: s.cached, skipped, seconds,
    backbone: result.meta.backbone, preprocessing: result.meta.preprocessing,
  };
}

/** --out and --shard: the output's format (.npy, or an .arrow shard) and the part of the data set it holds. */
function outputFlags(flags: Pick<ExtractFlags, 'out' | 'shard'>): { arrow: boolean; shard: { index: number; count: number } } {
  const arrow = /\.arrow$/i.test(flags.out);
  if (!/\.npy$/i.test(flags.out) && !arrow) throw new CLIError(`Invalid value for --out: "${flags.out}". Expected a path ending in .npy or .arrow.`);
  const shard = flags.shard === undefined ? { index: 0, count: 1 } : libraryChoice('--shard', flags.shard, parseShard);
  if (flags.shard !== undefined && !arrow) throw new CLIError(`Invalid value for --out: "${flags.out}". Expected a path ending in .arrow with --shard (one Arrow IPC file per shard).`);
  return { arrow, shard };
}

/**
 * `protolens extract DATA… --backbone NAME --out FILE`: CNN features of a class-per-folder tree, a
 * zip or a list file (labelled), or of a folder of images or image files (unlabelled).
 */
export function register(program: Command): void {
  program
    .command('extract')
    .argument('<data...>', 'a folder of class folders, a .zip of one, a list file (.csv/.txt) of "path,label" lines; unlabelled: a folder of images, a list of paths, or image files')
    .requiredOption('-o, --out <file.npy|file.arrow>', 'output features (.npy, with a .json sidecar beside it; or an Arrow IPC shard, .arrow; replaces only features protolens wrote, see --force)')
    .option('--shard <i/n>', 'extract only part i of n (0 ≤ i < n; contiguous parts in the data set\'s order) into an .arrow shard; a folder of all n shards reads as one feature file (docs/scale.md)')
    .option('--force', 'replace --out and its sidecar even if protolens did not write them (never an input)')
    .option('-b, --backbone <name|path>', `${BUILTIN_NAMES.join(' | ')} | a TF.js model folder | a .onnx file`, 'mobilenet_v2')
    .option('--layer <name>', 'feature layer: any layer or tensor of the model (see "protolens backbones MODEL"; default: flatten_1 for bundled backbones, the output otherwise)')
    .option('--tta <s>', 'test-time shifts: each feature is the mean over the image moved by every (dx, dy) with |dx|, |dy| ≤ s pixels of the network input ((2s + 1)² copies: 9× the time at 1, 25× at 2; default 0, off). Recorded in the sidecar: models fitted on these features embed new images the same way')
    .option('--pool <mode>', `a spatial map becomes a vector by: ${POOL_MODES.join(' | ')} (default avg)`)
    .option('--preset <name>', `preprocessing preset: ${PRESETS.join(' | ')} (default: tfjs for TF.js models, torchvision for .onnx files)`)
    .option('--input-size <h,w>', 'network input size (default: the model\'s own)')
    .option('--value-range <lo,hi>', 'pixel values 0..255 are mapped to lo..hi (default 0,1)')
    .option('--mean <r,g,b>', 'per-channel mean subtracted after --value-range')
    .option('--std <r,g,b>', 'per-channel standard deviation divided by after --mean')
    .option('--resize <method>', 'bilinear | nearest | bicubic (default bilinear)')
    .option('--batch-size <n>', 'images per forward pass', '8')
    .option('--workers <n|auto>', 'threads computing features (auto: both cores for 64+ images)', 'auto')
    .option('--cache-dir <dir>', 'feature cache (default $PROTOLENS_CACHE or ~/.cache/protolens)')
    .option('--no-cache', 'neither read nor write the cache')
    .option('--skip-bad', 'leave unreadable or non-image files out (reported) instead of failing')
    .option('--runtime <name>', `${RUNTIMES.join(' | ')}: onnx runs the network on onnxruntime (the bundled ones converted to ONNX at first use), tfjs on TF.js; auto: onnxruntime for .onnx files and the bundled networks (TF.js if it fails), TF.js for TF.js folders`, 'auto')
    .option('--backend <name>', `TF.js backend: ${NODE_BACKENDS.join(' | ')}`, 'wasm')
    .option('--no-labels', 'read the images unlabelled, whatever folders hold them')
    .option('--json', 'print a summary as JSON on stdout')
    .option('--no-progress', 'no progress bar')
    .action(async (data: string[], flags: ExtractFlags) => {
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const { arrow, shard } = outputFlags(flags);
      const backend = libraryChoice('--backend', flags.backend, checkNodeBackend);
      const runtime = libraryChoice('--runtime', flags.runtime, checkRuntime);
      const pre = preprocessingFlags(flags);
      const pool = flags.pool === undefined ? undefined : libraryChoice('--pool', flags.pool, checkPool);
      const preset = flags.preset === undefined ? undefined : libraryChoice('--preset', flags.preset, (s) => presetPreprocessing(s).preset);
      const batchSize = positiveInt('--batch-size', flags.batchSize);
      const workers = flags.workers === 'auto' ? 'auto' : positiveInt('--workers', flags.workers);
      const check = { inputs: data, force: flags.force };
      checkOutputFile(flags.out, arrow ? 'shard' : 'features', check);
      try {
        const all = openImages(data, { skipBad: flags.skipBad, labels: flags.labels ? 'auto' : 'none' });
        const classes = all.labelled === false ? 'unlabelled' : `in ${classCounts(all.entries).length} classes`;
        say(`${all.root}: ${all.entries.length} images ${classes} (${all.kind})`);
        const [from, to] = shardRange(all.entries.length, shard);
        if (from === to) throw new CLIError(`--shard ${flags.shard}: this part holds no images (the data set has ${all.entries.length}); use at most ${all.entries.length} shards`);
        const ds = { ...all, entries: all.entries.slice(from, to) };
        if (shard.count > 1) say(`shard ${shard.index}/${shard.count}: images ${from}–${to - 1} of ${all.entries.length}`);
        for (const w of listingWarnings(ds)) say(`  note: ${w}`);
        let bar: ReturnType<typeof progressBar> | undefined;
        let cachedAtStart = 0;
        const result = await extractDataset(ds, {
          backbone: flags.backbone, layer: flags.layer, pool, tta: ttaFlag(flags.tta), preset, preprocessing: pre, batchSize, workers,
          cacheDir: flags.cache ? flags.cacheDir : false, skipBad: flags.skipBad, backend, runtime,
          onReady: (r) => {
            const capped = typeof workers === 'number' && r.threads < workers && r.cached < r.total ? ` (--workers ${workers} capped at the cores and batches)` : '';
            say(`${flags.backbone}: loaded in ${(r.loadMs / 1000).toFixed(1)} s from ${r.from}, ${r.threads} thread${r.threads > 1 ? 's' : ''}${capped}; ` +
              `${r.cached} of ${r.total} images in the cache`);
            if (r.note) say(`  note: ${r.note}`);
            // The bar counts the images still to compute, so its rate and ETA are the network's.
            cachedAtStart = r.cached;
            if (flags.progress && r.cached < r.total) bar = progressBar('extract', r.total - r.cached, 'images');
          },
          onProgress: (p) => bar?.update(p.done - cachedAtStart),
        });
        bar?.stop();
        if (arrow) writeShard(flags.out, result, shard, all.entries.length, check); else writeFeatures(flags.out, result, check);
        const s = result.stats;
        const secs = s.extractMs / 1000;
        say(`wrote ${flags.out} (${result.X.rows}×${result.X.cols} float32)${arrow ? '' : ' and its .json sidecar'}: ` +
          `${s.computed} computed, ${s.cached} from cache, ${s.skipped} skipped, in ${secs.toFixed(1)} s` +
          (s.computed > 0 ? ` (${(s.computed / secs).toFixed(2)} images/s)` : ''));
        const skipped = (result.meta.dataset?.skipped ?? []) as Array<{ path: string; reason: string }>;
        for (const b of skipped.slice(ds.skipped.length)) say(`  skipped ${b.path}: ${b.reason}`);
        if (flags.json) process.stdout.write(JSON.stringify(summary(flags.out, result, skipped, secs), null, 1) + '\n');
      } catch (e) {
        throw toCliError(e, undefined, { skipBad: '--skip-bad', inputSize: '--input-size H,W' });
      }
    });
}
