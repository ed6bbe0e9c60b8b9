/**
 * The few-shot benchmark as a Vega-Lite chart: mean test accuracy per method against N, with
 * ±1 std error bars, one panel per refit. Returns a plain spec object (browser-safe); the CLI
 * renders it to SVG with vega.
 */
import { METHOD_INFO, REFIT_LABELS, type FewShotResult } from '../select/fewshot.ts';

/**
 * Builds the Vega-Lite spec of a benchmark result.
 * @example
 * const spec = fewShotChartSpec(result); // render with vega.View(vega.parse(vl.compile(spec).spec))
 */
export function fewShotChartSpec(result: FewShotResult, title = 'Few-shot benchmark'): Record<string, unknown> {
  const values: Array<Record<string, unknown>> = [];
  for (const refit of ['testFit', 'testTrain'] as const) {
    for (const m of result.options.methods) {
      for (const n of result.options.ways) {
        const s = result.summary.tables[refit][m]?.[n];
        if (!s || !Number.isFinite(s.mean)) continue;
        values.push({
          refit: refit === 'testFit' ? `refit on ${result.options.fitPerClass}/class` : `refit on ${result.options.fitPerClass + result.options.validationPerClass}/class`,
          refitLabel: REFIT_LABELS[refit],
          method: METHOD_INFO[m].name,
          ways: n,
          mean: s.mean,
          lo: Math.max(0, s.mean - s.std),
          hi: Math.min(1, s.mean + s.std),
        });
      }
    }
  }
  const panels = [...new Set(values.map((v) => v.refit as string))];
  const x = { field: 'ways', type: 'ordinal', title: 'N (classes per task)' };
  const color = { field: 'method', type: 'nominal', title: 'method', legend: { labelLimit: 320 }, sort: result.options.methods.map((m) => METHOD_INFO[m].name) };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: `preprocessing ${result.options.preprocess}; ${result.options.subsets} subsets per N; bars: ±1 std` },
    data: { values },
    facet: { column: { field: 'refit', type: 'nominal', title: null, sort: panels } },
    spec: {
      width: 260,
      height: 240,
      encoding: { x: { ...x, axis: { labelAngle: 0 } }, xOffset: { field: 'method', type: 'nominal', sort: color.sort }, color },
      layer: [
        { mark: { type: 'point', filled: true, size: 50 }, encoding: { y: { field: 'mean', type: 'quantitative', title: 'test accuracy', scale: { domain: [0, 1] } } } },
        { mark: { type: 'rule' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      ],
    },
  };
}
