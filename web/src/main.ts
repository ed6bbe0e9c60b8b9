/**
 * The explorer page: loads the map from the server, draws it, and wires the panels (prototype,
 * class, sample), the "classify an image" box, the UMAP view and the refit control.
 *
 * Test hooks: the canvas carries `data-samples` / `data-prototypes` (markers drawn in the last
 * frame), and `window.__protolens` exposes live counts and screen positions (see {@link hooks}).
 */
import './style.css';
import { MapCanvas, classColours, type MapPrototype } from './map.ts';
import { PrototypeClassifier } from '../../src/model/prototype.ts';
import type { Explanation, PrototypeOptions } from '../../src/model/prototype.ts';
import type { ModelJSON } from '../../src/model/types.ts';
import { project, type ExplorerMap, type ModelView, type PrototypeView } from '../../src/viz/mapdata.ts';
import type { RefitReply, RefitRequest } from './refit.worker.ts';
import type { UmapReply, UmapRequest } from './umap.worker.ts';
import { choosePictures, findingPrototypes, type PictureKind, type PrototypePictures } from '../../src/viz/pictures.ts';
import type { Finding } from '../../src/interpret/types.ts';
import type { LensReconstruction } from '../../src/viz/lens.ts';

type View = 'pca' | 'umap';
interface Classified {
  explanation: Explanation;
  position: { x: number; y: number };
  nearest: number[];
  feature: number[];
  imageUrl: string;
  name: string;
  /** Where the image was embedded: "page" (onnxruntime-web) or "server". */
  where: 'page' | 'server';
}

/** The server's answer while a reconstruction is queued or running, or why it failed. */
interface ReconstructionWait { status: 'queued' | 'running' | 'failed'; done: number; total: number; ahead?: number; error?: string }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Creates an element with attributes/properties and children (text is always set as text, never HTML). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | ((e: Event) => void)> = {}, ...children: Array<Node | string | null | undefined | false>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v as EventListener);
    else if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('data-') || k === 'title' || k === 'alt' || k === 'src' || k === 'role' || k === 'style' || k === 'loading') e.setAttribute(k, String(v));
    else (e as unknown as Record<string, unknown>)[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

const fmt = (v: number | null | undefined, p = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toPrecision(p));

const state = {
  map: null as ExplorerMap | null,
  model: null as ModelView | null,
  colours: [] as string[],
  view: 'pca' as View,
  pca: new Float32Array(0),
  umap: null as Float32Array | null,
  umapRunning: false,
  local: null as PrototypeClassifier | null,
  features: null as Float32Array | null,
  classified: null as Classified | null,
  /** Why embedding in the page failed, once it has (then the server embeds). */
  inPageFailure: '' as string,
  selected: null as { kind: 'prototype'; j: number } | { kind: 'class'; l: number } | { kind: 'sample'; i: number } | null,
  refits: 0,
  /** What stands for a prototype on the map (the header's select). */
  pictures: 'nearest' as PictureKind | 'none',
  /** Reconstructions received from the server, by prototype (of the server's model, not a refit's). */
  recs: new Map<number, LensReconstruction>(),
  /** Reconstructions asked for and not received yet: their progress, or why they failed. */
  recWait: new Map<number, ReconstructionWait>(),
  ready: false,
  error: '' as string,
};

const canvas = $<HTMLCanvasElement>('map');
const mapView = new MapCanvas(canvas);
const tooltip = $<HTMLDivElement>('tooltip');

/** What browser tests read. */
const hooks = {
  get ready() { return state.ready; },
  get error() { return state.error; },
  get samples() { return mapView.drawn.samples; },
  get prototypes() { return mapView.drawn.prototypes; },
  get n() { return state.map?.n ?? 0; },
  get J() { return state.model?.J ?? 0; },
  get view() { return state.view; },
  get refits() { return state.refits; },
  get umapReady() { return state.umap !== null; },
  get classified() {
    const c = state.classified;
    return c ? { label: c.explanation.label, explanation: c.explanation, where: c.where, feature: c.feature } : null;
  },
  get inPageFailure() { return state.inPageFailure; },
  get frameMs() { return mapView.drawn.ms; },
  get modelView() { return state.model; },
  prototypeScreen: (j: number) => mapView.prototypeScreen(j),
  sampleScreen: (i: number) => mapView.sampleScreen(i),
  pickSample: (x: number, y: number) => mapView.pickSample(x, y),
  zoom: (f: number) => { mapView.zoom(f); mapView.drawNow(); },
  pan: (dx: number, dy: number) => { mapView.pan(dx, dy); mapView.drawNow(); },
  drawNow: () => mapView.drawNow(),
  get reconstructions() { return [...state.recs.keys()]; },
};
(window as unknown as { __protolens: typeof hooks }).__protolens = hooks;

function imageUrl(i: number): string {
  return `./api/image/${i}?v=${state.map?.version ?? ''}`;
}

function label(l: number): string {
  return String(state.map!.classes[l]);
}

/**
 * Whether the server's reconstructions apply here (of prototype j, or of any): it makes them, or
 * has j's from a report, and the model is still the server's.
 */
function reconstructionsApply(j?: number): boolean {
  const r = state.map?.reconstruct;
  if (!r || state.local) return false;
  return r.available || (j === undefined ? r.known.length > 0 : r.known.includes(j));
}

/** Each prototype's picture, chosen as the report chooses (src/viz/pictures.ts), in the order the header's select says. */
function pictureChoice(): PrototypePictures {
  const m = state.map!;
  if (state.pictures === 'none') return { pictures: {}, kinds: {}, are: '' };
  return choosePictures(state.model!.prototypes.map((p) => ({ index: p.index, nearest: p.nearest[0] })), {
    sample: (i) => (m.hasImages ? imageUrl(i) : undefined),
    reconstruction: (j) => (reconstructionsApply() ? state.recs.get(j)?.image : undefined),
    prefer: state.pictures,
  });
}

/** Positions of the prototypes in the current view, with their pictures. On the UMAP view, a prototype sits at the mean position of its 5 nearest samples. */
function prototypePositions(): MapPrototype[] {
  const m = state.model!;
  const pics = pictureChoice();
  return m.prototypes.map((p) => {
    let x = p.x, y = p.y;
    if (state.view === 'umap' && state.umap) {
      const near = p.nearest.slice(0, 5);
      x = near.reduce((a, i) => a + state.umap![2 * i], 0) / near.length;
      y = near.reduce((a, i) => a + state.umap![2 * i + 1], 0) / near.length;
    }
    const kind = pics.kinds[p.index];
    return {
      index: p.index, x, y, cls: p.winningClass, label: label(p.winningClass), picture: pics.pictures[p.index],
      pictureIs: kind === 'reconstruction' ? 'its reconstruction' : 'its nearest training image',
    };
  });
}

function markerPosition(c: Classified): { x: number; y: number } {
  if (state.view === 'umap' && state.umap) {
    const near = c.nearest;
    return { x: near.reduce((a, i) => a + state.umap![2 * i], 0) / near.length, y: near.reduce((a, i) => a + state.umap![2 * i + 1], 0) / near.length };
  }
  return c.position;
}

function redrawModel(): void {
  mapView.setPrototypes(prototypePositions());
  if (state.classified) mapView.setMarker({ ...markerPosition(state.classified), label: `new: ${state.classified.explanation.label}` });
  renderSummary();
  renderFindings();
  renderLegend();
  applySelection();
}

function setView(v: View): void {
  state.view = v;
  $('view-pca').classList.toggle('on', v === 'pca');
  $('view-umap').classList.toggle('on', v === 'umap');
  const m = state.map!;
  mapView.setSamples(v === 'umap' && state.umap ? state.umap : state.pca, Int32Array.from(m.y), state.colours);
  redrawModel();
  mapView.fit();
}

function status(text: string): void {
  $('map-status').textContent = text;
}

async function showUmap(): Promise<void> {
  if (state.umap) { setView('umap'); return; }
  if (state.umapRunning) return;
  state.umapRunning = true;
  status('UMAP: fetching principal-component scores…');
  try {
    const r = await fetch('./api/scores.f32');
    if (!r.ok) throw new Error(`scores: HTTP ${r.status}`);
    const rows = Number(r.headers.get('X-Rows')), cols = Number(r.headers.get('X-Cols'));
    const scores = new Float32Array(await r.arrayBuffer());
    const w = new Worker(new URL('./umap.worker.ts', import.meta.url), { type: 'module' });
    await new Promise<void>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<UmapReply>) => {
        const m = e.data;
        if (m.type === 'progress') status(`UMAP: epoch ${m.epoch}/${m.epochs}`);
        else if (m.type === 'error') reject(new Error(m.message));
        else { state.umap = m.points; resolve(); }
      };
      w.onerror = (e) => reject(new Error(e.message));
      const req: UmapRequest = { scores, rows, cols, seed: 42 };
      w.postMessage(req, [scores.buffer]);
    });
    w.terminate();
    status('');
    setView('umap');
  } catch (e) {
    status(`UMAP failed: ${(e as Error).message}`);
  } finally {
    state.umapRunning = false;
  }
}

function renderSummary(): void {
  const m = state.map!, mv = state.model!;
  $('summary').replaceChildren(
    el('span', { class: 'title', text: m.title }),
    el('span', { text: ` · ${m.n} samples · ${m.d} features · ${m.classes.length} classes · J = ${mv.J} prototypes · training accuracy ${(100 * mv.accuracy).toFixed(1)}%${state.local ? ' (refitted in the page)' : ''}` }),
  );
  $('summary').title = m.source;
}

function renderLegend(): void {
  const m = state.map!, mv = state.model!;
  // Chips for a few classes; with many (Omniglot has hundreds), a list to pick from instead.
  if (m.classes.length > 24) {
    const sel = el('select', { 'data-testid': 'legend-select', title: 'open a class panel', onchange: (e: Event) => {
      const v = (e.target as HTMLSelectElement).value;
      if (v !== '') select({ kind: 'class', l: Number(v) });
    } }, el('option', { value: '', text: `${m.classes.length} classes — open one…` }),
    ...mv.classViews.map((c, l) => el('option', { value: String(l), text: `${String(c.label)} (${c.count} samples, ${c.prototypes.length} prototypes)` })));
    $('legend').replaceChildren(sel);
    return;
  }
  $('legend').replaceChildren(...mv.classViews.map((c, l) => el('button', {
    class: 'chip', 'data-testid': `legend-${l}`, title: `class ${c.label}: ${c.count} samples, ${c.prototypes.length} prototypes`,
    onclick: () => select({ kind: 'class', l }),
  }, el('i', { style: `background:${state.colours[l]}` }), `${String(m.classes[l])}`)));
}

const FINDING_TITLES: Record<string, string> = {
  'scattered-class': 'scattered classes', 'ambiguous-prototype': 'ambiguous prototypes', 'dead-prototype': 'dead prototypes',
  'single-sample-prototype': 'single-sample prototypes', 'singleton-class': 'singleton classes', 'unbalanced-class': 'unbalanced classes',
};

/** Findings grouped by kind (a group per rule, with its count), each a link to its panel. */
function renderFindings(): void {
  const mv = state.model!;
  const kinds = [...new Set(mv.findings.map((f) => f.kind))];
  const groups = kinds.map((kind) => {
    const fs = mv.findings.filter((f) => f.kind === kind);
    const items = fs.map((f) => {
      const go = () => {
        if (f.prototypes?.length && f.kind.includes('prototype')) select({ kind: 'prototype', j: f.prototypes[0] });
        else if (f.label !== undefined) select({ kind: 'class', l: state.map!.classes.indexOf(f.label) });
      };
      return el('li', { 'data-kind': f.kind }, el('a', { href: '#', onclick: (e: Event) => { e.preventDefault(); go(); }, text: f.message }), findingPictures(f));
    });
    const d = el('details', { 'data-testid': `findings-${kind}` },
      el('summary', { title: mv.rules[kind as keyof typeof mv.rules] ?? '', text: `${FINDING_TITLES[kind] ?? kind} (${fs.length})` }),
      el('ul', {}, ...items));
    d.open = fs.length <= 5 || kinds.length === 1;
    return el('li', {}, d);
  });
  $('findings').replaceChildren(...(groups.length ? groups : [el('li', { text: 'nothing stands out' })]));
}

/**
 * A finding's prototypes as small pictures beside its sentence (as the report shows them): each
 * one's nearest training image, and its reconstruction when the page has it; a click opens the
 * prototype's panel.
 */
function findingPictures(f: Finding): HTMLElement | null {
  const m = state.map!, mv = state.model!;
  const js = findingPrototypes(f, (l) => mv.classViews[m.classes.indexOf(l as typeof m.classes[number])]?.prototypes ?? []);
  const imgs = js.flatMap((j) => {
    const p = mv.prototypes[j];
    if (!p) return [];
    const open = () => select({ kind: 'prototype', j });
    const out: HTMLElement[] = [];
    const border = `border-color:${state.colours[p.winningClass] ?? '#888'}`;
    if (m.hasImages && p.nearest.length) out.push(el('img', { src: imageUrl(p.nearest[0]), alt: `nearest image of p${j}`, title: `p${j} (class ${label(p.winningClass)}): its nearest training image`, style: border, 'data-j': j, onclick: open }));
    const r = reconstructionsApply() ? state.recs.get(j) : undefined;
    if (r) out.push(el('img', { class: 'rec', src: r.image, alt: `reconstruction of p${j}`, title: `p${j}: its reconstruction, q_j ${fmt(r.q)}`, style: border, 'data-j': j, onclick: open }));
    return out;
  });
  return imgs.length ? el('div', { class: 'finding-pics', 'data-testid': 'finding-pictures' }, ...imgs) : null;
}

function flag(text: string, kind: string, title: string): HTMLElement {
  return el('span', { class: `flag ${kind}`, 'data-testid': `flag-${kind}`, title, text });
}

function thumb(i: number, caption = true): HTMLElement {
  const m = state.map!;
  const f = el('figure', { class: 'thumb', 'data-index': i, title: `${m.names[i]} (class ${label(m.y[i])})`, onclick: () => pinSample(i) });
  if (m.hasImages) f.append(el('img', { src: imageUrl(i), alt: m.names[i], loading: 'lazy' }));
  else f.append(el('div', { class: 'noimg', text: `#${i}` }));
  if (caption) f.append(el('figcaption', { text: label(m.y[i]) }));
  return f;
}

function bars(rows: Array<{ name: string; value: number; colour?: string }>, max: number, testid: string): HTMLElement {
  return el('table', { class: 'bars', 'data-testid': testid }, ...rows.map((r) => el('tr', {},
    el('th', { text: r.name }),
    el('td', {}, el('div', { class: 'bar', style: `width:${Math.max(0, Math.min(100, (100 * r.value) / (max || 1)))}%;background:${r.colour ?? '#555'}` })),
    el('td', { class: 'num', text: fmt(r.value) }),
  )));
}

function prototypePanel(p: PrototypeView): HTMLElement[] {
  const m = state.map!;
  const w = p.weights.map((v, l) => ({ name: String(m.classes[l]), value: v, colour: state.colours[l] })).sort((a, b) => b.value - a.value);
  const shown = w.filter((r) => r.value > 0).slice(0, 12);
  const rules = state.model!.rules;
  const flags: HTMLElement[] = [];
  if (p.dead) flags.push(flag('dead', 'dead', rules['dead-prototype']));
  if (p.ambiguous) flags.push(flag('ambiguous', 'ambiguous', rules['ambiguous-prototype']));
  if (p.singleSample) flags.push(flag('single sample', 'singleton', rules['single-sample-prototype']));
  if (!p.dead && !p.ambiguous) flags.push(flag('not ambiguous, not dead', 'ok', `${rules['dead-prototype']} — ${rules['ambiguous-prototype']}`));
  const lead = p.leadingVariances.map((v, k) => `${fmt(v)} (${(100 * (p.leadingVarianceRatio[k] ?? 0)).toFixed(0)}%)`).join(', ');
  return [
    el('h2', { 'data-testid': 'prototype-title', text: `Prototype ${p.index} — class ${label(p.winningClass)}` }),
    el('div', { class: 'flags', 'data-testid': 'prototype-flags' }, ...flags),
    ...p.notes.map((t) => el('p', { class: 'note', text: t })),
    el('h3', { text: 'Class links (row of W)' }),
    shown.length ? bars(shown, Math.max(...shown.map((r) => r.value)), 'prototype-links') : el('p', { class: 'muted', text: 'no positive link' }),
    el('p', { class: 'muted', text: `${w.filter((r) => r.value > 0).length} positive of ${w.length} weights; its vote softmax(W_j): ${p.classProbabilities.slice(0, 3).map((c) => `${String(c.label)} ${fmt(c.probability, 2)}`).join(', ')}` }),
    el('h3', { text: 'Gaussian description' }),
    el('dl', { class: 'kv', 'data-testid': 'prototype-gaussian' },
      el('dt', { text: 'samples nearest to it' }), el('dd', { text: `${p.count}${p.count ? ` — ${p.classCounts.slice(0, 3).map((c) => `${c.count} of ${String(c.label)}`).join(', ')}` : ''}` }),
      el('dt', { text: 'purity' }), el('dd', { text: p.purity === null ? '—' : `${(100 * p.purity).toFixed(0)}%` }),
      el('dt', { text: 'mean / rms distance' }), el('dd', { text: `${fmt(p.meanDistance)} / ${fmt(p.rmsDistance)}` }),
      el('dt', { text: 'leading variances' }), el('dd', { text: lead || '—' }),
      el('dt', { text: 'total variance' }), el('dd', { text: fmt(p.totalVariance) }),
      el('dt', { text: 'τ (layer scale)' }), el('dd', { text: fmt(state.model!.tau) }),
    ),
  ];
}

/**
 * What a prototype looks like: its reconstruction x* (with its q_j and distance to p_j, and "not
 * reached" below the target), or why there is none, beside its nearest real images.
 */
function looksLike(p: PrototypeView): HTMLElement {
  const r = reconstructionsApply() ? state.recs.get(p.index) : undefined;
  const note = r
    ? `x*: an image found by gradient steps on the pixels (${r.steps} steps from a blank image) so that its feature lands on p${p.index}; q_j and the squared distance are measured on the 8-bit image shown. Its nearest real images beside it.`
    : `No reconstruction${whyNoReconstruction(p.index)}: its ${p.nearest.length} nearest real images stand for it.`;
  return el('div', { 'data-testid': 'prototype-looks' },
    el('h3', { text: `What it looks like` }),
    el('div', { class: 'looks' },
      reconstructionFigure(p.index, r),
      el('div', { class: 'thumbs', 'data-testid': 'prototype-nearest' }, ...p.nearest.map((i) => thumb(i))),
    ),
    el('p', { class: 'muted', 'data-testid': 'reconstruction-note', text: note }),
  );
}

/** Why prototype j has no reconstruction (yet), as a clause (", being computed" …). */
function whyNoReconstruction(j: number): string {
  const w = state.recWait.get(j);
  if (state.local) return ': the model was refitted in this page, and reconstructions are of the server\'s model';
  if (!reconstructionsApply(j)) return `: ${state.map!.reconstruct.how}`;
  if (w?.status === 'failed') return `: it failed (${w.error ?? 'unknown error'})`;
  return ' yet: it is being computed in the server';
}

function reconstructionFigure(j: number, r: LensReconstruction | undefined): HTMLElement {
  const fig = el('figure', { class: 'rec', 'data-testid': 'prototype-reconstruction' });
  if (r) {
    fig.classList.toggle('missed', !r.reached);
    fig.dataset.state = 'done';
    fig.append(
      el('img', { src: r.image, alt: `reconstruction of prototype ${j}`, title: `x*, ${r.width}×${r.height}: ${r.steps} steps from grey ${fmt(r.start, 2)}, seed ${r.seed}, ${fmt(r.seconds, 2)} s` }),
      el('div', { text: 'reconstruction x*' }),
      el('div', { 'data-testid': 'reconstruction-q', text: `q_j ${fmt(r.q)}` }),
      el('div', { 'data-testid': 'reconstruction-distance', text: `d² to p_j ${fmt(r.sqDistance)}` }),
    );
    if (!r.reached) fig.append(flag('not reached', 'dead', `q_j = ${fmt(r.q)} < ${r.qTarget}: the image does not reach the prototype`));
    if (r.bestPrototype !== j) fig.append(el('div', { class: 'muted', text: `best match p${r.bestPrototype} (${String(r.predicted)})` }));
    return fig;
  }
  const w = state.recWait.get(j);
  const busy = reconstructionsApply(j) && w?.status !== 'failed';
  fig.dataset.state = busy ? 'busy' : 'none';
  if (busy) {
    const text = w?.status === 'running' ? `reconstructing: step ${w.done} of ${w.total}` : w?.ahead ? `queued after ${w.ahead}` : 'reconstructing…';
    const bar = el('progress', { max: 1, value: w?.total ? w.done / w.total : 0 });
    fig.append(el('div', { class: 'none', 'data-testid': 'reconstruction-busy', text }), bar);
  } else {
    fig.append(el('div', { class: 'none', 'data-testid': 'reconstruction-none', text: 'no reconstruction' }));
  }
  return fig;
}

/** Redraws the "what it looks like" part of an open prototype panel. */
function renderLooks(j: number): void {
  const old = document.querySelector('[data-testid=prototype-looks]');
  const p = state.model!.prototypes[j];
  if (old && p && state.selected?.kind === 'prototype' && state.selected.j === j) old.replaceWith(looksLike(p));
}

/** Reconstructions being polled, by prototype. */
const asking = new Map<number, Promise<void>>();

/**
 * Asks the server for prototype j's reconstruction and polls its progress until it arrives (the
 * server computes it once, one prototype at a time, and keeps it).
 */
function askReconstruction(j: number): Promise<void> {
  if (!reconstructionsApply(j) || state.recs.has(j)) return Promise.resolve();
  const running = asking.get(j);
  if (running) return running;
  const run = (async () => {
    try {
      for (;;) {
        const r = await fetch(`./api/reconstruction/${j}`);
        const body = await r.json() as { status?: string; reconstruction?: LensReconstruction; error?: string } & Partial<Omit<ReconstructionWait, 'status'>>;
        if (r.status === 200 && body.status === 'done' && body.reconstruction) { state.recs.set(j, body.reconstruction); state.recWait.delete(j); break; }
        if (r.status !== 202) { state.recWait.set(j, { status: 'failed', done: 0, total: 0, error: body.error ?? `HTTP ${r.status}` }); break; }
        state.recWait.set(j, { status: body.status === 'running' ? 'running' : 'queued', done: body.done ?? 0, total: body.total ?? 0, ahead: body.ahead });
        renderLooks(j);
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    } catch (e) {
      state.recWait.set(j, { status: 'failed', done: 0, total: 0, error: (e as Error).message });
    } finally {
      asking.delete(j);
    }
    renderLooks(j);
    if (state.recs.has(j)) { mapView.setPrototypes(prototypePositions()); renderFindings(); }
  })();
  asking.set(j, run);
  return run;
}

/** The header's select: what stands for each prototype on the map; reconstructions are asked for, one after another. */
async function setPictures(v: PictureKind | 'none'): Promise<void> {
  state.pictures = v;
  redrawModel();
  if (v !== 'reconstruction' || !reconstructionsApply()) return;
  for (const p of state.model!.prototypes) {
    if (state.pictures !== 'reconstruction') return;
    await askReconstruction(p.index);
  }
}

function classPanel(l: number): HTMLElement[] {
  const mv = state.model!, c = mv.classViews[l], rules = mv.rules;
  const flags: HTMLElement[] = [];
  if (c.scattered) flags.push(flag(`scattered: ${c.modes.length} modes`, 'scattered', rules['scattered-class']));
  if (c.singleton) flags.push(flag('singleton', 'singleton', rules['singleton-class']));
  if (c.unbalanced) flags.push(flag('unbalanced', 'ambiguous', rules['unbalanced-class']));
  if (c.prototypes.length === 0) flags.push(flag('no prototype', 'dead', 'no prototype has it as its strongest link'));
  if (!flags.length) flags.push(flag('one mode', 'ok', rules['scattered-class']));
  return [
    el('h2', { 'data-testid': 'class-title', text: `Class ${String(c.label)}` }),
    el('div', { class: 'flags', 'data-testid': 'class-flags' }, ...flags),
    ...c.notes.map((t) => el('p', { class: 'note', text: t })),
    el('p', { text: `${c.count} samples · training accuracy ${(100 * c.accuracy).toFixed(1)}% · ${c.prototypes.length} prototype${c.prototypes.length === 1 ? '' : 's'}` }),
    el('h3', { text: 'Prototypes composing it' }),
    el('div', { class: 'protos', 'data-testid': 'class-prototypes' }, ...c.prototypes.map((j) => {
      const p = mv.prototypes[j];
      const mode = c.modes.findIndex((g) => g.includes(j));
      return el('button', { class: 'chip', onclick: () => select({ kind: 'prototype', j }), title: `${p.count} samples nearest${mode >= 0 ? `; mode ${mode + 1}` : ''}` },
        el('i', { class: 'diamond', style: `background:${state.colours[l]}` }), `p${j} (${p.count})`);
    })),
  ];
}

function samplePanel(i: number): Array<HTMLElement | null> {
  const m = state.map!;
  return [
    el('h2', { text: `Sample ${i} — class ${label(m.y[i])}` }),
    el('p', { class: 'muted', text: m.names[i] }),
    m.hasImages ? el('img', { class: 'big', src: imageUrl(i), alt: m.names[i] }) : null,
  ];
}

function applySelection(): void {
  const s = state.selected, d = $('detail'), mv = state.model!;
  if (!s) { d.hidden = true; mapView.setHighlight({}); return; }
  let body: Array<HTMLElement | null> = [];
  if (s.kind === 'prototype') {
    const p = mv.prototypes[s.j];
    if (!p) { state.selected = null; applySelection(); return; }
    body = [...prototypePanel(p), looksLike(p)];
    void askReconstruction(s.j);
    const pos = prototypePositions()[s.j];
    mapView.setHighlight({
      prototype: s.j, samples: p.nearest,
      ellipse: state.view === 'pca' && p.count > 0 ? { x: pos.x, y: pos.y, rx: 2 * Math.sqrt(p.mapVariances[0]), ry: 2 * Math.sqrt(p.mapVariances[1]) } : undefined,
    });
  } else if (s.kind === 'class') {
    body = classPanel(s.l);
    mapView.setHighlight({ cls: s.l });
  } else {
    body = samplePanel(s.i);
    mapView.setHighlight({});
  }
  d.dataset.kind = s.kind;
  d.replaceChildren(el('button', { class: 'close', title: 'Close', text: '×', onclick: () => select(null) }), ...body.filter((b): b is HTMLElement => b !== null));
  d.hidden = false;
}

function select(s: typeof state.selected): void {
  state.selected = s;
  applySelection();
}

function pinSample(i: number): void {
  mapView.setPinned(i);
  showTooltip(i, true);
  select({ kind: 'sample', i });
}

function showTooltip(i: number | null, pinned = false, clientX = 0, clientY = 0): void {
  const m = state.map!;
  if (i === null) {
    if (mapView.pinnedSample !== null) { showTooltip(mapView.pinnedSample, true); return; }
    tooltip.hidden = true;
    return;
  }
  if (tooltip.dataset.index !== String(i)) {
    tooltip.replaceChildren(
      m.hasImages ? el('img', { src: imageUrl(i), alt: m.names[i] }) : '',
      el('div', { class: 'tt-label', 'data-testid': 'tooltip-label', text: `class ${label(m.y[i])}` }),
      el('div', { class: 'muted', text: m.names[i] }),
      pinned ? el('div', { class: 'muted', text: 'pinned — click elsewhere to release' }) : '',
    );
    tooltip.dataset.index = String(i);
  }
  tooltip.dataset.pinned = String(pinned);
  const wrap = canvas.getBoundingClientRect();
  const q = pinned ? mapView.sampleScreen(i) : { x: clientX - wrap.left, y: clientY - wrap.top };
  tooltip.style.left = `${Math.min(q.x + 14, wrap.width - 160)}px`;
  tooltip.style.top = `${Math.min(q.y + 14, wrap.height - 150)}px`;
  tooltip.hidden = false;
}

/** A card for a hovered prototype: class, samples, flags (click opens its panel). */
function showPrototypeTooltip(j: number, clientX: number, clientY: number): void {
  const p = state.model!.prototypes[j];
  if (!p) return;
  const flags = [p.dead ? 'dead' : '', p.ambiguous ? 'ambiguous' : ''].filter(Boolean).join(', ');
  if (tooltip.dataset.index !== `p${j}`) {
    // Its picture, larger than on the map (the one the map draws).
    const pics = pictureChoice(), url = pics.pictures[j];
    tooltip.replaceChildren(
      url ? el('img', { src: url, alt: `prototype ${j}: ${pics.kinds[j] === 'reconstruction' ? 'its reconstruction' : 'its nearest training image'}` }) : '',
      el('div', { class: 'tt-label', 'data-testid': 'tooltip-label', text: `prototype ${j} — class ${label(p.winningClass)}` }),
      el('div', { text: `${p.count} sample${p.count === 1 ? '' : 's'} nearest${flags ? ` · ${flags}` : ''}` }),
      el('div', { class: 'muted', text: 'click for its panel' }),
    );
  }
  tooltip.dataset.index = `p${j}`;
  tooltip.dataset.pinned = 'false';
  const wrap = canvas.getBoundingClientRect();
  tooltip.hidden = false;
  tooltip.style.left = `${Math.min(clientX - wrap.left + 14, wrap.width - 160)}px`;
  tooltip.style.top = `${Math.max(0, Math.min(clientY - wrap.top + 14, wrap.height - tooltip.offsetHeight - 4))}px`;
}

mapView.onHover = ({ sample, prototype, clientX, clientY }) => {
  if (prototype !== null) showPrototypeTooltip(prototype, clientX, clientY);
  else if (sample !== null) showTooltip(sample, false, clientX, clientY);
  else showTooltip(null);
};
mapView.onClickSample = (i) => pinSample(i);
// Labels stay clear of the legend drawn over the map's top-left corner (its box measured when it changes size, not every frame).
let legendBox: Array<{ x0: number; y0: number; x1: number; y1: number }> | null = null;
new ResizeObserver(() => { legendBox = null; }).observe($('legend'));
mapView.keepClear = () => {
  if (!legendBox) {
    const c = canvas.getBoundingClientRect(), l = $('legend').getBoundingClientRect();
    legendBox = l.width && l.height ? [{ x0: l.left - c.left, y0: l.top - c.top, x1: l.right - c.left, y1: l.bottom - c.top }] : [];
  }
  return legendBox;
};
mapView.onClickPrototype = (j) => select({ kind: 'prototype', j });
mapView.onClickEmpty = () => { mapView.setPinned(null); tooltip.hidden = true; tooltip.dataset.index = ''; };
mapView.onFrame = () => { if (mapView.pinnedSample !== null && !tooltip.hidden && tooltip.dataset.pinned === 'true') showTooltip(mapView.pinnedSample, true); };

// Classify an image.
function renderClassified(c: Classified): void {
  const e = c.explanation, m = state.map!;
  const top = e.probabilities.slice(0, 5).map((p) => ({ name: String(p.label), value: p.probability, colour: state.colours[m.classes.indexOf(p.label)] }));
  $('classify-result').replaceChildren(
    el('div', { class: 'classified' },
      el('img', { src: c.imageUrl, alt: c.name }),
      el('div', {},
        el('div', { class: 'big-label', 'data-testid': 'classify-label', text: e.unknown ? 'unknown' : String(e.label) }),
        el('div', { text: `${e.unknown ? `nearest class ${String(e.label)}, ` : ''}p = ${fmt(e.probability)} · margin ${fmt(e.margin)}` }),
        e.unknown ? flag('unknown', 'unknown', 'beyond the model\'s rejection threshold (docs/openset.md)')
          : e.ambiguous ? flag('ambiguous', 'ambiguous', e.ambiguityRule) : flag('clear', 'ok', e.ambiguityRule),
      ),
    ),
    // Novelty: how far the image is from everything the model has seen, and the verdict's reason.
    ...(e.novelty ? [el('p', { class: e.unknown ? 'novelty unknown' : 'novelty muted', 'data-testid': 'classify-novelty', text: `Novelty (${e.novelty.kind}): ${e.novelty.reason}` })] : []),
    el('h3', { text: 'Class probabilities' }),
    bars(top, 1, 'classify-probabilities'),
    el('h3', { text: e.unknown ? 'Nearest prototypes' : 'Top prototypes' }),
    el('table', { class: 'protos-table', 'data-testid': 'classify-prototypes' },
      el('tr', {}, el('th', { text: 'prototype' }), el('th', { text: 'q' }), el('th', { text: '‖x − p‖²' }), el('th', { text: 'votes for' })),
      ...e.prototypes.map((p) => el('tr', { onclick: () => select({ kind: 'prototype', j: p.index }), class: 'clickable' },
        el('td', { text: `p${p.index}` }), el('td', { class: 'num', text: fmt(p.q) }), el('td', { class: 'num', text: fmt(p.sqDistance) }),
        el('td', { text: p.links.slice(0, 2).map((k) => `${String(k.label)} (${fmt(k.weight, 2)})`).join(', ') || String(p.winningClass) }),
      )),
    ),
    el('p', { class: 'muted', text: `${e.ambiguityRule}. Effective prototypes ${fmt(e.effectivePrototypes)}; normalised entropy ${fmt(e.normalizedEntropy)}.` }),
    el('p', { class: 'muted', 'data-testid': 'classify-where', text: c.where === 'page' ? 'Embedded in this page (onnxruntime-web).' : `Embedded in the server${state.inPageFailure ? ` (the page could not: ${state.inPageFailure})` : ''}.` }),
  );
}

/** Re-explains a classified feature with the page's refitted model, when there is one. */
function reexplain(c: Classified): Classified {
  if (!state.local) return c;
  const x = Float32Array.from(c.feature);
  const xy = project(state.map!.projection, { data: x, rows: 1, cols: x.length });
  return { ...c, explanation: state.local.explain(x, 5), position: { x: xy[0], y: xy[1] ?? 0 } };
}

interface ClassifyReply { error?: string; explanation: Explanation; position: { x: number; y: number }; nearest: number[]; feature: number[] }

/** The image embedded in the page (an ONNX backbone, onnxruntime-web) and explained by the server; null when the page cannot. */
async function classifyInPage(file: File): Promise<ClassifyReply | null> {
  const spec = state.map?.classify.inPage;
  if (!spec || state.inPageFailure) return null;
  let x: Float32Array;
  try {
    const { embedInPage } = await import('./inpage.ts');
    x = await embedInPage(file, spec);
  } catch (e) {
    state.inPageFailure = (e as Error).message || String(e);
    return null;
  }
  const r = await fetch('./api/explain', { method: 'POST', body: JSON.stringify({ x: Array.from(x) }), headers: { 'Content-Type': 'application/json' } });
  const body = await r.json() as ClassifyReply;
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return { ...body, feature: Array.from(x) };
}

async function classify(file: File): Promise<void> {
  const box = $('classify-result');
  box.replaceChildren(el('p', { class: 'muted', 'data-testid': 'classify-busy', text: `embedding ${file.name}… (the first image loads the network)` }));
  try {
    let body = await classifyInPage(file);
    const where = body ? 'page' : 'server';
    if (!body) {
      const r = await fetch('./api/classify', { method: 'POST', body: file, headers: { 'Content-Type': file.type || 'application/octet-stream' } });
      body = await r.json() as ClassifyReply;
      if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
    }
    if (state.classified) URL.revokeObjectURL(state.classified.imageUrl);
    state.classified = reexplain({ explanation: body.explanation, position: body.position, nearest: body.nearest, feature: body.feature, imageUrl: URL.createObjectURL(file), name: file.name, where });
    renderClassified(state.classified);
    const ex = state.classified.explanation;
    mapView.setMarker({ ...markerPosition(state.classified), label: ex.unknown ? `new: unknown (nearest ${String(ex.label)})` : `new: ${String(ex.label)}` });
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error', 'data-testid': 'classify-error', text: `Could not classify ${file.name}: ${(e as Error).message}` }));
  }
}

const fileInput = $<HTMLInputElement>('file');
fileInput.addEventListener('change', () => { const f = fileInput.files?.[0]; if (f) void classify(f); fileInput.value = ''; });
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files?.[0];
  if (f) void classify(f);
});

// Refit in a worker.
async function features(): Promise<Float32Array> {
  if (state.features) return state.features;
  const r = await fetch('./api/features.f32');
  if (!r.ok) throw new Error(`features: HTTP ${r.status}`);
  state.features = new Float32Array(await r.arrayBuffer());
  return state.features;
}

async function refit(e: Event): Promise<void> {
  e.preventDefault();
  const m = state.map!;
  const J = Number(($('refit-j') as HTMLInputElement).value);
  const alpha = Number(($('refit-alpha') as HTMLInputElement).value);
  const regularization = ($('refit-reg') as HTMLSelectElement).value as 'l1' | 'l2';
  const st = $('refit-status'), bar = $<HTMLProgressElement>('refit-progress'), go = $<HTMLButtonElement>('refit-go');
  if (!Number.isInteger(J) || J < m.classes.length || J > m.n) { st.textContent = `J must be an integer between ${m.classes.length} (the number of classes) and ${m.n} (the number of samples)`; return; }
  if (!(alpha >= 0)) { st.textContent = 'α must be a non-negative number'; return; }
  go.disabled = true;
  bar.hidden = false;
  bar.value = 0;
  st.textContent = 'loading features…';
  const t0 = performance.now();
  try {
    const X = (await features()).slice();
    const w = new Worker(new URL('./refit.worker.ts', import.meta.url), { type: 'module' });
    const done = await new Promise<Extract<RefitReply, { type: 'done' }>>((resolve, reject) => {
      w.onmessage = (ev: MessageEvent<RefitReply>) => {
        const r = ev.data;
        if (r.type === 'progress') {
          bar.value = r.iter / r.maxIter;
          st.textContent = `iteration ${r.iter}/${r.maxIter}: loss ${fmt(r.loss, 4)}, training accuracy ${(100 * r.accuracy).toFixed(1)}%`;
        } else if (r.type === 'error') reject(new Error(r.message));
        else resolve(r);
      };
      w.onerror = (ev) => reject(new Error(ev.message || 'worker failed'));
      const req: RefitRequest = {
        X, rows: m.n, cols: m.d, y: m.y.map((l) => m.classes[l]),
        options: { ...(m.fitParams as PrototypeOptions), nPrototypes: J, alpha, regularization },
      };
      w.postMessage(req, [X.buffer]);
    });
    w.terminate();
    state.local = PrototypeClassifier.fromJSON(done.model as ModelJSON);
    state.model = done.view;
    state.refits++;
    if (state.selected?.kind === 'prototype' && state.selected.j >= done.view.J) state.selected = null;
    if (state.classified) { state.classified = reexplain(state.classified); renderClassified(state.classified); }
    redrawModel();
    bar.value = 1;
    st.textContent = `refitted J = ${done.view.J}, α = ${alpha}, ${regularization.toUpperCase()} in ${((performance.now() - t0) / 1000).toFixed(1)} s: training accuracy ${(100 * done.view.accuracy).toFixed(1)}%`;
    st.dataset.done = String(state.refits);
  } catch (err) {
    st.textContent = `refit failed: ${(err as Error).message}`;
  } finally {
    go.disabled = false;
  }
}
$('refit').addEventListener('submit', (e) => void refit(e));

$('view-pca').addEventListener('click', () => setView('pca'));
$('view-umap').addEventListener('click', () => void showUmap());
$('reset-view').addEventListener('click', () => mapView.fit());
$('pictures').addEventListener('change', (e) => void setPictures((e.target as HTMLSelectElement).value as PictureKind | 'none'));
// Keyboard: Escape closes panels; +/− zoom, arrows pan, 0 fits (unless typing in a field).
window.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') { select(null); mapView.setPinned(null); tooltip.hidden = true; return; }
  const t = e.target as HTMLElement | null;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
  const moves: Record<string, () => void> = {
    '+': () => mapView.zoom(1.25), '=': () => mapView.zoom(1.25), '-': () => mapView.zoom(0.8), '0': () => mapView.fit(),
    ArrowLeft: () => mapView.pan(60, 0), ArrowRight: () => mapView.pan(-60, 0), ArrowUp: () => mapView.pan(0, 60), ArrowDown: () => mapView.pan(0, -60),
  };
  const f = moves[e.key];
  if (f) { e.preventDefault(); f(); }
});

async function start(): Promise<void> {
  try {
    const r = await fetch('./api/map');
    if (!r.ok) throw new Error(`map: HTTP ${r.status}`);
    const m = await r.json() as ExplorerMap;
    state.map = m;
    state.model = m.model;
    state.colours = classColours(m.classes.length);
    state.pca = Float32Array.from(m.points);
    ($('refit-j') as HTMLInputElement).value = String(m.model.J);
    ($('refit-alpha') as HTMLInputElement).value = String(m.model.params.alpha);
    ($('refit-reg') as HTMLSelectElement).value = m.model.params.regularization;
    if (!m.classify.available) {
      $('drop').classList.add('disabled');
      $('classify-result').replaceChildren(el('p', { class: 'muted', text: `Images cannot be classified here: ${m.classify.how}.` }));
    } else $('drop').title = `embedded with ${m.classify.how}`;
    const pictures = $<HTMLSelectElement>('pictures');
    if (!m.reconstruct.available && !m.reconstruct.known.length) {
      const o = pictures.querySelector<HTMLOptionElement>('option[value=reconstruction]')!;
      o.disabled = true;
      o.title = `no reconstructions: ${m.reconstruct.how}`;
    }
    state.pictures = pictures.value as PictureKind | 'none';
    setView('pca');
    // A report's reconstructions: at once (the server has them).
    for (const j of m.reconstruct.known) void askReconstruction(j);
    mapView.drawNow();
    state.ready = true;
    document.body.dataset.ready = 'true';
  } catch (e) {
    state.error = (e as Error).message;
    $('summary').textContent = `Could not load the map: ${state.error}`;
  }
}
void start();
