/**
 * Labels placed without overlap on a scatter plot (Figure 1's prototypes): each label goes to the
 * first of a list of candidate positions around its point — beside it, then on rings further
 * out — where its box overlaps neither a label already placed nor a mark (a prototype's picture or
 * diamond) and stays inside the plot. A label that had to move away from its point gets a leader
 * line. Greedy, deterministic, in pixel space; text widths are estimated from the character count.
 * Pure and browser-safe.
 */

/** An axis-aligned box in pixels (x to the right, y down). */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A label to place: its point, its text, and the half-size of its own mark (kept clear). */
export interface LabelRequest {
  x: number;
  y: number;
  text: string;
  /** Half the width (and height) of the point's mark, in pixels. */
  mark: number;
}

/** Where a label went: its box's centre, its box, and whether it was moved off its point (draw a leader). */
export interface PlacedLabel {
  cx: number;
  cy: number;
  box: Box;
  leader: boolean;
  /** True when no free position was found and the one with the least overlap was taken. */
  overlaps: boolean;
}

/** Options of {@link placeLabels}. */
export interface PlaceOptions {
  width: number;
  height: number;
  fontSize?: number;
  /** Rings of candidate positions beyond the first one around the mark. Default 8. */
  rings?: number;
  /** Width in pixels of a label's text; default {@link textWidth} (an estimate from the character count). A page measures it (canvas `measureText`). */
  measure?: (text: string) => number;
}

/** Width in pixels of a text at a font size: a bold sans-serif averages about 0.62 em per character. */
export function textWidth(text: string, fontSize = 10): number {
  return Math.ceil(text.length * 0.62 * fontSize) + 2;
}

function overlap(a: Box, b: Box): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0), h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Candidate centres for a w×h label around a mark of half-size m: right, left, above, below, the corners, then rings further out. */
function candidates(r: LabelRequest, w: number, h: number, rings: number): Array<{ cx: number; cy: number; near: boolean }> {
  const gap = 3, m = r.mark;
  const out: Array<{ cx: number; cy: number; near: boolean }> = [
    { cx: r.x + m + gap + w / 2, cy: r.y, near: true },
    { cx: r.x - m - gap - w / 2, cy: r.y, near: true },
    { cx: r.x, cy: r.y - m - gap - h / 2, near: true },
    { cx: r.x, cy: r.y + m + gap + h / 2, near: true },
    { cx: r.x + m + gap + w / 2, cy: r.y - m - h / 2, near: true },
    { cx: r.x - m - gap - w / 2, cy: r.y - m - h / 2, near: true },
    { cx: r.x + m + gap + w / 2, cy: r.y + m + h / 2, near: true },
    { cx: r.x - m - gap - w / 2, cy: r.y + m + h / 2, near: true },
  ];
  for (let k = 1; k <= rings; k++) {
    const rad = m + gap + k * (h + 4);
    const n = 8 + 4 * k;
    for (let t = 0; t < n; t++) {
      const a = (2 * Math.PI * t) / n;
      // The box's near edge at distance rad from the point, along the direction a.
      out.push({ cx: r.x + Math.cos(a) * (rad + w / 2), cy: r.y - Math.sin(a) * (rad + h / 2), near: false });
    }
  }
  return out;
}

/**
 * Places every label (in the order given: earlier ones get the better places) so that no two
 * label boxes overlap and no label covers a mark, inside the plot when possible.
 * @param obstacles - extra boxes to keep clear (the marks of points without labels).
 * @example
 * placeLabels([{ x: 10, y: 10, text: 'a', mark: 5 }, { x: 12, y: 10, text: 'b', mark: 5 }], { width: 200, height: 100 })
 * // two boxes that do not overlap; the second has a leader line
 */
export function placeLabels(reqs: readonly LabelRequest[], o: PlaceOptions, obstacles: readonly Box[] = []): PlacedLabel[] {
  const fontSize = o.fontSize ?? 10, h = fontSize + 2, rings = o.rings ?? 8;
  const marks: Box[] = [...reqs.map((r) => ({ x0: r.x - r.mark, y0: r.y - r.mark, x1: r.x + r.mark, y1: r.y + r.mark })), ...obstacles];
  const placed: Box[] = [];
  return reqs.map((r) => {
    const w = o.measure ? Math.ceil(o.measure(r.text)) + 2 : textWidth(r.text, fontSize);
    let best: { cx: number; cy: number; near: boolean; cost: number } | undefined;
    for (const c of candidates(r, w, h, rings)) {
      const box = { x0: c.cx - w / 2, y0: c.cy - h / 2, x1: c.cx + w / 2, y1: c.cy + h / 2 };
      const outside = Math.max(0, -box.x0) + Math.max(0, box.x1 - o.width) + Math.max(0, -box.y0) + Math.max(0, box.y1 - o.height);
      let cost = outside * h * 10;
      for (const p of placed) cost += overlap(box, p) * 4;
      for (const m of marks) cost += overlap(box, m);
      if (!best || cost < best.cost) best = { ...c, cost };
      if (cost === 0) break;
    }
    const b = best!;
    const box = { x0: b.cx - w / 2, y0: b.cy - h / 2, x1: b.cx + w / 2, y1: b.cy + h / 2 };
    placed.push(box);
    return { cx: b.cx, cy: b.cy, box, leader: !b.near, overlaps: b.cost > 0 };
  });
}
