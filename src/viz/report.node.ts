/**
 * Writing a report to disk (Node): the HTML, the figures as SVG and PNG, the analysis as JSON, and
 * thumbnails of the samples' images.
 *
 * All-or-nothing: every file is first rendered in memory, then written into a fresh temporary
 * directory beside the target, which is renamed into place only when complete. A run that fails
 * at any point leaves an earlier report in the target directory untouched. Only a folder that
 * protolens wrote is replaced (src/data/outputs.node.ts).
 */
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { ModelAnalysis } from '../interpret/types.ts';
import { openImageDataset } from '../data/images.node.ts';
import { writeOutputFolder, type OutputCheck, type OutputFiles } from '../data/outputs.node.ts';
import { prototypePictures, renderFigures, renderReport, type ReportMeta } from './report.ts';
import { renderSvg } from './render.ts';
import { crossingSpec } from './lens.ts';
import { reliabilitySpec } from './specs.ts';

/** Converts an SVG to PNG with sharp (librsvg), at `density` dpi (72 = the SVG's own size). */
export async function svgToPng(svg: string, density = 144): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(svg), { density }).flatten({ background: '#ffffff' }).png().toBuffer());
}

/** Options of {@link writeReport}. */
export interface WriteReportOptions {
  /** Also write PNG versions of the figures (default true). */
  png?: boolean;
  /** Also write the analysis as JSON (default true). */
  json?: boolean;
  /** The inputs of the report (never replaced) and whether a folder protolens did not write may be replaced. */
  check?: OutputCheck;
}

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  dir: string;
  files: string[];
  html: string;
}

/**
 * Renders and writes a report into `dir`: report.html, figure1.svg/.png, weights.svg/.png,
 * analysis.json. Nothing is written unless everything rendered.
 * @example
 * await writeReport('protolens-out/report', analysis, { modelFile: 'model.json', dataFile: 'f.npy' });
 */
export async function writeReport(dir: string, a: ModelAnalysis, meta: ReportMeta, options: WriteReportOptions = {}): Promise<WrittenReport> {
  const pics = prototypePictures(a, meta);
  const figs = await renderFigures(a, Object.keys(pics.pictures).length ? pics : undefined);
  const crossingSpecs = (meta.adversarial?.stats ?? []).filter((s) => s.target === 'class').map((s) => ({ name: `crossing-${s.norm}-${s.target}`, spec: crossingSpec(s, a.classes) }));
  figs.crossing = await Promise.all(crossingSpecs.map((c) => renderSvg(c.spec)));
  const reliability = meta.calibration ? reliabilitySpec(meta.calibration) : null;
  if (reliability) figs.reliability = await renderSvg(reliability);
  const html = renderReport(a, meta, figs);
  const files: OutputFiles = { 'report.html': html, 'figure1.svg': figs.figure1, 'weights.svg': figs.weights };
  for (const [k, c] of crossingSpecs.entries()) {
    files[`${c.name}.svg`] = figs.crossing[k];
    if (options.png !== false) files[`${c.name}.png`] = await svgToPng(figs.crossing[k]);
    if (options.json !== false) files[`${c.name}.vl.json`] = JSON.stringify(c.spec);
  }
  if (reliability && figs.reliability) {
    files['reliability.svg'] = figs.reliability;
    if (options.png !== false) files['reliability.png'] = await svgToPng(figs.reliability);
    if (options.json !== false) files['reliability.vl.json'] = JSON.stringify(reliability);
  }
  if (meta.reconstructions && options.json !== false) files['reconstructions.json'] = JSON.stringify(meta.reconstructions);
  if (meta.adversarial && options.json !== false) files['adversarial.json'] = JSON.stringify(meta.adversarial);
  if (options.png !== false) {
    files['figure1.png'] = await svgToPng(figs.figure1);
    files['weights.png'] = await svgToPng(figs.weights);
  }
  if (options.json !== false) {
    files['analysis.json'] = JSON.stringify(a);
    files['figure1.vl.json'] = JSON.stringify(figs.specs.figure1);
    files['weights.vl.json'] = JSON.stringify(figs.specs.weights);
  }
  if (figs.figure1Metric) {
    files['figure1-metric.svg'] = figs.figure1Metric;
    if (options.png !== false) files['figure1-metric.png'] = await svgToPng(figs.figure1Metric);
    if (options.json !== false) files['figure1-metric.vl.json'] = JSON.stringify(figs.specs.figure1Metric);
  }
  writeOutputFolder(dir, files, 'report', options.check);
  return { dir: resolve(dir), files: Object.keys(files).sort(), html: join(resolve(dir), 'report.html') };
}

/**
 * Thumbnails (64×64 PNG data URIs) of the samples `indices`, read through the image dataset at
 * `root` (a folder, zip or list file, as for `protolens extract`) by their `paths`.
 * @returns the thumbnails found, and the paths that could not be read (with the reason).
 * @throws RangeError when `root` cannot be opened as a dataset.
 */
export async function loadThumbnails(indices: Iterable<number>, paths: readonly string[], root: string, size = 64):
  Promise<{ thumbnails: Record<number, string>; missing: Array<{ path: string; reason: string }> }> {
  const ds = openImageDataset(root, { skipBad: true });
  const byPath = new Map(ds.entries.map((e) => [e.path, e]));
  const thumbnails: Record<number, string> = {};
  const missing: Array<{ path: string; reason: string }> = [];
  for (const i of new Set(indices)) {
    const p = paths[i];
    if (p === undefined) continue;
    const e = byPath.get(p);
    if (!e) { missing.push({ path: p, reason: `not in the dataset at ${root}` }); continue; }
    try {
      const bytes = await ds.read(e);
      const png = await sharp(bytes).resize(size, size, { fit: 'contain', background: '#ffffff' }).flatten({ background: '#ffffff' }).png().toBuffer();
      thumbnails[i] = `data:image/png;base64,${png.toString('base64')}`;
    } catch (err) {
      missing.push({ path: p, reason: (err as Error).message });
    }
  }
  return { thumbnails, missing };
}

/** Sample indices a report shows as images: each prototype's nearest samples and the misclassified ones listed. */
export function reportSampleIndices(a: ModelAnalysis, maxMisclassified = 60): number[] {
  const s = new Set<number>();
  for (const p of a.prototypes) for (const n of p.nearest) s.add(n.index);
  const mis = a.samples.misclassified.slice().sort((i, k) => a.samples.probability[k] - a.samples.probability[i]).slice(0, maxMisclassified);
  for (const i of mis) s.add(i);
  return [...s].sort((x, y) => x - y);
}
