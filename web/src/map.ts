/**
 * The map: samples as small squares coloured by class, prototypes as their pictures (framed in
 * their class's colour; outlined diamonds when there is no picture), on a 2-D canvas that pans
 * (drag) and zooms (wheel, around the cursor).
 *
 * Samples are written straight into a pixel buffer (a few pixels each, culled to the view) that is
 * copied to the canvas once per frame, with the diamonds and labels drawn over it; 20,000 samples
 * cost no path rasterisation (see bench/explorer.ts). Hover picking goes through a uniform grid
 * over the samples' world coordinates, so it looks at a handful of cells, not every sample.
 *
 * The prototypes' pictures and labels are elements over the canvas (an `<img>` and a `<span>`
 * each, moved every frame), so the browser decodes and scales the pictures; the labels are placed
 * without overlap by the report's own placement (src/viz/labels.ts), and a label that finds no
 * free place is left out until zooming in separates it.
 */
import { placeLabels, type Box } from '../../src/viz/labels.ts';
import { PICTURE_SIDE } from '../../src/viz/pictures.ts';

/** A prototype as the map draws it. */
export interface MapPrototype {
  index: number;
  x: number;
  y: number;
  /** Class index (colour). */
  cls: number;
  label: string;
  /** Its picture (URL or data URI), drawn instead of the diamond. */
  picture?: string;
  /** What the picture is, for its alt text ("nearest training image", "reconstruction"). */
  pictureIs?: string;
}

/** What to emphasise. */
export interface MapHighlight {
  /** Sample indices to ring (e.g. a prototype's nearest samples). */
  samples?: number[];
  /** Selected prototype. */
  prototype?: number;
  /** Axis-aligned ellipse (world units) around the selected prototype. */
  ellipse?: { x: number; y: number; rx: number; ry: number };
  /** Class whose samples are drawn on top, others faded. */
  cls?: number;
}

/** Categorical colours: Tableau 10, then golden-angle hues. */
export function classColours(n: number): string[] {
  const t10 = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  return Array.from({ length: n }, (_, i) => (i < 10 ? t10[i] : `hsl(${(i * 137.508) % 360}, 62%, ${i % 2 ? 42 : 58}%)`));
}

type Listener<T> = (v: T) => void;

/** Font of the prototypes' labels (the canvas measures with it; style.css sets the same on .proto-label). */
const LABEL_FONT = '600 11px system-ui, sans-serif';

/** Background of the map (#fbfbfa), as RGB. */
const BACKGROUND = [0xfb, 0xfb, 0xfa];

export class MapCanvas {
  private readonly ctx: CanvasRenderingContext2D;
  private points: Float32Array = new Float32Array(0);
  private classOf: Int32Array = new Int32Array(0);
  private byClass: Int32Array[] = [];
  private colours: string[] = [];
  private protos: MapPrototype[] = [];
  private highlight: MapHighlight = {};
  private marker: { x: number; y: number; label: string } | null = null;
  private pinned: number | null = null;
  // View: screen = (x·s + tx, −y·s + ty) in CSS pixels.
  private s = 1;
  private tx = 0;
  private ty = 0;
  private grid: { x0: number; y0: number; cell: number; nx: number; ny: number; start: Int32Array; items: Int32Array } | null = null;
  private frame = 0;
  /** The samples' extent plus a quarter on each side: [x0, x1, y0, y1] in world units. */
  private sampleBox: [number, number, number, number] | null = null;
  private image: ImageData | null = null;
  private pixels: Uint32Array | null = null;
  private readonly parsed = new Map<string, [number, number, number]>();
  private drag: { x: number; y: number; tx: number; ty: number; moved: boolean } | null = null;
  /** The layer over the canvas holding the prototypes' pictures and labels. */
  private readonly layer: HTMLDivElement;
  private protoEls = new Map<number, { pic?: HTMLImageElement; label: HTMLSpanElement; text: string }>();
  /** Markers drawn in the last frame. */
  drawn = { samples: 0, prototypes: 0, ms: 0 };
  onHover: Listener<{ sample: number | null; prototype: number | null; clientX: number; clientY: number }> = () => {};
  onClickSample: Listener<number> = () => {};
  onClickPrototype: Listener<number> = () => {};
  onClickEmpty: Listener<void> = () => {};
  /** Called after each frame (e.g. to move a pinned tooltip). */
  onFrame: Listener<void> = () => {};
  /** Boxes over the map that labels keep clear of (the legend), in CSS pixels relative to the canvas. */
  keepClear: () => Box[] = () => [];

  constructor(private readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('this browser gives no 2-D canvas');
    this.ctx = ctx;
    this.layer = document.createElement('div');
    this.layer.className = 'proto-layer';
    this.layer.dataset.testid = 'map-prototypes';
    canvas.after(this.layer);
    new ResizeObserver(() => this.resize()).observe(canvas);
    canvas.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointerleave', () => { if (!this.drag) this.onHover({ sample: null, prototype: null, clientX: 0, clientY: 0 }); });
    this.resize();
  }

  /** Sets the samples (N×2 world coordinates) and their classes; rebuilds the picking grid. */
  setSamples(points: Float32Array, classOf: Int32Array, colours: string[]): void {
    this.points = points;
    this.classOf = classOf;
    this.colours = colours;
    const counts = new Int32Array(colours.length);
    for (let i = 0; i < classOf.length; i++) if (classOf[i] >= 0) counts[classOf[i]]++;
    this.byClass = Array.from(counts, (c) => new Int32Array(c));
    const fill = new Int32Array(colours.length);
    for (let i = 0; i < classOf.length; i++) { const c = classOf[i]; if (c >= 0) this.byClass[c][fill[c]++] = i; }
    this.buildGrid();
    this.request();
  }

  /**
   * New prototypes (after a refit). Unless the user has zoomed or panned since the view was last
   * fitted, the view is fitted again, so that no new prototype near the samples falls outside it.
   */
  setPrototypes(p: MapPrototype[]): void {
    this.protos = p;
    this.buildLayer();
    if (!this.userMoved && this.canvas.width !== 300) this.fit();
    this.request();
  }

  /** One picture (when it has one) and one label per prototype, over the canvas; placed by {@link draw}. */
  private buildLayer(): void {
    const old = this.protoEls;
    this.protoEls = new Map();
    const children: HTMLElement[] = [];
    for (const p of this.protos) {
      const was = old.get(p.index);
      let pic: HTMLImageElement | undefined;
      if (p.picture) {
        // The same element when its picture did not change (no reload, no flicker).
        pic = was?.pic && was.pic.dataset.src === p.picture ? was.pic : document.createElement('img');
        pic.className = 'proto-pic';
        pic.dataset.j = String(p.index);
        pic.dataset.src = p.picture;
        pic.alt = `prototype ${p.index} (class ${p.label}): ${p.pictureIs ?? 'its picture'}`;
        pic.draggable = false;
        if (pic.getAttribute('src') !== p.picture) pic.src = p.picture;
        pic.style.borderColor = this.colours[p.cls] ?? '#888';
        children.push(pic);
      }
      const label = was?.label ?? document.createElement('span');
      label.className = 'proto-label';
      label.dataset.j = String(p.index);
      label.style.display = 'none';
      this.protoEls.set(p.index, { pic, label, text: '' });
    }
    // Labels above every picture.
    for (const e of this.protoEls.values()) children.push(e.label);
    this.layer.replaceChildren(...children);
  }

  /** True once the user zoomed or panned since the last {@link fit}. */
  private userMoved = false;

  setHighlight(h: MapHighlight): void {
    this.highlight = h;
    this.request();
  }

  /** A marker for a classified image (null to remove). */
  setMarker(m: { x: number; y: number; label: string } | null): void {
    this.marker = m;
    this.request();
  }

  setPinned(i: number | null): void {
    this.pinned = i;
    this.request();
  }

  get pinnedSample(): number | null {
    return this.pinned;
  }

  /**
   * Fits the view to the samples and the prototypes near them, with a margin. A prototype far
   * outside the samples (a dead one, typically) does not shrink the map: it is drawn at the edge,
   * pointing to where it is.
   */
  fit(): void {
    this.userMoved = false;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const add = (x: number, y: number) => { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; };
    for (let i = 0; i < this.points.length; i += 2) add(this.points[i], this.points[i + 1]);
    if (!Number.isFinite(x0)) { x0 = y0 = -1; x1 = y1 = 1; }
    const b = this.sampleBox;
    for (const p of this.protos) if (!b || (p.x >= b[0] && p.x <= b[1] && p.y >= b[2] && p.y <= b[3])) add(p.x, p.y);
    // Margins leave room for the legend (top) and the prototypes' labels (right).
    const w = this.canvas.clientWidth || 1, h = this.canvas.clientHeight || 1, pad = 28, top = 48, right = 40;
    const sx = (w - pad - right) / Math.max(1e-9, x1 - x0), sy = (h - pad - top) / Math.max(1e-9, y1 - y0);
    this.s = Math.min(sx, sy);
    this.tx = pad + (w - pad - right) / 2 - ((x0 + x1) / 2) * this.s;
    this.ty = top + (h - pad - top) / 2 + ((y0 + y1) / 2) * this.s;
    this.request();
  }

  /** Screen position (CSS pixels, relative to the canvas) of a world point. */
  toScreen(x: number, y: number): { x: number; y: number } {
    return { x: x * this.s + this.tx, y: -y * this.s + this.ty };
  }

  /** Screen position of sample i. */
  sampleScreen(i: number): { x: number; y: number } {
    return this.toScreen(this.points[2 * i], this.points[2 * i + 1]);
  }

  /** Screen position of prototype j (by its index). */
  prototypeScreen(j: number): { x: number; y: number } | null {
    const p = this.protos.find((q) => q.index === j);
    return p ? this.placed(p)?.at ?? this.toScreen(p.x, p.y) : null;
  }

  /**
   * Where a prototype's diamond is drawn: its position; or, for a prototype far outside the
   * samples (beyond their extent plus a quarter on each side), the nearest point of the view's
   * edge, so that it is never lost; or null when it is simply outside the current (zoomed) view.
   */
  private placed(p: MapPrototype): { at: { x: number; y: number }; off: boolean; angle: number } | null {
    const q = this.toScreen(p.x, p.y);
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight, m = 14;
    const b = this.sampleBox;
    const far = b !== null && (p.x < b[0] || p.x > b[1] || p.y < b[2] || p.y > b[3]);
    const at = { x: Math.min(w - m - 24, Math.max(m, q.x)), y: Math.min(h - m, Math.max(m, q.y)) };
    const off = at.x !== q.x || at.y !== q.y;
    if (off && !far) return null;
    return { at, off, angle: Math.atan2(q.y - at.y, q.x - at.x) };
  }

  /** Zooms by `factor` around a screen point (default: the centre). */
  zoom(factor: number, cx = this.canvas.clientWidth / 2, cy = this.canvas.clientHeight / 2): void {
    this.userMoved = true;
    this.tx = cx - (cx - this.tx) * factor;
    this.ty = cy - (cy - this.ty) * factor;
    this.s *= factor;
    this.request();
  }

  /** Pans by a screen offset. */
  pan(dx: number, dy: number): void {
    this.userMoved = true;
    this.tx += dx;
    this.ty += dy;
    this.request();
  }

  /** Redraws now (tests, benchmarks); normal updates go through requestAnimationFrame. */
  drawNow(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.draw();
  }

  private request(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  private resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    const first = this.canvas.width === 300 && this.canvas.height === 150;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
    if (first) this.fit();
    this.request();
  }

  private buildGrid(): void {
    const n = this.points.length / 2;
    if (n === 0) { this.grid = null; this.sampleBox = null; return; }
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = this.points[2 * i], y = this.points[2 * i + 1];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const mx = 0.25 * (x1 - x0), my = 0.25 * (y1 - y0);
    this.sampleBox = [x0 - mx, x1 + mx, y0 - my, y1 + my];
    const side = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
    const cell = Math.max(x1 - x0, y1 - y0, 1e-9) / side;
    const nx = Math.floor((x1 - x0) / cell) + 1, ny = Math.floor((y1 - y0) / cell) + 1;
    const start = new Int32Array(nx * ny + 1);
    const cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor((this.points[2 * i + 1] - y0) / cell) * nx + Math.floor((this.points[2 * i] - x0) / cell);
      cellOf[i] = c;
      start[c + 1]++;
    }
    for (let c = 0; c < nx * ny; c++) start[c + 1] += start[c];
    const items = new Int32Array(n);
    const fill = start.slice(0, nx * ny);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]]++] = i;
    this.grid = { x0, y0, cell, nx, ny, start, items };
  }

  /** Nearest sample within `radius` CSS pixels of a screen point. */
  pickSample(sx: number, sy: number, radius = 6): number | null {
    const g = this.grid;
    if (!g) return null;
    const wx = (sx - this.tx) / this.s, wy = -(sy - this.ty) / this.s, r = radius / this.s;
    const cx0 = Math.max(0, Math.floor((wx - r - g.x0) / g.cell)), cx1 = Math.min(g.nx - 1, Math.floor((wx + r - g.x0) / g.cell));
    const cy0 = Math.max(0, Math.floor((wy - r - g.y0) / g.cell)), cy1 = Math.min(g.ny - 1, Math.floor((wy + r - g.y0) / g.cell));
    let best: number | null = null, bd = r * r;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cy * g.nx + cx;
        for (let k = g.start[c]; k < g.start[c + 1]; k++) {
          const i = g.items[k];
          const dx = this.points[2 * i] - wx, dy = this.points[2 * i + 1] - wy, d = dx * dx + dy * dy;
          if (d <= bd) { bd = d; best = i; }
        }
      }
    }
    return best;
  }

  /** Prototype under a screen point (within its picture, or near its diamond), by index; the nearest centre wins. */
  pickPrototype(sx: number, sy: number, radius = 10): number | null {
    let best: number | null = null, bd = Infinity;
    const half = PICTURE_SIDE / 2 + 2;
    for (const p of this.protos) {
      const q = this.placed(p)?.at;
      if (!q) continue;
      const d = (q.x - sx) ** 2 + (q.y - sy) ** 2;
      const inside = p.picture ? Math.abs(q.x - sx) <= half && Math.abs(q.y - sy) <= half : d <= radius * radius;
      if (inside && d < bd) { bd = d; best = p.index; }
    }
    return best;
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private wheel(e: WheelEvent): void {
    e.preventDefault();
    const p = this.local(e);
    const dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    this.zoom(Math.exp(-dy * 0.0015), p.x, p.y);
  }

  private down(e: PointerEvent): void {
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.local(e);
    this.drag = { x: p.x, y: p.y, tx: this.tx, ty: this.ty, moved: false };
  }

  private move(e: PointerEvent): void {
    const p = this.local(e);
    if (this.drag) {
      const dx = p.x - this.drag.x, dy = p.y - this.drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) this.drag.moved = true;
      if (this.drag.moved) {
        this.tx = this.drag.tx + dx;
        this.ty = this.drag.ty + dy;
        this.request();
        return;
      }
    }
    const prototype = this.pickPrototype(p.x, p.y);
    const sample = prototype === null ? this.pickSample(p.x, p.y) : null;
    this.canvas.style.cursor = prototype !== null || sample !== null ? 'pointer' : 'grab';
    this.onHover({ sample, prototype, clientX: e.clientX, clientY: e.clientY });
  }

  private up(e: PointerEvent): void {
    const d = this.drag;
    this.drag = null;
    if (!d || d.moved) return;
    const p = this.local(e);
    const j = this.pickPrototype(p.x, p.y);
    if (j !== null) { this.onClickPrototype(j); return; }
    const i = this.pickSample(p.x, p.y);
    if (i !== null) this.onClickSample(i);
    else this.onClickEmpty();
  }

  /** Opaque 0xAABBGGRR pixel of a CSS colour mixed with the background at `alpha`. */
  private pixel(css: string, alpha: number): number {
    const c = this.parsed.get(css) ?? (() => {
      const t = document.createElement('canvas').getContext('2d')!;
      t.fillStyle = css;
      t.fillRect(0, 0, 1, 1);
      const d = t.getImageData(0, 0, 1, 1).data;
      const rgb: [number, number, number] = [d[0], d[1], d[2]];
      this.parsed.set(css, rgb);
      return rgb;
    })();
    const mix = (k: number) => Math.round(alpha * c[k] + (1 - alpha) * BACKGROUND[k]);
    return ((255 << 24) | (mix(2) << 16) | (mix(1) << 8) | mix(0)) >>> 0;
  }

  /**
   * The prototypes: a diamond on the canvas for each one without a picture, its picture moved
   * over the canvas otherwise; then every label placed without overlap ({@link placeLabels}; the
   * selected prototype first), with a leader line when it had to move off its mark, and left out
   * when no free place was found. Returns how many prototypes are drawn.
   */
  private drawPrototypes(ctx: CanvasRenderingContext2D, w: number, h: number): number {
    const hl = this.highlight;
    const arrows = ['→', '↘', '↓', '↙', '←', '↖', '↑', '↗'];
    const half = PICTURE_SIDE / 2 + 2;
    const ordered = hl.prototype === undefined ? this.protos : [...this.protos].sort((a, b) => Number(b.index === hl.prototype) - Number(a.index === hl.prototype));
    const shown: Array<{ p: MapPrototype; q: { x: number; y: number }; off: boolean; text: string; mark: number }> = [];
    for (const p of ordered) {
      const pl = this.placed(p);
      const e = this.protoEls.get(p.index);
      if (!pl) {
        if (e?.pic) e.pic.style.display = 'none';
        if (e) e.label.style.display = 'none';
        continue;
      }
      const sel = hl.prototype === p.index;
      // Off the view: the label says which way it lies.
      const text = pl.off ? `${p.label} ${arrows[((Math.round(pl.angle / (Math.PI / 4)) % 8) + 8) % 8]}` : p.label;
      shown.push({ p, q: pl.at, off: pl.off, text, mark: p.picture ? half + 1 : sel ? 10 : 7.5 });
      if (e?.pic) {
        e.pic.style.display = '';
        e.pic.style.transform = `translate(${(pl.at.x - half).toFixed(1)}px, ${(pl.at.y - half).toFixed(1)}px)`;
        e.pic.classList.toggle('sel', sel);
        e.pic.classList.toggle('off', pl.off);
        continue;
      }
      const q = pl.at, r = sel ? 10 : 7.5;
      ctx.beginPath();
      ctx.moveTo(q.x, q.y - r); ctx.lineTo(q.x + r, q.y); ctx.lineTo(q.x, q.y + r); ctx.lineTo(q.x - r, q.y); ctx.closePath();
      ctx.fillStyle = this.colours[p.cls] ?? '#888';
      ctx.globalAlpha = pl.off ? 0.55 : 1;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.lineWidth = sel ? 3 : 1.6;
      ctx.strokeStyle = '#111';
      if (pl.off) ctx.setLineDash([3, 2]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.font = LABEL_FONT;
    ctx.textBaseline = 'middle';
    // Many labels on screen: fewer rings of candidate places, so that a frame stays cheap.
    const placed = placeLabels(shown.map((s) => ({ x: s.q.x, y: s.q.y, text: s.text, mark: s.mark })),
      { width: w, height: h, fontSize: 11, rings: shown.length > 150 ? 2 : 6, measure: (t) => ctx.measureText(t).width }, this.keepClear());
    ctx.strokeStyle = 'rgba(40,40,40,0.7)';
    ctx.lineWidth = 1;
    shown.forEach((s, k) => {
      const L = placed[k], e = this.protoEls.get(s.p.index);
      if (!e) return;
      if (L.overlaps) { e.label.style.display = 'none'; return; }
      if (L.leader) {
        // From the mark's edge to the nearest point of the label's box.
        const bx = Math.min(L.box.x1, Math.max(L.box.x0, s.q.x)), by = Math.min(L.box.y1, Math.max(L.box.y0, s.q.y));
        ctx.beginPath();
        ctx.moveTo(s.q.x, s.q.y);
        ctx.lineTo(bx, by);
        ctx.stroke();
      }
      const st = e.label.style;
      // Moved by a transform (no layout); the text and its width change only with an arrow.
      if (e.text !== s.text) { e.label.textContent = s.text; e.text = s.text; st.width = `${(L.box.x1 - L.box.x0).toFixed(1)}px`; }
      st.display = '';
      st.transform = `translate(${L.box.x0.toFixed(1)}px, ${L.box.y0.toFixed(1)}px)`;
    });
    return shown.length;
  }

  private draw(): void {
    const t0 = performance.now();
    const ctx = this.ctx, dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    const W = this.canvas.width, H = this.canvas.height;
    const { s, tx, ty } = this;
    const pts = this.points;
    const hl = this.highlight;
    const n = pts.length / 2, size = n > 5000 ? 2.5 : n > 1000 ? 3.5 : 5;
    // Samples are written straight into a pixel buffer (opaque squares, colours pre-mixed with the
    // background): no path to rasterise, so the cost is a few pixels per sample plus one copy.
    if (!this.image || this.image.width !== W || this.image.height !== H) {
      this.image = ctx.createImageData(W, H);
      this.pixels = new Uint32Array(this.image.data.buffer);
    }
    const buf = this.pixels!;
    buf.fill(this.pixel('#fbfbfa', 1));
    const side = Math.max(1, Math.round(size * dpr)), off = side / 2;
    let drawn = 0;
    // A selected class goes last, the others faded.
    const order = this.byClass.map((_, c) => c);
    if (hl.cls !== undefined) { order.splice(order.indexOf(hl.cls), 1); order.push(hl.cls); }
    for (const c of order) {
      const idx = this.byClass[c];
      const colour = this.pixel(this.colours[c], hl.cls === undefined || hl.cls === c ? 0.9 : 0.2);
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k];
        const x0 = Math.round((pts[2 * i] * s + tx) * dpr - off), y0 = Math.round((-pts[2 * i + 1] * s + ty) * dpr - off);
        if (x0 + side <= 0 || y0 + side <= 0 || x0 >= W || y0 >= H) continue;
        drawn++;
        const xa = Math.max(0, x0), xb = Math.min(W, x0 + side), ya = Math.max(0, y0), yb = Math.min(H, y0 + side);
        for (let y = ya; y < yb; y++) buf.fill(colour, y * W + xa, y * W + xb);
      }
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.putImageData(this.image, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.globalAlpha = 1;
    if (hl.ellipse) {
      const e = hl.ellipse, q = this.toScreen(e.x, e.y);
      ctx.strokeStyle = 'rgba(20,20,20,0.55)';
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      ctx.ellipse(q.x, q.y, Math.max(1, e.rx * s), Math.max(1, e.ry * s), 0, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (hl.samples) {
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 1.5;
      for (const i of hl.samples) {
        const q = this.sampleScreen(i);
        ctx.beginPath();
        ctx.arc(q.x, q.y, 5.5, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
    const nProto = this.drawPrototypes(ctx, w, h);
    if (this.pinned !== null && this.pinned * 2 < pts.length) {
      const q = this.sampleScreen(this.pinned);
      ctx.strokeStyle = '#d00';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(q.x, q.y, 7, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.marker) {
      const q = this.toScreen(this.marker.x, this.marker.y);
      ctx.beginPath();
      for (let k = 0; k < 10; k++) {
        const a = -Math.PI / 2 + (k * Math.PI) / 5, rr = k % 2 ? 5 : 12;
        ctx.lineTo(q.x + rr * Math.cos(a), q.y + rr * Math.sin(a));
      }
      ctx.closePath();
      ctx.fillStyle = '#ffd400';
      ctx.fill();
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.lineWidth = 3;
      ctx.strokeStyle = 'rgba(255,255,255,0.9)';
      ctx.strokeText(this.marker.label, q.x + 14, q.y);
      ctx.fillStyle = '#111';
      ctx.fillText(this.marker.label, q.x + 14, q.y);
    }
    this.drawn = { samples: drawn, prototypes: nProto, ms: performance.now() - t0 };
    this.canvas.dataset.samples = String(drawn);
    this.canvas.dataset.prototypes = String(nProto);
    this.onFrame();
  }
}
