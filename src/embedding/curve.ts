/**
 * The training curve as a small standalone SVG: validation accuracy (and training accuracy)
 * against training time. Browser-safe, no dependencies.
 */
import type { CurvePoint } from './train.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The plot's frame: the SVG's opening, its title and six horizontal grid lines from `lo` to 1, labelled with `digits` decimals. */
function frame(W: number, H: number, L: number, R: number, title: string, lo: number, y: (a: number) => number, digits: number): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="20" font-size="14">${esc(title)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const a = lo + ((1 - lo) * k) / 5;
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(a).toFixed(1)}" y2="${y(a).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${(y(a) + 4).toFixed(1)}" text-anchor="end">${a.toFixed(digits)}</text>`);
  }
  return out;
}

/**
 * Renders the curve. The x axis is minutes of training, the y axis accuracy in [lo, 1].
 * @example
 * curveSvg([{ episode: 100, seconds: 60, cpuSeconds: 50, trainLoss: 1, trainAccuracy: 0.6, valAccuracy: 0.7, imagesPerSecond: 90 }], 'run')
 */
export function curveSvg(points: readonly CurvePoint[], title: string): string {
  const W = 640, H = 360, L = 56, R = 16, T = 36, B = 44;
  const tmax = Math.max(1, ...points.map((p) => p.seconds / 60));
  const ys = points.flatMap((p) => [p.valAccuracy, p.trainAccuracy]).filter(Number.isFinite);
  const lo = Math.max(0, Math.floor((Math.min(1, ...ys) - 0.02) * 10) / 10);
  const x = (m: number) => L + ((W - L - R) * m) / tmax;
  const y = (a: number) => T + ((H - T - B) * (1 - a)) / (1 - lo || 1);
  const line = (key: 'valAccuracy' | 'trainAccuracy') =>
    points.filter((p) => Number.isFinite(p[key])).map((p) => `${x(p.seconds / 60).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
  const out = frame(W, H, L, R, title, lo, y, 2);
  const step = tmax > 60 ? 15 : tmax > 20 ? 5 : tmax > 5 ? 1 : 0.5;
  for (let m = 0; m <= tmax + 1e-9; m += step) {
    out.push(`<text x="${x(m).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${m}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">minutes of training</text>`);
  out.push(`<polyline fill="none" stroke="#999" stroke-width="1.5" stroke-dasharray="4 3" points="${line('trainAccuracy')}"/>`);
  out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line('valAccuracy')}"/>`);
  // The legend sits in the lower right of the plot, which rising accuracy curves leave empty
  // (above the plot it ran into long titles).
  out.push(`<text x="${W - R - 6}" y="${H - B - 10}" text-anchor="end"><tspan fill="#1f77b4">validation accuracy</tspan> · <tspan fill="#999">training-episode accuracy</tspan></text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One run's curve for {@link compareCurvesSvg}. */
export interface CurveSeries {
  name: string;
  points: readonly CurvePoint[];
  /** Images per episode, to put the runs on an axis of images seen. */
  imagesPerEpisode: number;
}

/** What the x axis of {@link compareCurvesSvg} counts. */
export type CurveAxis = 'cpu-minutes' | 'million-images';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];

/**
 * Several runs' validation accuracy on one plot, against CPU minutes of training (the fair axis on
 * a shared machine: wall time depends on what else ran) or millions of training images.
 * @example
 * compareCurvesSvg([{ name: 'protonet', points, imagesPerEpisode: 300 }], 'heads', 'cpu-minutes')
 */
export function compareCurvesSvg(series: readonly CurveSeries[], title: string, axis: CurveAxis): string {
  const W = 720, H = 400, L = 56, R = 16, T = 36, B = 44;
  const xOf = (s: CurveSeries, p: CurvePoint) => (axis === 'cpu-minutes' ? p.cpuSeconds / 60 : (p.episode * s.imagesPerEpisode) / 1e6);
  const pts = series.flatMap((s) => s.points.filter((p) => Number.isFinite(p.valAccuracy) && Number.isFinite(xOf(s, p))).map((p) => ({ x: xOf(s, p), a: p.valAccuracy })));
  const xmax = Math.max(1e-9, ...pts.map((p) => p.x));
  const lo = Math.max(0, Math.floor((Math.min(1, ...pts.map((p) => p.a)) - 0.01) * 20) / 20);
  const x = (v: number) => L + ((W - L - R) * v) / xmax;
  const y = (a: number) => T + ((H - T - B) * (1 - a)) / (1 - lo || 1);
  const out = frame(W, H, L, R, title, lo, y, 3);
  const raw = xmax / 6, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  for (let v = 0; v <= xmax + 1e-9; v += step) {
    out.push(`<text x="${x(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${Number(v.toPrecision(6))}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${axis === 'cpu-minutes' ? 'CPU minutes of training' : 'million training images'}</text>`);
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const line = s.points.filter((p) => Number.isFinite(p.valAccuracy)).map((p) => `${x(xOf(s, p)).toFixed(1)},${y(p.valAccuracy).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${line}"/>`);
    out.push(`<text x="${W - R - 6}" y="${H - B - 10 - 16 * (series.length - 1 - i)}" text-anchor="end" fill="${colour}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
