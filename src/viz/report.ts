/**
 * The self-contained HTML report of a fitted prototype model: a pure function of a
 * {@link ModelAnalysis}, its rendered figures and a few facts about where model and data came
 * from. Inline CSS and SVG, thumbnails as data URIs, no script and no network: the file opens
 * offline in any browser. Browser-safe; writing files is `report.node.ts`'s job.
 */
import type { Label } from '../model/types.ts';
import type { Finding, FindingKind, ModelAnalysis, PrototypeStats } from '../interpret/types.ts';
import { FINDING_KINDS } from '../interpret/types.ts';
import { VERSION } from '../version.ts';
import type { CalibrationRecord } from '../model/calibration.ts';
import { displayLabels, figure1Spec, weightsSpec, type VegaLiteSpec } from './specs.ts';
import { renderSvg } from './render.ts';
import { choosePictures, findingPrototypes } from './pictures.ts';
import { adversarialSection, LENS_CSS, reconstructionSection, type LensAdversarial, type LensReconstruction } from './lens.ts';

/** Where the model and data came from, and the optional images. */
export interface ReportMeta {
  /** Report title. Default "protolens report". */
  title?: string;
  /** Model file shown in the header. */
  modelFile?: string;
  /** Features file shown in the header. */
  dataFile?: string;
  /** Backbone that made the features (name, layer, dim), from the feature file's sidecar. */
  backbone?: Record<string, unknown>;
  /** Feature transform applied before the model (e.g. "sqrt-center-l2"); the figures are drawn in the transformed space. */
  preprocessing?: string;
  /** protolens version. Default: this library's. */
  version?: string;
  /** Command line that made the report. */
  command?: string;
  /** Thumbnails of samples, keyed by sample index: data URIs (`data:image/png;base64,…`). */
  thumbnails?: Record<number, string>;
  /** Extra paragraphs for the top of the report (plain text). */
  notes?: string[];
  /** Each prototype's reconstruction (`explain --reconstruct`): a section, and the prototypes drawn as these pictures. */
  reconstructions?: LensReconstruction[];
  /** The adversarial reading of a few samples (`explain --adversarial N`). */
  adversarial?: LensAdversarial;
  /** The model's calibration (temperature, ECE, rejection rule), when it has one: the report shows its reliability diagram. */
  calibration?: CalibrationRecord | null;
}

/** SVG text of the two figures. */
export interface ReportFigures {
  figure1: string;
  weights: string;
  /** Figure 1 in the learned metric (models with one). */
  figure1Metric?: string;
  /** The crossing-budget figures, one per statistic of class changes in `meta.adversarial.stats`. */
  crossing?: string[];
  /** The reliability diagram (calibrated models). */
  reliability?: string;
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const num = (v: number | null | undefined, digits = 3): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(digits - 1) : Number(v.toPrecision(digits)).toString();
};
const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const lab = (l: Label): string => escapeHtml(String(l));

const TITLES: Record<FindingKind, string> = {
  'scattered-class': 'Scattered classes',
  'ambiguous-prototype': 'Ambiguous prototypes',
  'singleton-class': 'Singleton classes',
  'single-sample-prototype': 'Prototypes that capture a single sample',
  'unbalanced-class': 'Unbalanced classes',
  'dead-prototype': 'Dead prototypes',
};

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600}
table.meta td:first-child{font-weight:600;background:#f7f7f7}
.rule{background:#f4f6fa;border-left:3px solid #7a8bb0;padding:6px 10px;margin:4px 0 8px;font-size:13px}
.rule b{color:#44557a}
.none{color:#777;font-style:italic}
.fig{overflow-x:auto;margin:8px 0}.fig svg{max-width:none}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px}
.card h3{margin:0 0 4px}
.thumbs{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}
.thumb{display:flex;flex-direction:column;align-items:center;font-size:10px;color:#555;width:64px}
.thumb img{width:64px;height:64px;object-fit:contain;border:2px solid #9c9;background:#fff;image-rendering:auto}
.thumb.other img{border-color:#d62728}
.small{font-size:12px;color:#555}
.tag{display:inline-block;background:#eee;border-radius:3px;padding:0 5px;margin:1px 2px 1px 0;font-size:12px}
.warn{color:#a33}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
.pics{display:flex;flex-wrap:wrap;gap:4px;margin:4px 0 8px}
.pic{display:flex;flex-direction:column;align-items:center;font-size:10px;color:#555;width:60px}
.pic img{width:48px;height:48px;object-fit:contain;border:1px solid #999;background:#fff}
`;

function metaTable(a: ModelAnalysis, meta: ReportMeta): string {
  const p = a.model.params;
  const rows: Array<[string, string]> = [
    ['model', `${escapeHtml(a.model.kind)}${meta.modelFile ? ` — <code>${escapeHtml(meta.modelFile)}</code>` : ''}`],
    ['prototypes J × classes L × dimension D', `${a.model.nPrototypes} × ${a.model.nClasses} × ${a.model.nFeatures}`],
    ['τ', `${num(a.model.tau, 4)} (${escapeHtml(a.model.tauRule || 'rule not recorded')})`],
    ['regularization, α', `${escapeHtml(p.regularization ?? '?')}, ${escapeHtml(p.alpha ?? '?')}`],
    ['seed', escapeHtml(a.model.seed ?? 'not recorded')],
    ['data', `${meta.dataFile ? `<code>${escapeHtml(meta.dataFile)}</code>, ` : ''}${a.samples.n} samples`],
  ];
  if (meta.backbone) {
    const b = meta.backbone;
    rows.push(['features', escapeHtml([b.name, b.layer ? `layer ${String(b.layer)}` : '', b.dim ? `${String(b.dim)}-d` : ''].filter(Boolean).join(', '))]);
  }
  if (meta.preprocessing) rows.push(['feature preprocessing', `${escapeHtml(meta.preprocessing)} (saved with the model; the analysis and figures are in the transformed space)`]);
  rows.push(['accuracy on these samples', `${pct(a.samples.accuracy)} (${a.samples.misclassified.length} misclassified, ${a.samples.ambiguous.length} ambiguous decisions)`]);
  rows.push(['made by', `protolens ${escapeHtml(meta.version ?? VERSION)}${meta.command ? ` — <code>${escapeHtml(meta.command)}</code>` : ''}`]);
  return `<table class="meta">${rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('')}</table>`;
}

/** A finding's prototypes ({@link findingPrototypes}) as pictures: each one's nearest training image, and its reconstruction when there is one. */
function findingPictures(f: Finding, a: ModelAnalysis, meta: ReportMeta): string {
  const t = meta.thumbnails ?? {};
  const recs = new Map((meta.reconstructions ?? []).map((r) => [r.prototype, r]));
  const of = (l: unknown) => a.classStats.find((c) => String(c.label) === String(l))?.prototypes.map((p) => p.index) ?? [];
  const items = findingPrototypes(f, of).flatMap((j) => {
    const p = a.prototypes[j];
    const n = p?.nearest[0] && t[p.nearest[0].index];
    const r = recs.get(j);
    const out: string[] = [];
    if (n) out.push(`<div class="pic"><img src="${n}" alt="nearest image of p${j}"><span><a href="#p${j}">p${j}</a> nearest</span></div>`);
    if (r) out.push(`<div class="pic"><img src="${r.image}" alt="reconstruction of p${j}" style="image-rendering:pixelated"><span><a href="#rec-p${j}">p${j}</a> x* q ${num(r.q, 2)}</span></div>`);
    return out;
  });
  return items.length ? `<div class="pics">${items.join('')}</div>` : '';
}

function findingsSection(a: ModelAnalysis, meta: ReportMeta = {}): string {
  const by = new Map<FindingKind, Finding[]>();
  for (const f of a.findings) { const l = by.get(f.kind) ?? []; l.push(f); by.set(f.kind, l); }
  const summary = FINDING_KINDS.map((k) => `<span class="tag">${TITLES[k]}: ${(by.get(k) ?? []).length}</span>`).join(' ');
  const parts = FINDING_KINDS.map((k) => {
    const fs = by.get(k) ?? [];
    const list = fs.length
      ? `<ul>${fs.map((f) => `<li data-kind="${k}">${escapeHtml(f.message)}${findingPictures(f, a, meta)}</li>`).join('')}</ul>`
      : '<p class="none">None found.</p>';
    return `<h3 id="finding-${k}">${TITLES[k]} (${fs.length})</h3><div class="rule"><b>Rule.</b> ${escapeHtml(a.rules[k])}</div>${list}`;
  });
  return `<h2 id="findings">Findings</h2><p>${summary}</p>${parts.join('')}`;
}

function classTable(a: ModelAnalysis): string {
  const rows = a.classStats.map((c) => {
    const protos = c.prototypes.map((p) => `<span class="tag">p${p.index} (${num(p.weight)})</span>`).join('') || '<span class="warn">none</span>';
    const modes = c.modes.length ? c.modes.map((m) => m.map((j) => `p${j}`).join('+')).join(' | ') : '–';
    const maxSep = c.separations.reduce((m, e) => (e.separation > m.separation ? e : m), { a: -1, b: -1, separation: -Infinity });
    const sepText = maxSep.a >= 0 ? `${num(maxSep.separation)} (p${maxSep.a}–p${maxSep.b})` : '–';
    const to = c.assignedTo.slice(0, 6).map((e) => `p${e.index}: ${e.count}`).join(', ') + (c.assignedTo.length > 6 ? ', …' : '');
    return `<tr><td>${lab(c.label)}</td><td>${c.count}</td><td>${pct(c.accuracy)}</td><td>${protos}</td><td>${modes}</td><td>${sepText}</td><td class="small">${to}</td></tr>`;
  });
  return `<table><tr><th>class</th><th>samples</th><th>accuracy</th><th>its prototypes (W weight)</th><th>modes</th><th>largest separation</th><th>best-matching prototype of its samples</th></tr>${rows.join('')}</table>`;
}

function thumbs(a: ModelAnalysis, p: PrototypeStats, meta: ReportMeta, short: (l: Label) => string): string {
  const t = meta.thumbnails ?? {};
  const items = p.nearest.map((s) => {
    const other = String(s.label) !== String(p.winningClass);
    const title = `#${s.index} ${String(s.label)} d=${num(s.distance)}${s.path ? ` ${s.path}` : ''}`;
    const img = t[s.index] ? `<img src="${t[s.index]}" alt="${escapeHtml(title)}" title="${escapeHtml(title)}">` : '';
    return img
      ? `<div class="thumb${other ? ' other' : ''}">${img}<span>${escapeHtml(short(s.label))} ${num(s.distance, 2)}</span></div>`
      : `<span class="tag"${other ? ' style="background:#fbe3e3"' : ''} title="${escapeHtml(title)}">#${s.index} ${lab(s.label)} (${num(s.distance)})</span>`;
  });
  return `<div class="thumbs">${items.join('')}</div>`;
}

function prototypeCards(a: ModelAnalysis, meta: ReportMeta): string {
  const names = displayLabels(a.classes, 11);
  const byText = new Map(a.classes.map((c, l) => [String(c), names[l]]));
  const short = (l: Label): string => byText.get(String(l)) ?? String(l);
  const flagged = new Map<number, string[]>();
  for (const f of a.findings) for (const j of f.prototypes ?? []) {
    if (f.kind === 'scattered-class') continue;
    const l = flagged.get(j) ?? []; l.push(TITLES[f.kind].replace(/s$/, '').replace(/Prototypes that capture/, 'captures')); flagged.set(j, l);
  }
  const cards = a.prototypes.map((p) => {
    // Links of at least 5 % of the strongest: L2 fits leave many tiny positive weights.
    const strong = p.links.filter((e) => p.links.length && e.weight >= 0.05 * p.links[0].weight);
    const links = strong.slice(0, 4).map((e) => `<span class="tag">${lab(e.label)} ${num(e.weight)}</span>`).join('') || '–';
    const vote = p.classProbabilities.slice(0, 3).map((e) => `${lab(e.label)} ${num(e.probability, 2)}`).join(', ');
    const cc = p.classCounts.slice(0, 4).map((e) => `${lab(e.label)}: ${e.count}`).join(', ') || '–';
    const lv = p.leadingVariances.length
      ? p.leadingVariances.map((v, k) => `${num(v)} (${pct(p.leadingVarianceRatio[k] ?? 0)})`).join(', ') + ` of total ${num(p.totalVariance)}`
      : '–';
    const flags = (flagged.get(p.index) ?? []).map((s) => `<span class="tag warn">${escapeHtml(s)}</span>`).join('');
    return `<div class="card" id="p${p.index}"><h3>p${p.index} → ${lab(p.winningClass)} ${flags}</h3>
<table class="small">
<tr><td>links (W &gt; 5% of the strongest)</td><td>${links}</td></tr>
<tr><td>vote softmax(W<sub>j</sub>)</td><td>${vote}</td></tr>
<tr><td>samples matched best</td><td>${p.count}${p.purity !== null ? ` (purity ${pct(p.purity)})` : ''}: ${cc}</td></tr>
<tr><td>distance of its samples</td><td>mean ${num(p.meanDistance)}, rms ${num(p.rmsDistance)}</td></tr>
<tr><td>leading variances</td><td>${lv}</td></tr>
</table>
<div class="small">Nearest training samples:</div>${thumbs(a, p, meta, short)}</div>`;
  });
  return `<div class="cards">${cards.join('\n')}</div>`;
}

function misclassifiedSection(a: ModelAnalysis, meta: ReportMeta, max = 60): string {
  const mis = a.samples.misclassified;
  if (!mis.length) return '<h2 id="misclassified">Misclassified samples</h2><p class="none">None: every sample gets its true class.</p>';
  const t = meta.thumbnails ?? {};
  const shown = mis.slice().sort((i, k) => a.samples.probability[k] - a.samples.probability[i]).slice(0, max);
  const rows = shown.map((i) => {
    const img = t[i] ? `<img src="${t[i]}" alt="sample ${i}" style="width:40px;height:40px;object-fit:contain">` : '';
    return `<tr><td>${i}</td><td>${img}</td><td>${lab(a.samples.labels[i])}</td><td>${lab(a.samples.predicted[i])}</td><td>${num(a.samples.probability[i])}</td><td>${num(a.samples.margin[i])}</td><td>p${a.samples.assignment[i]}</td></tr>`;
  });
  return `<h2 id="misclassified">Misclassified samples</h2><p>${mis.length} of ${a.samples.n}${mis.length > max ? `; the ${max} most confidently wrong are listed` : ''}. A decision is <i>ambiguous</i> when its margin (gap between the two most probable classes) is below ${num(a.options.ambiguityMargin)}.</p>
<table><tr><th>#</th><th></th><th>true</th><th>predicted</th><th>probability</th><th>margin</th><th>best prototype</th></tr>${rows.join('')}</table>`;
}

/**
 * The report as one HTML string. Pure: the same analysis, figures and meta give the same bytes.
 * @param figures - SVG text of Figure 1 and of the W heat map (see {@link renderFigures}).
 * @example
 * const html = renderReport(analysis, { modelFile: 'model.json' }, await renderFigures(analysis));
 */
export function renderReport(a: ModelAnalysis, meta: ReportMeta, figures: ReportFigures): string {
  const title = meta.title ?? 'protolens report';
  const notes = (meta.notes ?? []).map((n) => `<p>${escapeHtml(n)}</p>`).join('');
  const [r1, r2] = a.projection.explainedRatio;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="generator" content="protolens ${escapeHtml(meta.version ?? VERSION)}">
<title>${escapeHtml(title)}</title><style>${CSS}${meta.reconstructions || meta.adversarial ? LENS_CSS : ''}</style></head>
<body><main>
<h1>${escapeHtml(title)}</h1>
<p class="small">How a prototype model (Drumond, Viéville &amp; Alexandre, NIPS 2017 workshop) organises this feature space with respect to the classes. Rules and formulas: <code>docs/interpretation.md</code>.</p>
${metaTable(a, meta)}
${notes}
<p><a href="#figure1">Figure 1</a>${a.metricProjection ? ' · <a href="#figure1-metric">in the learned metric</a>' : ''} · <a href="#findings">Findings</a> · <a href="#weights">W and class composition</a> · <a href="#prototypes">Prototypes</a>${meta.reconstructions?.length ? ' · <a href="#reconstructions">What the prototypes look like</a>' : ''} · <a href="#misclassified">Misclassified</a>${meta.adversarial ? ' · <a href="#adversarial">Adversarial reading</a>' : ''}${meta.calibration ? ' · <a href="#calibration">Calibration and rejection</a>' : ''}</p>
<h2 id="figure1">Figure 1: the feature space seen from its first two principal axes</h2>
<div class="fig">${figures.figure1}</div>
<p class="small">The two axes carry ${pct(r1)} and ${pct(r2)} of the total variance. Points close in this plane can be far apart in the ${a.model.nFeatures}-dimensional space, and prototypes that look mixed in with another class may be apart along the other axes: trust the findings below, which are computed in the full space.</p>
${metricFigure(a, figures)}
${findingsSection(a, meta)}
<h2 id="weights">W and the composition of each class</h2>
<div class="fig">${figures.weights}</div>
${classTable(a)}
<h2 id="prototypes">Prototypes</h2>
<p class="small">Each prototype is described as the centre of a Gaussian neighbourhood: the samples it matches best (largest q<sub>j</sub>), their mean distance to it, and the leading variances of their PCA (second-order description). Thumbnails: its nearest training samples, red when their class is not the prototype's.</p>
${prototypeCards(a, meta)}
${reconstructionSection(a, meta.reconstructions ?? [], meta.thumbnails)}
${misclassifiedSection(a, meta)}
${meta.adversarial ? adversarialSection(meta.adversarial, figures.crossing ?? [], a) : ''}
${calibrationSection(meta, figures)}
<p class="small" style="margin-top:32px">Made by protolens ${escapeHtml(meta.version ?? VERSION)}${a.model.seed !== null ? `, model seed ${escapeHtml(a.model.seed)}` : ''}, analysis seed ${a.options.seed}.</p>
</main></body></html>
`;
}

/** The map in the learned metric (models with one): Figure 1 again, on the principal axes of the samples mapped by Ω. */
function metricFigure(a: ModelAnalysis, figures: ReportFigures): string {
  const m = a.metricProjection;
  if (!m || !figures.figure1Metric) return '';
  const [r1, r2] = m.explainedRatio;
  return `<h2 id="figure1-metric">Figure 1 in the learned metric</h2>
<div class="fig">${figures.figure1Metric}</div>
<p class="small">The same samples and prototypes as the model measures them: mapped by its ${m.metric === 'lowrank' ? 'learned linear map Ω' : 'learned per-feature scaling ω'} (started from shrinkage-LDA whitening of the within-class scatter, docs/model.md), then projected on their first two principal axes (${pct(r1)} and ${pct(r2)} of the variance). Distances in the findings and prototype cards are in this metric.</p>`;
}

/** The calibration of the model (docs/openset.md): temperature, ECE before and after, the reliability diagram and the rejection rule. */
function calibrationSection(meta: ReportMeta, figures: ReportFigures): string {
  const c = meta.calibration;
  if (!c) return '';
  const r = c.rejection;
  return `<h2 id="calibration">Calibration and rejection</h2>
<p>Fitted on ${escapeHtml(c.source)}: the class layer's probabilities are softmax(z / T) with T = ${num(c.temperature)}${c.margin ? ` · (m / ${num(c.margin.reference)})<sup>${num(c.margin.exponent)}</sup>, m the sample's margin between its two largest logits` : ''} (temperature scaling; no label changes). Expected calibration error of the ${c.heldOut} held-out samples: ${num(c.ece.before)} before, ${num(c.ece.after)} after; negative log-likelihood ${num(c.nll.before)} → ${num(c.nll.after)}.</p>
${figures.reliability ? `<div class="fig">${figures.reliability}</div>` : ''}
<p>Rejection: a sample whose ${escapeHtml(r.score)} novelty exceeds ${num(r.threshold, 4)} is answered <i>unknown</i>, with its nearest prototypes. The threshold was chosen to reject ${pct(r.targetFalseRejection)} of held-out samples of the known classes (it rejects ${pct(r.heldOutFalseRejection)} of the ${r.heldOut}).</p>`;
}

/** Figure specs and their SVG. */
export interface RenderedFigures extends ReportFigures {
  specs: { figure1: VegaLiteSpec; weights: VegaLiteSpec; figure1Metric?: VegaLiteSpec };
}

/**
 * The picture of each prototype for Figure 1 and the findings: its nearest training image when
 * the thumbnails have it (what a reader recognises at 30 pixels), else its reconstruction
 * ({@link choosePictures}, shared with the explorer's map).
 * @example
 * prototypePictures(analysis, meta) // { pictures: { 0: 'data:image/png;base64,…', … }, are: 'its nearest training image' }
 */
export function prototypePictures(a: ModelAnalysis, meta: Pick<ReportMeta, 'thumbnails' | 'reconstructions'>): { pictures: Record<number, string>; are: string } {
  const t = meta.thumbnails ?? {};
  const recs = new Map((meta.reconstructions ?? []).map((r) => [r.prototype, r.image]));
  const { pictures, are } = choosePictures(a.prototypes.map((p) => ({ index: p.index, nearest: p.nearest[0]?.index })), { sample: (i) => t[i], reconstruction: (j) => recs.get(j) });
  return { pictures, are };
}

/**
 * Renders the figures of a report to SVG (Figure 1 twice when the model has a learned metric).
 * @param pictures - a picture per prototype, drawn on Figure 1 instead of its diamond ({@link prototypePictures}).
 */
export async function renderFigures(a: ModelAnalysis, pictures?: { pictures: Record<number, string>; are: string }): Promise<RenderedFigures> {
  const pics = pictures ? { pictures: pictures.pictures, picturesAre: pictures.are } : {};
  const specs: RenderedFigures['specs'] = { figure1: figure1Spec(a, pics), weights: weightsSpec(a) };
  if (a.metricProjection) {
    specs.figure1Metric = figure1Spec(a, { ...pics, projection: a.metricProjection, title: 'Figure 1 in the learned metric — samples and prototypes mapped by Ω, first two principal axes' });
  }
  const [figure1, weights, figure1Metric] = await Promise.all([renderSvg(specs.figure1), renderSvg(specs.weights), specs.figure1Metric ? renderSvg(specs.figure1Metric) : undefined]);
  return { figure1, weights, specs, ...(figure1Metric ? { figure1Metric } : {}) };
}
