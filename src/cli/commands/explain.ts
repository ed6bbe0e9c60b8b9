/**
 * `protolens explain MODEL --features FILE [--images [ROOT]] [--out DIR]`: the interpretation
 * report of a fitted prototype model on labelled features — Figure 1, the W heat map, findings
 * with their rules, a description of every prototype with its nearest samples (as thumbnails when
 * the images are known). Written all-or-nothing into DIR.
 */
import type { Command } from 'commander';
import { relative } from 'node:path';
import { analyzeModel } from '../../interpret/analyze.ts';
import type { ModelAnalysis } from '../../interpret/types.ts';
import type { PrototypeClassifier } from '../../model/prototype.ts';
import type { FeatureTransform } from '../../model/preprocess.ts';
import type { FeatureSet } from '../../data/featurefile.ts';
import { loadThumbnails, reportSampleIndices, writeReport, type WrittenReport } from '../../viz/report.node.ts';
import type { ReportMeta } from '../../viz/report.ts';
import { CLIError } from '../errors.ts';
import { checkOutputFolder, type OutputCheck } from '../../data/outputs.node.ts';
import { alignLabels, checkFeaturesForModel, readFeatureFile, readPrototypeModel } from '../modelfile.ts';

interface ExplainFlags {
  features: string;
  images?: string | boolean;
  out: string;
  nearest: string;
  png: boolean;
  title?: string;
  force: boolean;
}

/** Options of {@link explainToReport}. */
export interface ExplainReportOptions {
  /** Image dataset root for thumbnails: a path, `true` for the one recorded in the features' sidecar, or false/undefined for none. */
  images?: string | boolean;
  nearest?: number;
  png?: boolean;
  title?: string;
  modelFile?: string;
  dataFile?: string;
  command?: string;
  notes?: string[];
  /** Feature transform in front of the model (a saved Pipeline): the analysis runs on transformed features. */
  transform?: FeatureTransform | null;
  /** Called with progress messages (stderr in the CLI). */
  log?: (s: string) => void;
  /** The report's inputs (never replaced) and whether a folder protolens did not write may be replaced. */
  check?: OutputCheck;
}

/** The image root recorded by `protolens extract` in the features' sidecar, if any. */
export function datasetRoot(fs: FeatureSet): string | undefined {
  const d = fs.meta.dataset as { root?: unknown } | undefined;
  return typeof d?.root === 'string' ? d.root : undefined;
}

/**
 * Analyses `model` on the feature set and writes the report into `out`. Shared by `explain` and
 * the digits demo.
 * @throws CLIError when images are asked for but their root is unknown.
 */
export async function explainToReport(model: PrototypeClassifier, fs: FeatureSet, out: string, o: ExplainReportOptions = {}):
  Promise<{ analysis: ModelAnalysis; written: WrittenReport; missingImages: number }> {
  const log = o.log ?? (() => {});
  const root = o.images ? (typeof o.images === 'string' ? o.images : datasetRoot(fs)) : undefined;
  if (o.images && !root) throw new CLIError(`${o.dataFile ?? 'features'}: --images needs the image folder (the feature file does not record where its images are): --images DIR`);
  if (o.images && !fs.paths) throw new CLIError(`${o.dataFile ?? 'features'}: the feature file has no image paths, so thumbnails cannot be found`);
  const labels = alignLabels(fs.labels, model);
  const t0 = performance.now();
  const X = o.transform ? o.transform.transform(fs.X) : fs.X;
  const analysis = analyzeModel(model, X, labels, { nearest: o.nearest ?? 8, ...(fs.paths ? { paths: fs.paths } : {}) });
  log(`analysed ${fs.X.rows} samples × ${fs.X.cols} features, ${model.W_!.rows} prototypes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  let thumbnails: Record<number, string> | undefined;
  let missingImages = 0;
  if (root && fs.paths) {
    const idx = reportSampleIndices(analysis);
    const r = await loadThumbnails(idx, fs.paths, root);
    thumbnails = r.thumbnails;
    missingImages = r.missing.length;
    log(`thumbnails: ${Object.keys(thumbnails).length} of ${idx.length} images from ${root}${r.missing.length ? ` (${r.missing.length} missing, e.g. ${r.missing[0].path}: ${r.missing[0].reason})` : ''}`);
  }
  const meta: ReportMeta = {
    title: o.title,
    modelFile: o.modelFile,
    dataFile: o.dataFile,
    backbone: fs.meta.backbone as Record<string, unknown> | undefined,
    preprocessing: o.transform ? o.transform.method : undefined,
    command: o.command,
    thumbnails,
    notes: o.notes,
  };
  const written = await writeReport(out, analysis, meta, { png: o.png !== false, check: o.check });
  return { analysis, written, missingImages };
}

export function register(program: Command): void {
  program
    .command('explain')
    .description('Write the interpretation report (HTML + figures) of a prototype model on labelled features')
    .argument('<model>', 'PrototypeClassifier saved by "protolens fit" (JSON)')
    .requiredOption('-f, --features <file>', 'labelled feature file (.npy + sidecar, .csv or .jsonl), usually the training features')
    .option('--images [root]', 'show thumbnails; root = image folder/zip/list (default: the one recorded by "protolens extract")')
    .option('-o, --out <dir>', 'report folder (replaced as a whole once the new report is complete; only a folder protolens wrote, see --force)', 'protolens-out/report')
    .option('--force', 'replace --out even if protolens did not write it (never an input)')
    .option('--nearest <k>', 'nearest training samples shown per prototype', '8')
    .option('--title <text>', 'report title')
    .option('--no-png', 'skip the PNG versions of the figures')
    .action(async (modelPath: string, flags: ExplainFlags) => {
      const nearest = Number(flags.nearest);
      if (!Number.isInteger(nearest) || nearest < 0) throw new CLIError(`Invalid value for --nearest: "${flags.nearest}". Expected a non-negative integer.`);
      const check: OutputCheck = { inputs: [modelPath, flags.features, typeof flags.images === 'string' ? flags.images : null], force: flags.force };
      checkOutputFolder(flags.out, 'report', check);
      const { saved, model, transform } = readPrototypeModel(modelPath);
      const fs = readFeatureFile(flags.features);
      checkFeaturesForModel(fs, saved, { features: flags.features, model: modelPath }, 'required');
      const say = (s: string): void => { process.stderr.write(s + '\n'); };
      const cmd = `protolens explain ${modelPath} --features ${flags.features}${flags.images ? ` --images${typeof flags.images === 'string' ? ` ${flags.images}` : ''}` : ''}`;
      const { analysis, written } = await explainToReport(model, fs, flags.out, {
        images: flags.images, nearest, png: flags.png, title: flags.title, modelFile: modelPath, dataFile: flags.features, command: cmd, log: say, transform,
        check: { ...check, inputs: [...check.inputs!, datasetRoot(fs) ?? null] },
      });
      const counts = new Map<string, number>();
      for (const f of analysis.findings) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
      const shown = relative(process.cwd(), written.html);
      process.stdout.write(`Report: ${shown.startsWith('..') ? written.html : shown}\n` +
        `Accuracy on these samples ${analysis.samples.accuracy.toFixed(3)}; PCA axes explain ${(100 * analysis.projection.explainedRatio[0]).toFixed(1)}% + ${(100 * analysis.projection.explainedRatio[1]).toFixed(1)}% of the variance.\n` +
        `Findings: ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}\n` +
        `Files: ${written.files.join(', ')}\n`);
    });
}
