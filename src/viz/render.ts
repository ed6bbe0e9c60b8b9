/**
 * Renders Vega-Lite specifications to SVG text with vega's headless renderer. Browser-safe
 * (vega and vega-lite run in both); no DOM is needed for SVG output.
 */
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { VegaLiteSpec } from './specs.ts';

/**
 * Compiles a Vega-Lite spec and renders it to a standalone SVG string.
 * @throws Error from vega-lite when the specification is invalid.
 * @example
 * const svg = await renderSvg(figure1Spec(analysis)); // '<svg xmlns="http://www.w3.org/2000/svg" …'
 */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Number of marks in an SVG rendered by vega whose ARIA label starts with `prefix` (e.g. "prototype "). */
export function countMarks(svg: string, prefix: string): number {
  const esc = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return (svg.match(new RegExp(`aria-label="${esc}`, 'g')) ?? []).length;
}
