/**
 * Training curves of several runs side by side (BENCHMARKS.md, "Learned embedding"): reads each
 * output folder's embedding.json (or checkpoint-less run's curve) and prints a Markdown table of
 * validation accuracy at each evaluation with episodes, images, wall and CPU minutes; with
 * `--svg FILE` also writes the curves against CPU minutes (and `--axis million-images`).
 *
 *   node --import tsx bench/embedding-curves.ts /work/models/h-protonet:protonet /work/models/h-episode:'layer, per episode' \
 *     [--svg docs/figures/heads.svg] [--axis cpu-minutes|million-images] [--title T] [--every 250]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareCurvesSvg, type CurveAxis, type CurveSeries } from '../src/embedding/curve.ts';
import type { CurvePoint } from '../src/embedding/train.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const runs = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const every = Number(opt('--every') ?? 250);
const series: CurveSeries[] = runs.map((spec) => {
  const k = spec.indexOf(':');
  const dir = k < 0 ? spec : spec.slice(0, k), name = k < 0 ? dir.split('/').filter(Boolean).pop()! : spec.slice(k + 1);
  const meta = JSON.parse(readFileSync(join(dir, 'embedding.json'), 'utf8')) as { curve: CurvePoint[]; training: { episode: { nWay: number; kShot: number; nQuery: number } } };
  const e = meta.training.episode;
  return { name, points: meta.curve, imagesPerEpisode: e.nWay * (e.kShot + e.nQuery) };
});
const lines = ['| run | episode | images (M) | wall min | CPU min | train loss | train acc | validation |', '|---|---|---|---|---|---|---|---|'];
for (const s of series) {
  for (const p of s.points) {
    if (p.episode % every !== 0 && p !== s.points[s.points.length - 1]) continue;
    lines.push(`| ${s.name} | ${p.episode} | ${(p.episode * s.imagesPerEpisode / 1e6).toFixed(2)} | ${(p.seconds / 60).toFixed(1)} | ${(p.cpuSeconds / 60).toFixed(1)} | ${p.trainLoss.toFixed(3)} | ${p.trainAccuracy.toFixed(3)} | ${p.valAccuracy == null || Number.isNaN(p.valAccuracy) ? '–' : p.valAccuracy.toFixed(4)} |`); // null: a run without validation alphabets
  }
}
process.stdout.write(lines.join('\n') + '\n');
const svg = opt('--svg');
if (svg) writeFileSync(svg, compareCurvesSvg(series, opt('--title') ?? 'validation accuracy (20-way 5-shot, nearest class mean)', (opt('--axis') ?? 'cpu-minutes') as CurveAxis));
