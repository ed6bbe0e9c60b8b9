/**
 * An {@link Evaluation} for people: the confusion matrix as a Vega-Lite heat map, the tables as
 * Markdown, and the report as one self-contained HTML page (no script, no network). Pure and
 * browser-safe; src/viz/evaluate.node.ts renders the figures and writes the files.
 */
import type { Label } from '../model/types.ts';
import type { ClassifierEvaluation, Evaluation } from '../select/evaluate.ts';
import { displayLabels, type VegaLiteSpec } from './specs.ts';
import { escapeHtml } from './report.ts';

/** The split in words: "stratified 5-fold cross-validation, seed 0" or "stratified 25 % test split, seed 0". */
export function describeSplit(e: Pick<Evaluation, 'split' | 'seed'>): string {
  return e.split.kind === 'folds'
    ? `stratified ${e.split.folds}-fold cross-validation (every sample scored once, by a model that never saw it), seed ${e.seed}`
    : `stratified ${Math.round(100 * e.split.testSize)} % test split, seed ${e.seed}`;
}

/**
 * The confusion matrix of one classifier as a heat map: true class down, predicted class across,
 * each cell's count written in it, colour by the share of its row (the recall of the true class on
 * the diagonal).
 * @example
 * confusionSpec(evaluation, 0).layer // [rect marks, text marks]
 */
export function confusionSpec(e: Evaluation, which: number, options: { cell?: number } = {}): VegaLiteSpec {
  const c = e.classifiers[which];
  const names = displayLabels(e.classes);
  const values: Array<{ truth: string; predicted: string; count: number; share: number }> = [];
  c.confusion.forEach((row, t) => {
    const n = row.reduce((s, v) => s + v, 0);
    row.forEach((count, p) => values.push({ truth: names[t], predicted: names[p], count, share: n ? count / n : 0 }));
  });
  const size = Math.max(12, Math.min(options.cell ?? 36, Math.floor(600 / Math.max(1, e.classes.length))));
  const axis = (title: string) => ({ field: title === 'true class' ? 'truth' : 'predicted', type: 'ordinal', sort: names, title });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${c.name}: confusion matrix (accuracy ${(100 * c.accuracy).toFixed(1)} %)`,
    width: size * e.classes.length, height: size * e.classes.length,
    data: { values },
    encoding: { y: axis('true class'), x: axis('predicted class') },
    layer: [
      { mark: { type: 'rect', tooltip: true }, encoding: { color: { field: 'share', type: 'quantitative', title: 'share of the row', scale: { scheme: 'blues', domain: [0, 1] } } } },
      ...(e.classes.length <= 30 ? [{
        mark: { type: 'text', fontSize: Math.min(12, size / 2.5) },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      }] : []),
    ],
    config: { view: { stroke: null }, axis: { labelLimit: 140 } },
  };
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}`;

/** The accuracy table (one row per classifier) and the per-class table of each classifier, in Markdown. */
export function evaluationMarkdown(e: Evaluation, title = 'Evaluation'): string {
  const lines = [`# ${title}`, '', `${e.samples} samples, ${e.classes.length} classes, ${e.scored} scored; ${describeSplit(e)}.`, '',
    '| classifier | accuracy (%) | macro precision (%) | macro recall (%) | macro F1 (%) | per fold (%) | fit time (s) |', '|---|---|---|---|---|---|---|'];
  for (const c of e.classifiers) {
    lines.push(`| ${c.name} | ${pct(c.accuracy)} | ${pct(c.macro.precision)} | ${pct(c.macro.recall)} | ${pct(c.macro.f1)} | ${c.foldAccuracy.map(pct).join(', ')} | ${c.fitSeconds.toFixed(2)} |`);
  }
  for (const c of e.classifiers) lines.push('', `## ${c.name}: per class`, '', ...perClassTable(c));
  return lines.join('\n') + '\n';
}

function perClassTable(c: ClassifierEvaluation): string[] {
  return ['| class | precision (%) | recall (%) | F1 (%) | support |', '|---|---|---|---|---|',
    ...c.perClass.map((m) => `| ${String(m.label).replace(/\|/g, '\\|')} | ${pct(m.precision)} | ${pct(m.recall)} | ${pct(m.f1)} | ${m.support} |`)];
}

/** What the HTML page names besides the evaluation. */
export interface EvaluationMeta {
  title?: string;
  /** The features' file. */
  dataFile?: string;
  /** The feature transform every classifier was fitted behind. */
  preprocess?: string;
  /** The command that made it. */
  command?: string;
  /** "protolens X.Y.Z". */
  library?: string;
}

/**
 * The report page: the summary table, each classifier's per-class table and its confusion matrix
 * (the SVGs given, in the classifiers' order), and what made it.
 */
export function evaluationHtml(e: Evaluation, meta: EvaluationMeta, confusionSvgs: readonly string[]): string {
  const row = (cells: unknown[], tag = 'td') => `<tr>${cells.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  const summary = [row(['classifier', 'accuracy (%)', 'macro precision (%)', 'macro recall (%)', 'macro F1 (%)', 'per fold (%)', 'fit time (s)'], 'th'),
    ...e.classifiers.map((c) => row([c.name, pct(c.accuracy), pct(c.macro.precision), pct(c.macro.recall), pct(c.macro.f1), c.foldAccuracy.map(pct).join(', '), c.fitSeconds.toFixed(2)]))];
  const sections = e.classifiers.map((c, i) => `<section><h2>${escapeHtml(c.name)}</h2>
<div class="fig">${confusionSvgs[i] ?? ''}</div>
<table>${row(['class', 'precision (%)', 'recall (%)', 'F1 (%)', 'support'], 'th')}${c.perClass.map((m) => row([m.label as Label, pct(m.precision), pct(m.recall), pct(m.f1), m.support])).join('')}</table>
<p class="params">settings: <code>${escapeHtml(JSON.stringify(c.params))}</code></p></section>`);
  const about = [['data', meta.dataFile ?? '—'], ['samples', `${e.samples} (${e.classes.length} classes), ${e.scored} scored`], ['split', describeSplit(e)],
    ['feature preprocessing', meta.preprocess ?? 'none'], ['command', meta.command ?? '—'], ['made by', meta.library ?? 'protolens']];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(meta.title ?? 'Evaluation')}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.fig svg{max-width:100%;height:auto}.params{color:#555}</style>
</head><body><h1>${escapeHtml(meta.title ?? 'Evaluation')}</h1>
<table>${about.map(([k, v]) => row([k, v])).join('')}</table>
<h2>Summary</h2><table>${summary.join('')}</table>
${sections.join('\n')}
</body></html>
`;
}
