/**
 * The report's sections that look through the CNN: what each prototype looks like (its
 * reconstruction beside its nearest real images) and the adversarial reading (the crossing-budget
 * figure per class pair, and whether small margins are crossed by small perturbations). Pure and
 * browser-safe: plain JSON in (lens.node.ts computes it), HTML and Vega-Lite specs out.
 */
import type { Label } from '../model/types.ts';
import type { Crossing, CrossingStats } from '../interpret/adversarial.ts';
import type { ModelAnalysis } from '../interpret/types.ts';
import { displayLabels, type VegaLiteSpec } from './specs.ts';

/** One prototype's reconstruction, as the report shows it. */
export interface LensReconstruction {
  prototype: number;
  winningClass: Label;
  q: number;
  sqDistance: number;
  reached: boolean;
  qTarget: number;
  bestPrototype: number;
  predicted: Label;
  steps: number;
  seconds: number;
  seed: number;
  /** Grey level of the start image (the data's background when the images were known). */
  start: number;
  width: number;
  height: number;
  /** PNG data URI. */
  image: string;
}

/** One crossing of a sample, as the report shows it: the perturbed image as a PNG data URI (null when none was found), without δ. */
export type LensCrossing = Omit<Crossing, 'perturbation' | 'perturbed'> & { perturbed: string | null };

/** The adversarial reading of a few samples, as the report shows it. */
export interface LensAdversarial {
  /** Side of the perturbed images, and their channels. */
  side: number;
  channels: 1 | 3;
  seed: number;
  seconds: number;
  options: { steps: number; tolerance: number };
  samples: Array<{
    index: number; label: Label; prototype: number; predicted: Label; margin: number; ambiguous: boolean;
    /** PNG data URI of the image as perturbed (before). */
    image: string;
    crossings: LensCrossing[];
  }>;
  stats: CrossingStats[];
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (v: number | null | undefined, d = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Number(v.toPrecision(d)).toString());

/** CSS of the sections (added to the report's). */
export const LENS_CSS = `
.recs{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px}
.rec{display:flex;gap:8px;align-items:flex-start;border:1px solid #ddd;border-radius:6px;padding:6px}
.rec .self{display:flex;flex-direction:column;align-items:center;font-size:10px;width:72px}
.rec .self img{width:64px;height:64px;image-rendering:pixelated;border:2px solid #333;background:#fff}
.rec.missed .self img{border-color:#d62728}
.rec .pic{width:68px}.rec .pic img{width:64px;height:64px}
.adv td img{width:48px;height:48px;image-rendering:pixelated;border:1px solid #999}
`;

/**
 * The section "What the prototypes look like": each reconstruction with its q_j and distance,
 * beside the prototype's nearest real images (thumbnails by sample index), and which did not reach
 * their target.
 * @example
 * reconstructionSection(analysis, recs, thumbnails) // '<h2 id="reconstructions">…'
 */
export function reconstructionSection(a: ModelAnalysis, recs: readonly LensReconstruction[], thumbnails: Record<number, string> = {}): string {
  if (!recs.length) return '';
  const missed = recs.filter((r) => !r.reached);
  const target = recs[0].qTarget;
  const shown = displayLabels(a.classes, 14);
  const nameOf = new Map(a.classes.map((c, l) => [String(c), shown[l]]));
  const items = recs.map((r) => {
    const p = a.prototypes[r.prototype];
    const near = (p?.nearest ?? []).slice(0, 6).map((s) => thumbnails[s.index]
      ? `<div class="pic"><img src="${thumbnails[s.index]}" alt="sample ${s.index}" title="#${s.index} ${esc(s.label)} d=${num(s.distance)}"><span>${esc(nameOf.get(String(s.label)) ?? s.label)} ${num(s.distance, 2)}</span></div>`
      : `<span class="tag">#${s.index} ${esc(s.label)}</span>`).join('');
    const verdict = r.reached ? `q<sub>j</sub> ${num(r.q)}` : `<span class="warn">q<sub>j</sub> ${num(r.q)} &lt; ${target}: not reached</span>`;
    const moved = r.bestPrototype !== r.prototype ? ` <span class="warn">(best match p${r.bestPrototype}, class ${esc(r.predicted)})</span>` : '';
    return `<div class="rec${r.reached ? '' : ' missed'}" id="rec-p${r.prototype}"><div class="self"><img src="${r.image}" alt="reconstruction of p${r.prototype}" title="p${r.prototype}: q=${num(r.q)}, d²=${num(r.sqDistance)}"><b>p${r.prototype} → ${esc(nameOf.get(String(r.winningClass)) ?? r.winningClass)}</b><span>${verdict}</span><span>d² ${num(r.sqDistance)}${moved}</span></div><div><div class="small">nearest training images</div><div class="pics">${near}</div></div></div>`;
  });
  const secs = recs.reduce((s, r) => s + r.seconds, 0);
  return `<h2 id="reconstructions">What the prototypes look like</h2>
<p>For each prototype p<sub>j</sub>, an image x* found by gradient steps on the pixels from a blank image (grey level ${num(recs[0].start, 2)}${recs[0].start === 0.5 ? '' : ', the background of the data\'s images'}) so that its CNN feature lands on p<sub>j</sub> (minimising ‖f(x) − p<sub>j</sub>‖² in the model's metric, with total variation, jitter and blur as image priors; docs/interpretation.md, "Reconstructions"), beside the prototype's nearest training images. q<sub>j</sub> and d² are measured on the 8-bit image shown, through the same extraction path as the features.
<b>${recs.length - missed.length} of ${recs.length}</b> reconstructions reach q<sub>j</sub> ≥ ${target}${missed.length ? `; <span class="warn">these do not: ${missed.map((r) => `p${r.prototype} (${num(r.q, 2)})`).join(', ')}</span>` : ''}. ${recs[0].steps} steps each, seed ${recs[0].seed}, ${num(secs, 2)} s in all.</p>
<div class="recs">${items.join('\n')}</div>`;
}

/**
 * The crossing-budget figure: for one norm and target, a heat map of the median budget that takes
 * a sample of the row's class to the column's class (counts as text).
 * @example
 * crossingSpec(stats.find((s) => s.norm === 'l2' && s.target === 'class')!, analysis.classes)
 */
export function crossingSpec(s: CrossingStats, classes: readonly Label[]): VegaLiteSpec {
  const shown = displayLabels(classes, 14);
  const nameOf = new Map(classes.map((c, l) => [String(c), shown[l]]));
  const values = s.pairs.map((p) => ({
    from: nameOf.get(String(p.from)) ?? String(p.from), to: nameOf.get(String(p.to)) ?? String(p.to), median: p.median, count: p.count,
    cell: `pair ${String(p.from)} → ${String(p.to)}: median ${p.median.toPrecision(3)}, ${p.count} samples`,
  }));
  const used = shown.filter((c) => values.some((v) => v.from === c || v.to === c));
  const cell = used.length > 30 ? 12 : 22;
  const lo = Math.min(...values.map((v) => v.median)), hi = Math.max(...values.map((v) => v.median));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Crossing budget per class pair (${s.norm === 'l2' ? 'L2' : 'L∞'}, ${s.target === 'class' ? 'class changes' : 'best prototype changes, to its winning class'})`,
      subtitle: `Median ‖δ‖ of the smallest perturbation found, from the sample's class (row) to where it goes (column); number: samples. ${s.found} of ${s.n} samples crossed.`,
      anchor: 'start', subtitleFontSize: 11,
    },
    data: { values },
    width: Math.max(120, used.length * cell), height: Math.max(100, used.length * cell),
    encoding: {
      x: { field: 'to', type: 'nominal', scale: { domain: used }, title: 'moves to', axis: { labelAngle: -50 } },
      y: { field: 'from', type: 'nominal', scale: { domain: used }, title: 'from (predicted class)' },
    },
    layer: [
      { mark: { type: 'rect' }, encoding: { color: { field: 'median', type: 'quantitative', title: 'median ‖δ‖', scale: { scheme: 'viridis', reverse: true } }, description: { field: 'cell' } } },
      {
        mark: { type: 'text', fontSize: 9 },
        // Dark text on the light (small-budget) end of the scale.
        encoding: { text: { field: 'count', type: 'quantitative' }, color: { condition: { test: `datum.median < ${(lo + hi) / 2}`, value: 'black' }, value: 'white' } },
      },
    ],
  };
}

function statsRows(adv: LensAdversarial): string {
  return adv.stats.map((s) => {
    const m = s.margin, am = s.ambiguous;
    return `<tr><td>${s.norm === 'l2' ? 'L2' : 'L∞'}</td><td>${s.target}</td><td>${s.found} of ${s.n}</td><td>${num(s.medianBudget)}</td>` +
      `<td><b>ρ = ${num(m.rho, 2)}</b> (p = ${num(m.p, 2)}, n = ${m.n})</td>` +
      `<td>${am.count} ambiguous: median ${num(am.medianAmbiguous)} against ${num(am.medianOther)}; ρ = ${num(am.rho, 2)} (p = ${num(am.p, 2)})</td></tr>`;
  }).join('');
}

function exampleRows(adv: LensAdversarial, max = 12): string {
  return adv.samples.slice(0, max).map((s) => {
    const cells = adv.stats.map((st) => {
      const c = s.crossings.find((x) => x.norm === st.norm && x.target === st.target);
      if (!c) return '<td></td>';
      if (!c.found || !c.perturbed) return `<td class="small">none up to ${num(c.budget)}</td>`;
      const to = st.target === 'class' ? esc(c.toClass) : `p${c.toPrototype}`;
      return `<td><img src="${c.perturbed}" alt="perturbed sample ${s.index}"><div class="small">‖δ‖ ${num(c.budget)} → ${to}${c.crossesAt8Bit === false ? ' <span class="warn">(not at 8 bits)</span>' : ''}</div></td>`;
    }).join('');
    return `<tr><td><img src="${s.image}" alt="sample ${s.index}"><div class="small">#${s.index} ${esc(s.label)}</div></td><td class="small">${esc(s.predicted)} via p${s.prototype}, margin ${num(s.margin, 2)}${s.ambiguous ? ' <span class="warn">ambiguous</span>' : ''}</td>${cells}</tr>`;
  }).join('');
}

/** Budgets of the samples whose best prototype a finding flags as ambiguous, against the others. */
function flaggedLine(adv: LensAdversarial, a: ModelAnalysis): string {
  const flagged = new Set(a.findings.filter((f) => f.kind === 'ambiguous-prototype').flatMap((f) => f.prototypes ?? []));
  const median = (v: number[]): number | null => { const s = v.slice().sort((x, y) => x - y); return s.length ? (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null; };
  const inFlagged = adv.samples.filter((s) => flagged.has(s.prototype));
  if (!flagged.size) return '<p class="small">No prototype is flagged ambiguous by the findings, so budgets cannot be compared by that flag.</p>';
  const parts = adv.stats.map((st) => {
    const b = (ss: typeof adv.samples) => ss.map((s) => s.crossings.find((c) => c.norm === st.norm && c.target === st.target)?.budget).filter((v): v is number => v !== undefined);
    return `${st.norm === 'l2' ? 'L2' : 'L∞'} ${st.target}: median ${num(median(b(inFlagged)))} against ${num(median(b(adv.samples.filter((s) => !flagged.has(s.prototype)))))}`;
  });
  return `<p class="small">Samples whose best prototype the findings flag ambiguous (${[...flagged].map((j) => `p${j}`).join(', ')}): ${inFlagged.length} of ${adv.samples.length}. ${inFlagged.length ? parts.join('; ') + '.' : ''}</p>`;
}

/**
 * The section "Adversarial reading": the statistics per norm and target (median budget, Spearman's
 * ρ of the decision margin against the budget, the ambiguous decisions against the others), the
 * crossing-budget figures, and before/after images of the first samples.
 * @param figures - SVG of {@link crossingSpec} for the statistics of class changes, in the order of `adv.stats`.
 * @example
 * adversarialSection(adv, svgs) // '<h2 id="adversarial">…'
 */
export function adversarialSection(adv: LensAdversarial, figures: readonly string[], a?: ModelAnalysis): string {
  const heads = adv.stats.map((s) => `<th>${s.norm === 'l2' ? 'L2' : 'L∞'}, ${s.target}</th>`).join('');
  return `<h2 id="adversarial">Adversarial reading</h2>
<p>For ${adv.samples.length} samples spread over the classes (seed ${adv.seed}), the smallest perturbation δ found that changes the sample's best prototype, and the smallest that changes its class, in L2 and L∞ on the ${adv.side}×${adv.side} image (pixel values in [0, 1]): linearised steps to bracket it, then a binary search on the budget with PGD (${adv.options.steps} steps per budget, tolerance ${adv.options.tolerance}); docs/interpretation.md, "Adversarial reading". A budget is the norm of a perturbation that does cross: an upper bound on the smallest one. The paper's intuition is that ambiguous decisions are fragile: then the margin and the budget rise together (ρ &gt; 0) and ambiguous decisions need smaller budgets. ${num(adv.seconds, 3)} s in all.</p>
<table><tr><th>norm</th><th>target</th><th>crossed</th><th>median budget</th><th>margin against budget (Spearman)</th><th>ambiguous decisions (margin &lt; threshold)</th></tr>${statsRows(adv)}</table>
${a ? flaggedLine(adv, a) : ''}
${figures.map((f) => `<div class="fig">${f}</div>`).join('\n')}
<h3>Before and after</h3>
<table class="adv"><tr><th>sample</th><th>decision</th>${heads}</tr>${exampleRows(adv)}</table>`;
}
