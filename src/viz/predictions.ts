/**
 * Predictions as people and programs read them: CSV with a header, JSON, or text with the
 * explanations spelled out. What `protolens predict` prints or writes with `-o`.
 *
 * CSV columns, in this order: `index`, `path` (empty when unknown), `label` (the predicted
 * class), `probability` (its probability), `truth` (when the features are labelled), then with
 * explanations `margin`, `ambiguous` (true/false) and `prototypes` (the matching prototypes as
 * `p<j>:<q_j>` separated by spaces), then, when the model has a rejection rule (docs/openset.md),
 * `unknown` (true/false), `novelty` and `novelty_reason`. Fields are quoted per RFC 4180 when they hold a comma, a
 * quote or a line break. JSON: `{ "format": "protolens-predictions", "version": 1, model, input,
 * accuracy, note, predictions: [...] }`.
 *
 * Browser-safe: strings in, strings out.
 */
import type { Explanation } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';

/** One prediction. */
export interface PredictionRow {
  index: number;
  /** Where the sample came from (an image path), when known. */
  path?: string;
  label: Label;
  /** Probability of `label`. */
  probability: number;
  /** The true class, when the input is labelled. */
  truth?: Label;
  /** Why (prototype models, when asked). */
  explanation?: Explanation;
  /** With a rejection rule: true when the sample is beyond the threshold (the answer is "unknown"; `label` is the nearest class). */
  unknown?: boolean;
  /** With a rejection rule: the novelty score, and the verdict's reason in words. */
  novelty?: number;
  noveltyReason?: string;
}

/** The predictions of a model on one input, with the figures that summarise them. */
export interface PredictionResult {
  /** The model file. */
  model: string;
  /** What was predicted on: a feature file, or images (with the backbone that embedded them). */
  input: { features?: string; images?: { root: string; count: number; backbone: string; computed: number; cached: number; skipped: Array<{ path: string; reason: string }> } };
  rows: PredictionRow[];
  /** Accuracy against the input's labels, or null (unlabelled, or labels the model does not know). */
  accuracy: number | null;
  /** Why the accuracy is missing, when the input is labelled. */
  note: string | null;
  /** With a rejection rule: how many samples were answered "unknown" (absent otherwise). */
  answeredUnknown?: number;
}

/** Format name and version of the JSON written by {@link predictionsJson}. */
export const PREDICTIONS_FORMAT = 'protolens-predictions';

/** The CSV header {@link predictionsCsv} writes (with and without truth and explanations). */
export function predictionsCsvHeader(truth: boolean, explain: boolean, open = false): string {
  return ['index', 'path', 'label', 'probability', ...(truth ? ['truth'] : []), ...(explain ? ['margin', 'ambiguous', 'prototypes'] : []),
    ...(open ? ['unknown', 'novelty', 'novelty_reason'] : [])].join(',');
}

/** A CSV field, quoted when it must be (RFC 4180). */
export function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The predictions as CSV with a header (see the module comment for the columns).
 * @example
 * predictionsCsv({ model: 'm.json', input: {}, accuracy: null, note: null, rows: [{ index: 0, path: 'a, b.png', label: 'cat', probability: 0.91 }] })
 * // 'index,path,label,probability\n0,"a, b.png",cat,0.910000\n'
 */
export function predictionsCsv(r: PredictionResult): string {
  const truth = r.rows.some((p) => p.truth !== undefined);
  const explain = r.rows.some((p) => p.explanation);
  const open = r.rows.some((p) => p.unknown !== undefined);
  const lines = [predictionsCsvHeader(truth, explain, open)];
  for (const p of r.rows) {
    const f: unknown[] = [p.index, p.path ?? '', p.label, p.probability.toFixed(6)];
    if (truth) f.push(p.truth ?? '');
    if (explain) {
      const e = p.explanation;
      f.push(e ? e.margin.toFixed(6) : '', e ? String(e.ambiguous) : '', e ? e.prototypes.map((q) => `p${q.index}:${q.q.toFixed(4)}`).join(' ') : '');
    }
    if (open) f.push(p.unknown === undefined ? '' : String(p.unknown), p.novelty?.toPrecision(6) ?? '', p.noveltyReason ?? '');
    lines.push(f.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

/** The predictions as JSON (see the module comment). */
export function predictionsJson(r: PredictionResult): string {
  const { rows, ...rest } = r;
  return JSON.stringify({ format: PREDICTIONS_FORMAT, version: 1, ...rest, predictions: rows }, null, 1) + '\n';
}

const f3 = (v: number): string => v.toFixed(3);

/** One explanation as text lines: the class and why. */
export function explanationText(i: number, e: Explanation, truth?: Label, path?: string): string {
  const lines = [
    `#${i}${path ? ` ${path}` : ''}: ${e.unknown ? `UNKNOWN (nearest class ${String(e.label)})` : String(e.label)} (p = ${f3(e.probability)})` +
    `${truth !== undefined ? `, true ${String(truth)}${String(truth) === String(e.label) ? '' : ' ✗'}` : ''}` +
    `; margin ${f3(e.margin)}${e.ambiguous ? ' — AMBIGUOUS' : ''}`,
    `    next: ${e.probabilities.slice(1, 3).map((c) => `${String(c.label)} ${f3(c.probability)}`).join(', ') || '–'}`,
  ];
  // The verdict of the model's rejection rule, when it has one.
  if (e.novelty && e.novelty.threshold !== null) lines.push(`    novelty (${e.novelty.kind}): ${e.novelty.reason}`);
  for (const p of e.prototypes) {
    const links = p.links.slice(0, 3).map((l) => `${String(l.label)} ${l.weight.toFixed(2)}`).join(', ') || 'no positive link';
    lines.push(`    p${p.index} q=${f3(p.q)} d=${Math.sqrt(p.sqDistance).toPrecision(4)} → ${String(p.winningClass)} [links: ${links}]`);
  }
  return lines.join('\n');
}

/** The predictions as text: one line per sample (index, path, label, probability, truth), or the explanations; then the accuracy. */
export function predictionsText(r: PredictionResult): string {
  const out: string[] = [];
  for (const p of r.rows) {
    out.push(p.explanation
      ? explanationText(p.index, p.explanation, p.truth, p.path)
      : `${p.index}\t${p.path ?? ''}\t${p.unknown ? `unknown (nearest class ${String(p.label)}: ${p.noveltyReason})` : String(p.label)}\t${f3(p.probability)}${p.truth !== undefined ? `\t${String(p.truth)}` : ''}`);
  }
  const rejected = r.answeredUnknown ?? 0;
  if (r.accuracy !== null) out.push(`accuracy ${f3(r.accuracy)} on ${r.rows.length} samples${rejected ? ' (each given its nearest class)' : ''}`);
  if (rejected) out.push(`${rejected} of ${r.rows.length} answered unknown: novelty beyond the model's threshold`);
  if (r.note) out.push(r.note);
  return out.join('\n') + '\n';
}
