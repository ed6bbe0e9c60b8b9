/**
 * Vega-Lite specifications of the report's figures, built from a {@link ModelAnalysis}. Pure and
 * browser-safe: the web explorer can hand them to vega-embed; Node renders them to SVG through
 * `render.ts`.
 *
 * - {@link figure1Spec}: the paper's Figure 1. Samples on the first two PCA axes coloured by
 *   true class, misclassified samples ringed, prototypes as black diamonds annotated with their
 *   winning class, the explained variance of each axis in its title.
 * - {@link weightsSpec}: the prototype × class matrix W as a heat map, prototypes grouped by
 *   winning class.
 * - {@link reliabilitySpec}: the reliability diagram of a calibrated model, before and after
 *   temperature scaling (docs/openset.md).
 */
import type { Label } from '../model/types.ts';
import type { ModelAnalysis } from '../interpret/types.ts';
import { placeLabels } from './labels.ts';
import { PICTURE_SIDE } from './pictures.ts';
import type { CalibrationRecord } from '../model/calibration.ts';

/** A Vega-Lite specification (kept loose so this module needs no vega-lite types at run time). */
export type VegaLiteSpec = Record<string, unknown>;

/** Options of {@link figure1Spec}. */
export interface Figure1Options {
  width?: number;
  height?: number;
  /** Title line. Default "Figure 1 — samples and prototypes on the first two principal axes". */
  title?: string;
  /** The projection to draw; default the analysis's own (`projection`), e.g. `metricProjection` for the learned metric's view. */
  projection?: ModelAnalysis['projection'];
  /** A picture per prototype index (an image URL or data URI: its reconstruction or its nearest image), drawn instead of its diamond. */
  pictures?: Record<number, string>;
  /** What the pictures are, for the subtitle. Default "its picture". */
  picturesAre?: string;
}

/** Side of a prototype's picture on Figure 1, in pixels (the same as on the explorer's map). */
const PICTURE = PICTURE_SIDE;

const pct = (r: number): string => `${(100 * r).toFixed(1)}%`;

/** Prototypes further than this fraction of the samples' span beyond them are drawn on the border. */
const OFF_PLOT = 0.25;

/** Text of a label, shortened for annotations by keeping its end ("…character12"). */
export function shortLabel(l: Label, max = 18): string {
  const t = String(l);
  return t.length > max ? `…${t.slice(t.length - max + 1)}` : t;
}

/**
 * Short display names of class labels, unique and in the same order: the common "/"-terminated
 * prefix of all labels is dropped ("Balinese/character01" → "character01" when every class is
 * Balinese), then long names keep their end. Falls back to the full names if that would merge two.
 * @example
 * displayLabels(['Greek/alpha', 'Greek/beta']) // ['alpha', 'beta']
 */
export function displayLabels(classes: readonly Label[], max = 18): string[] {
  const names = classes.map(String);
  const cut = commonFolder(names).length;
  const out = names.map((n) => shortLabel(n.slice(cut), max));
  return new Set(out).size === out.length ? out : names;
}

/** The longest "/"-terminated prefix shared by all names ("" if none). */
export function commonFolder(names: readonly string[]): string {
  let prefix = names.length > 1 ? names[0] : '';
  for (const n of names) while (prefix && !n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

/** A palette that stays distinct for up to 20 classes, then cycles. */
function colourScale(names: readonly string[]): Record<string, unknown> {
  return { domain: names, scheme: names.length <= 10 ? 'tableau10' : 'tableau20' };
}

/**
 * The plotted range of one axis of Figure 1 (k = 0: PC1, 1: PC2). Axes follow the samples: a
 * prototype far outside them (typically a dead one that drifted away) would squash the cloud into
 * a corner, so only prototypes within {@link OFF_PLOT} of the samples' span widen it.
 */
function plotDomain(a: ModelAnalysis, k: 0 | 1): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const p of a.projection.samples) { lo = Math.min(lo, p[k]); hi = Math.max(hi, p[k]); }
  const span = hi - lo || 1;
  const allowLo = lo - span * OFF_PLOT, allowHi = hi + span * OFF_PLOT;
  for (const p of a.projection.prototypes) {
    if (p[k] >= allowLo && p[k] <= allowHi) { lo = Math.min(lo, p[k]); hi = Math.max(hi, p[k]); }
  }
  const pad = 0.03 * (hi - lo || 1);
  return [lo - pad, hi + pad];
}

/** Figure 1's prototype marks: a prototype outside the plotted ranges is drawn on the border, and its label gives its true coordinates. */
function prototypePoints(a: ModelAnalysis, dx: [number, number], dy: [number, number], show: (l: Label) => string) {
  const clamp = (v: number, [lo, hi]: [number, number]) => Math.min(hi, Math.max(lo, v));
  return a.projection.prototypes.map(([x, y], j) => {
    const off = clamp(x, dx) !== x || clamp(y, dy) !== y;
    const cls = String(a.prototypes[j].winningClass);
    return {
      x: clamp(x, dx), y: clamp(y, dy), j, cls, off,
      tag: `${show(a.prototypes[j].winningClass)}${off ? ` (p${j}, off plot at ${x.toPrecision(3)}, ${y.toPrecision(3)})` : ''}`,
      description: `prototype ${j} → ${cls}${off ? ' (off plot)' : ''}`,
    };
  });
}

/**
 * Figure 1's prototype labels, placed without overlap in pixel space ({@link placeLabels}) and
 * brought back to data coordinates; a label moved off its mark comes with a leader line.
 */
function prototypeLabels(protos: ReturnType<typeof prototypePoints>, dx: [number, number], dy: [number, number], width: number, height: number, mark: number) {
  const px = (x: number) => ((x - dx[0]) / (dx[1] - dx[0])) * width, py = (y: number) => ((dy[1] - y) / (dy[1] - dy[0])) * height;
  const dataX = (v: number) => dx[0] + (v / width) * (dx[1] - dx[0]), dataY = (v: number) => dy[1] - (v / height) * (dy[1] - dy[0]);
  const placed = placeLabels(protos.map((p) => ({ x: px(p.x), y: py(p.y), text: p.tag, mark })), { width, height });
  return protos.map((p, k) => ({
    j: p.j, tag: p.tag, x: p.x, y: p.y, lx: dataX(placed[k].cx), ly: dataY(placed[k].cy), leader: placed[k].leader,
    description: `label of prototype ${p.j}`,
  }));
}

/**
 * The paper's Figure 1 as a Vega-Lite layered scatter plot.
 *
 * Marks are named so that counts can be checked in the SVG: each prototype diamond carries the
 * ARIA description "prototype j → class", each misclassified ring "misclassified sample i".
 * @example
 * const spec = figure1Spec(analysis); // then renderSvg(spec) or vegaEmbed(el, spec)
 */
export function figure1Spec(analysis: ModelAnalysis, options: Figure1Options = {}): VegaLiteSpec {
  const a = options.projection ? { ...analysis, projection: options.projection } : analysis;
  const [r1, r2] = a.projection.explainedRatio;
  const mis = new Set(a.samples.misclassified);
  const shown = displayLabels(a.classes);
  const nameOf = new Map(a.classes.map((c, l) => [String(c), shown[l]]));
  const show = (l: Label): string => nameOf.get(String(l)) ?? String(l);
  const samples = a.projection.samples.map(([x, y], i) => ({
    x, y, i, label: show(a.samples.labels[i]), predicted: show(a.samples.predicted[i]), misclassified: mis.has(i),
  }));
  const dx = plotDomain(a, 0), dy = plotDomain(a, 1);
  const protos = prototypePoints(a, dx, dy, show);
  const ringed = samples.filter((s) => s.misclassified).map((s) => ({ ...s, description: `misclassified sample ${s.i}: ${String(a.samples.labels[s.i])} → ${String(a.samples.predicted[s.i])}` }));
  const xEnc = { field: 'x', type: 'quantitative', title: `PC1 (${pct(r1)} of the variance)`, scale: { zero: false, nice: false, domain: dx } };
  const yEnc = { field: 'y', type: 'quantitative', title: `PC2 (${pct(r2)} of the variance)`, scale: { zero: false, nice: false, domain: dy } };
  const manyClasses = a.classes.length > 24;
  const width = options.width ?? 640, height = options.height ?? 480;
  const pictures = options.pictures && protos.some((p) => options.pictures![p.j]) ? options.pictures : undefined;
  const labels = prototypeLabels(protos, dx, dy, width, height, pictures ? PICTURE / 2 + 1 : 6);
  const lEnc = { x: { ...xEnc, field: 'lx' }, y: { ...yEnc, field: 'ly' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: options.title ?? 'Figure 1 — samples and prototypes on the first two principal axes',
      subtitle: [
        `PC1 ${pct(r1)} + PC2 ${pct(r2)} = ${pct(r1 + r2)} of the variance: the projection may mislead.`,
        `${pictures ? `framed picture: a prototype (${options.picturesAre ?? 'its picture'}), labelled with its winning class` : '◆ prototype (its winning class)'} · red ○ misclassified (${mis.size} of ${a.samples.n})`,
      ],
      anchor: 'start',
      subtitleFontSize: 11,
    },
    width,
    height,
    config: { view: { stroke: '#ccc' }, axis: { grid: true, gridOpacity: 0.4 }, legend: { labelLimit: 160, symbolLimit: 40 } },
    layer: [
      {
        name: 'samples',
        data: { values: samples },
        mark: { type: 'point', filled: true, size: 28, opacity: 0.75 },
        encoding: {
          x: xEnc, y: yEnc,
          color: { field: 'label', type: 'nominal', title: `class${commonFolder(a.classes.map(String)) ? ` (${commonFolder(a.classes.map(String))}…)` : ''}`, scale: colourScale(shown), ...(manyClasses ? { legend: null } : {}) },
          description: { field: 'label' },
        },
      },
      ...(ringed.length === 0 ? [] : [{
        name: 'misclassified',
        data: { values: ringed },
        mark: { type: 'point', shape: 'circle', filled: false, size: 110, stroke: '#d62728', strokeWidth: 1.4 },
        encoding: { x: xEnc, y: yEnc, description: { field: 'description' } },
      }]),
      ...prototypeMarks(protos, pictures, xEnc, yEnc),
      ...(labels.some((l) => l.leader) ? [{
        name: 'prototypeLeaders',
        data: { values: labels.filter((l) => l.leader) },
        mark: { type: 'rule', color: '#555', strokeWidth: 0.7, opacity: 0.8 },
        encoding: { x: xEnc, y: yEnc, x2: { field: 'lx' }, y2: { field: 'ly' } },
      }] : []),
      {
        name: 'prototypeLabels',
        data: { values: labels },
        mark: { type: 'text', align: 'center', baseline: 'middle', fontSize: 10, fontWeight: 'bold', color: 'black' },
        encoding: { ...lEnc, text: { field: 'tag' }, description: { field: 'description' } },
      },
    ],
  };
}

/** The prototypes' marks: black diamonds, or each picture in a white frame (the frame carries the mark's description). */
function prototypeMarks(protos: ReturnType<typeof prototypePoints>, pictures: Record<number, string> | undefined, xEnc: object, yEnc: object): VegaLiteSpec[] {
  if (!pictures) {
    return [{
      name: 'prototypes',
      data: { values: protos },
      mark: { type: 'point', shape: 'diamond', filled: true, size: 150, color: 'black', stroke: 'white', strokeWidth: 0.8, opacity: 1 },
      encoding: { x: xEnc, y: yEnc, description: { field: 'description' } },
    }];
  }
  const withPicture = protos.filter((p) => pictures[p.j]).map((p) => ({ ...p, url: pictures[p.j], what: `picture of prototype ${p.j}` }));
  const without = protos.filter((p) => !pictures[p.j]);
  return [
    {
      name: 'prototypes',
      data: { values: withPicture },
      mark: { type: 'point', shape: 'square', filled: true, size: (PICTURE + 2) ** 2, color: 'white', stroke: 'black', strokeWidth: 1.2, opacity: 1 },
      encoding: { x: xEnc, y: yEnc, description: { field: 'description' } },
    },
    {
      name: 'prototypePictures',
      data: { values: withPicture },
      mark: { type: 'image', width: PICTURE, height: PICTURE },
      encoding: { x: xEnc, y: yEnc, url: { field: 'url', type: 'nominal' }, description: { field: 'what' } },
    },
    ...(without.length ? [{
      name: 'prototypesWithoutPicture',
      data: { values: without },
      mark: { type: 'point', shape: 'diamond', filled: true, size: 150, color: 'black', stroke: 'white', strokeWidth: 0.8, opacity: 1 },
      encoding: { x: xEnc, y: yEnc, description: { field: 'description' } },
    }] : []),
  ];
}

/** Options of {@link weightsSpec}. */
export interface WeightsOptions {
  /** Pixel size of one cell (default: 14, smaller for large matrices). */
  cell?: number;
}

/**
 * The J×L weight matrix W as a heat map: one row per prototype (grouped by winning class, then by
 * weight), one column per class, a diverging colour scale centred on 0.
 */
export function weightsSpec(a: ModelAnalysis, options: WeightsOptions = {}): VegaLiteSpec {
  const J = a.W.length, L = a.classes.length;
  const classIndex = new Map(a.classes.map((c, l) => [String(c), l]));
  const shown = displayLabels(a.classes);
  const order = a.prototypes.slice().sort((p, q) => {
    const cp = classIndex.get(String(p.winningClass))!, cq = classIndex.get(String(q.winningClass))!;
    return cp - cq || p.index - q.index;
  }).map((p) => `p${p.index}`);
  const values: Array<Record<string, unknown>> = [];
  for (let j = 0; j < J; j++) {
    for (let l = 0; l < L; l++) {
      values.push({ prototype: `p${j}`, cls: shown[l], weight: a.W[j][l], winner: String(a.prototypes[j].winningClass) === String(a.classes[l]) });
    }
  }
  let maxAbs = 0;
  for (const row of a.W) for (const w of row) maxAbs = Math.max(maxAbs, Math.abs(w));
  const cell = options.cell ?? (Math.max(J, L) > 60 ? 6 : Math.max(J, L) > 30 ? 10 : 14);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'W: prototype × class weights',
      subtitle: 'Rows grouped by winning class. Red: positive link.',
      anchor: 'start',
      subtitleFontSize: 11,
    },
    data: { values },
    width: Math.max(120, L * cell),
    height: Math.max(80, J * cell),
    config: { view: { stroke: null }, axis: { labelLimit: 140 } },
    mark: { type: 'rect' },
    encoding: {
      x: { field: 'cls', type: 'nominal', sort: shown, title: 'class', axis: { labelAngle: -50, labelFontSize: L > 40 ? 7 : 10 } },
      y: { field: 'prototype', type: 'nominal', sort: order, title: 'prototype', axis: { labelFontSize: J > 60 ? 6 : 10 } },
      color: {
        field: 'weight', type: 'quantitative', title: 'W',
        scale: { scheme: 'redblue', reverse: true, domain: [-maxAbs || -1, maxAbs || 1], domainMid: 0 },
      },
    },
  };
}

/**
 * The reliability diagram of a calibration record: per confidence bin of the held-out samples, the
 * accuracy against the mean confidence, before (T = 1) and after temperature scaling, point area by
 * the bin's count; the diagonal is perfect calibration.
 * @example
 * reliabilitySpec(model.calibration_!) // layered Vega-Lite spec: diagonal, lines and points
 */
export function reliabilitySpec(rec: CalibrationRecord, size = 300): VegaLiteSpec {
  const values: Array<Record<string, unknown>> = [];
  const label = { before: `before (T = 1), ECE ${rec.ece.before.toFixed(3)}`, after: `after (T = ${rec.temperature.toPrecision(3)}${rec.margin ? ` · r^${rec.margin.exponent.toFixed(2)}` : ''}), ECE ${rec.ece.after.toFixed(3)}` };
  for (const when of ['before', 'after'] as const) {
    for (const b of rec.reliability[when]) {
      if (b.count > 0 && b.confidence !== null && b.accuracy !== null) values.push({ when: label[when], confidence: b.confidence, accuracy: b.accuracy, count: b.count });
    }
  }
  const x = { field: 'confidence', type: 'quantitative', title: 'confidence (largest class probability)', scale: { domain: [0, 1] } };
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } };
  const color = { field: 'when', type: 'nominal', title: null, sort: [label.before, label.after], scale: { range: ['#d62728', '#1f77b4'] }, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Reliability diagram', subtitle: `${rec.heldOut} held-out samples, ${rec.reliability.after.length} confidence bins; diagonal: perfect calibration`, anchor: 'start', subtitleFontSize: 11 },
    width: size, height: size,
    layer: [
      { data: { values: [{ confidence: 0, accuracy: 0 }, { confidence: 1, accuracy: 1 }] }, mark: { type: 'line', color: '#999', strokeDash: [4, 4] }, encoding: { x, y } },
      { data: { values }, mark: { type: 'line' }, encoding: { x, y, color } },
      { data: { values }, mark: { type: 'point', filled: true }, encoding: { x, y, color, size: { field: 'count', type: 'quantitative', title: 'samples in the bin', legend: null, scale: { range: [15, 300] } } } },
    ],
  };
}
