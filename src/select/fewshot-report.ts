/**
 * The few-shot benchmark's Markdown report, in the form of the paper's Table 1: one row per
 * method, one column per N, "mean (std)" over the subsets, best in bold, the paper's figures
 * beside ours; then the paired t-tests. Browser-safe.
 */
import {
  METHOD_INFO, METRIC_ROW, PAPER_TABLE1, REFIT_LABELS,
  type FewShotMethod, type FewShotResult, type RefitKind,
} from './fewshot.ts';

/** Accuracy the paper's way: two decimals without the leading zero (".80", "1.00"). */
export function fmtAcc(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const s = v.toFixed(2);
  return s.startsWith('0.') ? s.slice(1) : s;
}

/** A p-value with enough digits to read: "0.031", "2.1e-5", "1". */
export function fmtP(p: number): string {
  if (!Number.isFinite(p)) return '—';
  if (p === 0) return '0';
  if (p >= 0.001) return p >= 0.9995 ? '1' : p.toFixed(3);
  return p.toExponential(1);
}

function fmtSigned(v: number): string {
  const s = fmtAcc(Math.abs(v));
  return (v < -5e-3 ? '−' : v > 5e-3 ? '+' : '±') + s;
}

/**
 * The accuracy table for one refit: rows = methods, columns = N, then the paper's figures.
 * The best mean of each column is bold, with every row that prints the same value.
 */
export function accuracyTable(result: FewShotResult, refit: RefitKind): string {
  const { ways, methods } = result.options;
  const table = result.summary.tables[refit];
  const best: Record<number, number> = {};
  for (const n of ways) best[n] = Math.max(...methods.map((m) => table[m]?.[n]?.mean ?? -Infinity));
  // The paper's figures beside ours, for the N it reports (5-shot table only: the paper refits on 5).
  const paperWays = refit === 'testFit' ? ways.filter((n) => methods.some((m) => PAPER_TABLE1[m]?.[n] !== undefined)) : [];
  const head = ['method', ...ways.map((n) => `N = ${n}`), ...paperWays.map((n) => `paper N = ${n}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const m of methods) {
    const cells = ways.map((n) => {
      const s = table[m]?.[n];
      if (!s || !Number.isFinite(s.mean)) return '—';
      const txt = `${fmtAcc(s.mean)} (${fmtAcc(s.std)})`;
      // Best at the printed precision: rows that print the same as the best are all bold.
      return fmtAcc(s.mean) === fmtAcc(best[n]) ? `**${txt}**` : txt;
    });
    const paper = paperWays.map((n) => { const v = PAPER_TABLE1[m]?.[n]; return v === undefined ? '' : fmtAcc(v); });
    lines.push(`| ${METHOD_INFO[m].name} | ${[...cells, ...paper].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The paired t-tests of our rows against single prototype and softmax, for one refit. */
export function testsTable(result: FewShotResult, refit: RefitKind): string {
  const tests = result.summary.tests.filter((t) => t.refit === refit);
  if (tests.length === 0) return '';
  const againsts = [...new Set(tests.map((t) => t.against))];
  const head = ['our row', 'N', ...againsts.map((a) => `vs ${METHOD_INFO[a].name}: Δ mean, p`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  const rows = new Map<string, string[]>();
  for (const t of tests) {
    const key = `${t.method}|${t.ways}`;
    if (!rows.has(key)) rows.set(key, [METHOD_INFO[t.method].name, String(t.ways), ...againsts.map(() => '—')]);
    const cells = rows.get(key)!;
    cells[2 + againsts.indexOf(t.against)] = `${fmtSigned(t.meanDiff)}, p = ${fmtP(t.p)}${t.p < 0.05 ? (t.meanDiff > 0 ? ' (better)' : ' (worse)') : ''}`;
  }
  for (const cells of rows.values()) lines.push(`| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

/** How often each setting was chosen, per method and N (e.g. "l2, 2/class, α 1e-3, τ×0.3: 6/10"). */
export function choicesTable(result: FewShotResult): string {
  const { ways, methods } = result.options;
  const lines = ['| method | ' + ways.map((n) => `N = ${n}`).join(' | ') + ' |', '|---|' + ways.map(() => '---').join('|') + '|'];
  for (const m of methods) {
    const cells = ways.map((n) => {
      const counts = new Map<string, number>();
      for (const t of result.tasks) {
        if (t.ways !== n || !t.methods[m]) continue;
        const k = describeParams(t.methods[m]!.params);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k} ×${c}`).join('; ') || '—';
    });
    lines.push(`| ${METHOD_INFO[m].name} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** A chosen grid point in a few words. */
export function describeParams(p: Record<string, unknown>): string {
  const parts: string[] = [];
  if (p.regularization) parts.push(String(p.regularization).toUpperCase());
  if (p.prototypesPerClass !== undefined) parts.push(`J ${p.prototypesPerClass}/class`);
  if (p.alpha !== undefined) parts.push(`α ${p.alpha}`);
  if (p.tau === 'auto' && p.tauScale !== undefined) parts.push(`τ×${p.tauScale}`);
  if (p.metric !== undefined && p.metric !== 'euclidean') parts.push(`${String(p.metric)} metric`);
  if (p.shrinkage !== undefined) parts.push(`shrinkage ${p.shrinkage}`);
  if (p.l2 !== undefined) parts.push(`λ ${p.l2}`);
  if (p.k !== undefined) parts.push(`k ${p.k}`);
  return parts.join(', ') || 'no hyper-parameters';
}

/** Options of {@link fewShotMarkdown}. */
export interface FewShotMarkdownOptions {
  /** Heading text. Default "Few-shot benchmark". */
  title?: string;
  /** Where the features came from (file, backbone). */
  source?: string;
  /** The command that produced the run. */
  command?: string;
  /** Heading level of the title (1–4). Default 2. */
  level?: number;
  /** CPU seconds of the run, when the caller measured them (shown beside the wall-clock time). */
  cpuSeconds?: number;
  /** The machine, e.g. "2 × AMD EPYC". */
  machine?: string;
}

/**
 * The whole report: settings, both accuracy tables (labelled by refit), the t-tests, the chosen
 * settings and the run time.
 */
export function fewShotMarkdown(result: FewShotResult, o: FewShotMarkdownOptions = {}): string {
  const h = '#'.repeat(Math.min(4, Math.max(1, o.level ?? 2)));
  const opt = result.options;
  const g = opt.grids;
  const out: string[] = [`${h} ${o.title ?? 'Few-shot benchmark'}`, ''];
  if (o.source) out.push(`- Features: ${o.source}`);
  if (o.command) out.push(`- Command: \`${o.command}\``);
  out.push(
    `- Protocol: ${opt.subsets} random subsets per N (seed ${opt.seed}); per class ${opt.testPerClass} test, ${opt.fitPerClass} fit, ${opt.validationPerClass} validation samples; hyper-parameters chosen on validation accuracy (ties: lower validation log-loss)${opt.selection === 'swap' ? ', averaged over both ways round (fit on the fitting half and score on the validation half, and the reverse)' : ''}.`,
    `- Preprocessing (every method, fitted on the fitting samples only): \`${opt.preprocess}\` — ${opt.preprocessDescription}.`,
    `- Grids: J/class ${JSON.stringify(g.prototypesPerClass)}, α ${JSON.stringify(g.alphaL1)} (L1) and ${JSON.stringify(g.alphaL2)} (L2), τ scale ${JSON.stringify(g.tauScale)} (data-scaled rows; paper rows use τ = 1), softmax λ ${JSON.stringify(g.l2)}; learned-metric row: τ scale ${JSON.stringify(g.metricTauScale)} (whitened units), shrinkage ${JSON.stringify(g.shrinkage)} (also the LDA-whitened references'), α ${METRIC_ROW.alpha} (L2), β ${METRIC_ROW.metricPenalty}.`,
    `- Prototype models: ${Object.entries(opt.prototypeOptions).map(([k, v]) => `${k} ${v}`).join(', ') || 'model defaults'}; every fit runs in the row space of its fitting samples${opt.reduce ? '' : ' — off for this run'} (exact, docs/benchmark.md).`,
    `- Run time: ${result.seconds.toFixed(1)} s${o.cpuSeconds !== undefined ? ` wall-clock, ${o.cpuSeconds.toFixed(1)} s CPU` : ''}${o.machine ? ` (${o.machine})` : ''}.`,
    '',
  );
  for (const refit of ['testFit', 'testTrain'] as const) {
    out.push(`${h}# Test accuracy, ${REFIT_LABELS[refit]}`, '', 'Mean (std) over subsets; best of each column in bold.', '', accuracyTable(result, refit), '');
    const tt = testsTable(result, refit);
    if (tt) out.push(`Paired t-tests over the same subsets (two-sided; Δ = our row − the other):`, '', tt, '');
  }
  out.push(`${h}# Chosen settings (how many subsets chose each)`, '', choicesTable(result), '');
  return out.join('\n');
}

/** The rows of our methods (handy for callers that print only those). */
export function ourMethods(methods: readonly FewShotMethod[]): FewShotMethod[] {
  return methods.filter((m) => METHOD_INFO[m].ours);
}
