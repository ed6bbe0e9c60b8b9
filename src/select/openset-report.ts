/**
 * The open-set benchmark's Markdown report: one row per score, AUROC and FPR at 95 % TPR against
 * unknowns of the same groups and of unseen groups, mean ± std over the splits; the default score
 * against the maximum softmax probability and the best distance baseline (paired t-tests over the
 * same splits); closed-set accuracy; what the stored threshold does on the test samples.
 * Browser-safe.
 */
import { DEFAULT_NOVELTY_SCORE } from '../model/novelty.ts';
import { OPENSET_INFO, rowKey, rowName, type OpenSetResult, type OpenSetRow, type RowOutcome } from './openset.ts';
import { pairedTTest } from './stats.ts';
import { fmtP } from './fewshot-report.ts';

/** The row the library answers "unknown" with: the learned-metric model's default score. */
export const DEFAULT_ROW: OpenSetRow = { model: 'metric', score: DEFAULT_NOVELTY_SCORE };

const pm = (s: { mean: number; std: number }, digits = 3): string => `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
const pct = (s: { mean: number; std: number }): string => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)} %`;

type Kind = 'same' | 'unseen';

/** The score rows' table. */
export function separationTable(r: OpenSetResult): string {
  const kinds: Kind[] = r.grouped ? ['same', 'unseen'] : ['same'];
  const title: Record<Kind, string> = { same: r.grouped ? 'unknown classes, same groups' : 'unknown classes', unseen: 'unseen groups' };
  const head = ['score (larger = more novel)', ...kinds.flatMap((k) => [`AUROC, ${title[k]}`, `FPR at 95 % TPR, ${title[k]}`])];
  const lines = [`| ${head.join(' | ')} |`, `|---|${kinds.map(() => '---:|---:').join('|')}|`];
  const best: Record<Kind, number> = { same: -Infinity, unseen: -Infinity };
  for (const row of r.rows) for (const k of kinds) best[k] = Math.max(best[k], r.summary.rows[rowKey(row)][k]?.auroc.mean ?? -Infinity);
  for (const row of r.rows) {
    const s = r.summary.rows[rowKey(row)];
    const cells = kinds.flatMap((k) => {
      const v = s[k]!;
      const a = pm(v.auroc);
      return [v.auroc.mean.toFixed(3) === best[k].toFixed(3) ? `**${a}**` : a, pm(v.fpr95)];
    });
    const isDefault = rowKey(row) === rowKey(DEFAULT_ROW);
    lines.push(`| ${rowName(row)}${isDefault ? ' — **default**' : ''} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Paired differences in AUROC of the default row against the MSP and the best distance baseline. */
export function comparisonTable(r: OpenSetResult): string {
  const kinds: Kind[] = r.grouped ? ['same', 'unseen'] : ['same'];
  const keys = new Set(r.rows.map(rowKey));
  if (!keys.has(rowKey(DEFAULT_ROW))) return '';
  const per = (key: string, k: Kind) => r.splits.map((s) => (s.rows[key] as RowOutcome)[k]!.auroc);
  const distance = r.rows.filter((x) => x.score === 'distance' && OPENSET_INFO[x.model].role === 'baseline').map(rowKey);
  const lines = ['| default score against | ' + kinds.map((k) => `ΔAUROC, ${k === 'same' ? (r.grouped ? 'same groups' : 'unknown classes') : 'unseen groups'}`).join(' | ') + ' |', `|---|${kinds.map(() => '---:').join('|')}|`];
  const vs = (name: string, pick: (k: Kind) => string | null) => {
    const cells = kinds.map((k) => {
      const other = pick(k);
      if (!other) return '—';
      const t = pairedTTest(per(rowKey(DEFAULT_ROW), k), per(other, k));
      return `${t.meanDiff >= 0 ? '+' : '−'}${Math.abs(t.meanDiff).toFixed(3)} (p = ${fmtP(t.p)})`;
    });
    lines.push(`| ${name} | ${cells.join(' | ')} |`);
  };
  if (keys.has('softmax/msp')) vs('max. softmax probability (softmax, L2)', () => 'softmax/msp');
  if (distance.length) {
    vs('best distance baseline (per column)', (k) => distance.reduce((a, b) => (r.summary.rows[b][k]!.auroc.mean > r.summary.rows[a][k]!.auroc.mean ? b : a)));
  }
  return lines.join('\n');
}

/** Closed-set accuracy and the stored threshold's effect. */
export function thresholdTable(r: OpenSetResult): string {
  const lines = ['| model | closed-set accuracy on known queries | known queries answered "unknown" | unknowns answered "unknown", same groups | unseen groups | labels changed by calibration |', '|---|---:|---:|---:|---:|---:|'];
  for (const m of r.options.models) {
    const t = m === 'metric' || m === 'euclidean' ? r.summary.thresholds[m] : undefined;
    const changed = m === 'metric' || m === 'euclidean' ? String(r.splits.reduce((a, s) => a + (s.labelsChanged[m] ?? 0), 0)) : '—';
    lines.push(`| ${OPENSET_INFO[m].name} | ${pm(r.summary.accuracy[m]!)} | ${t ? pct(t.falseRejection) : '—'} | ${t ? pct(t.rejectedSame) : '—'} | ${t?.rejectedUnseen ? pct(t.rejectedUnseen) : '—'} | ${changed} |`);
  }
  return lines.join('\n');
}

/** "shrinkage 0.7 (chosen per split on the validation NLL among 0.2, 0.7: 0.7 on 18 splits, 0.2 on 2)". */
function shrinkageChoice(r: OpenSetResult): string {
  const grid = r.options.shrinkages;
  if (grid.length === 1) return `shrinkage ${grid[0]}`;
  const count = new Map<number, number>();
  for (const s of r.splits) if (s.shrinkage !== undefined) count.set(s.shrinkage, (count.get(s.shrinkage) ?? 0) + 1);
  const tally = [...count].sort((a, b) => b[1] - a[1]).map(([v, n]) => `${v} on ${n} split${n > 1 ? 's' : ''}`).join(', ');
  return `shrinkage chosen per split on the validation samples' NLL among ${grid.join(', ')} (${tally})`;
}

/**
 * The whole report.
 * @example
 * openSetMarkdown(result, { title: 'Open-set recognition', source: 'f.npy', command: 'protolens bench openset …' })
 */
export function openSetMarkdown(r: OpenSetResult, meta: { title: string; source: string; command: string; machine?: string; cpuSeconds?: number }): string {
  const o = r.options;
  const proto = (k: 'metric' | 'euclidean') => {
    const { prototypesPerClass, ...rest } = o.prototypeOptions[k];
    const settings = Object.entries(rest).filter(([a]) => !(k === 'metric' && a === 'shrinkage')).map(([a, b]) => `${a} ${String(b)}`);
    if (k === 'metric') settings.push(shrinkageChoice(r));
    return `${prototypesPerClass} prototype${prototypesPerClass > 1 ? 's' : ''} per class, ${settings.join(', ')}`;
  };
  const parts = [
    `# ${meta.title}`, '',
    `Source: ${meta.source}. Command: \`${meta.command}\`.`, '',
    `${o.splits} random splits (seed ${o.seed}). Each: ${o.known} known classes with ${o.shots} samples to fit, ${o.validation} held-out samples to calibrate ` +
    `(temperature and rejection threshold at ${(100 * o.targetFalseRejection).toFixed(0)} % false rejection) and ${o.queries} test queries each; ` +
    `${o.unknownClasses} classes never fitted from the same groups${r.grouped ? `, and ${o.unknownClasses} classes of ${o.unseenGroups} groups held out of the split` : ''}, ${o.queries} samples each. ` +
    `Preprocessing: ${o.preprocess}, fitted on the fitting samples. Prototype models${o.reduce ? ' (fitted and scored in the span of the fitting samples)' : ''}: ` +
    `learned metric — ${proto('metric')}; Euclidean — ${proto('euclidean')}. Softmax: λ chosen on the held-out samples per split. ` +
    `AUROC: probability that an unknown scores above a known query; FPR at 95 % TPR: share of unknowns accepted by the threshold that accepts 95 % of known queries. Mean ± std over splits.`, '',
    separationTable(r), '',
  ];
  const cmp = comparisonTable(r);
  if (cmp) parts.push('Paired over the same splits (two-sided t-test):', '', cmp, '');
  parts.push(thresholdTable(r), '');
  parts.push(`${r.samples} samples, ${r.dim} dimensions; ${r.seconds.toFixed(1)} s${meta.cpuSeconds !== undefined ? ` (${meta.cpuSeconds.toFixed(1)} s CPU)` : ''}${meta.machine ? ` on ${meta.machine}` : ''}.`);
  return parts.join('\n');
}
