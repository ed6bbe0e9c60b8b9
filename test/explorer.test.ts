// The web explorer in Debian's Chromium, driven by playwright-core: the page built by Vite, served
// by `startExplorerServer`, on (1) a quick source — mnist digits with grey-pixel features — for
// the panels, classification, UMAP and refit, and (2) the embedded default of `protolens serve`
// (MobileNetV2 features through the feature cache). Screenshots go to $PROTOLENS_SCREENSHOTS
// (default /tmp/protolens-explorer) for people to look at.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromium as chromiumNeed, chromiumPath } from './helpers/chromium.ts';
import { ensureWebBuild } from '../src/server/build.node.ts';
import { startExplorerServer, type ExplorerServer, type ExplorerSource } from '../src/server/server.node.ts';
import { digitsSource, fileSource } from '../src/server/sources.node.ts';
import { findingPrototypes } from '../src/viz/pictures.ts';
import type { LensReconstruction } from '../src/viz/lens.ts';
import { tinyExplorerSource } from './helpers/tiny-explorer.ts';
import { mnistDigits } from '../src/data/mnist.node.ts';
import type { ExplorerMap } from '../src/viz/mapdata.ts';
import sharp from 'sharp';

const SHOTS = process.env.PROTOLENS_SCREENSHOTS ?? join(tmpdir(), 'protolens-explorer');
const skip = chromiumNeed.skip;

interface Hooks {
  ready: boolean; error: string; samples: number; prototypes: number; n: number; J: number; view: string; refits: number; umapReady: boolean;
  classified: { label: string } | null;
  modelView: { prototypes: Array<{ x: number; y: number }> };
  prototypeScreen(j: number): { x: number; y: number } | null;
  sampleScreen(i: number): { x: number; y: number };
  reconstructions: number[];
}
declare const window: { __protolens: Hooks };

let context: BrowserContext;
let profile: string;
let webDir: string;

async function open(server: ExplorerServer): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url);
  await page.waitForFunction(() => window.__protolens?.ready || window.__protolens?.error, null, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.__protolens.error), '');
  assert.deepEqual(errors, []);
  return page;
}

const hooks = (page: Page) => page.evaluate(() => {
  const h = window.__protolens;
  return { samples: h.samples, prototypes: h.prototypes, n: h.n, J: h.J, view: h.view, refits: h.refits, umapReady: h.umapReady, classified: h.classified };
});

/**
 * The prototypes' pictures on the map (index, src, loaded width) and the boxes of the labels
 * shown, measured in the page.
 */
async function mapPictures(page: Page) {
  await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('img.proto-pic')).every((i) => i.complete));
  // (No named functions inside: the page does not have the test runner's helpers.)
  return page.evaluate(() => {
    const pics = Array.from(document.querySelectorAll<HTMLImageElement>('img.proto-pic'));
    const labels = Array.from(document.querySelectorAll<HTMLElement>('.proto-label')).filter((e) => e.style.display !== 'none');
    return {
      pictures: pics.map((i) => {
        const b = i.getBoundingClientRect();
        return { j: Number(i.dataset.j), src: i.getAttribute('src') ?? '', naturalWidth: i.naturalWidth, box: { x0: b.left, y0: b.top, x1: b.right, y1: b.bottom } };
      }),
      labels: labels.map((e) => {
        const b = e.getBoundingClientRect();
        return { j: Number(e.dataset.j), text: e.textContent ?? '', box: { x0: b.left, y0: b.top, x1: b.right, y1: b.bottom }, fits: e.scrollWidth <= e.clientWidth + 1 };
      }),
    };
  });
}

type Box = { x0: number; y0: number; x1: number; y1: number };
/** Whether two boxes overlap by more than half a pixel each way. */
const overlap = (a: Box, b: Box) => Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) > 0.5 && Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) > 0.5;

/** Clicks the map at a point given in canvas coordinates. */
async function clickMap(page: Page, p: { x: number; y: number }): Promise<void> {
  const box = (await page.locator('#map').boundingBox())!;
  await page.mouse.click(box.x + p.x, box.y + p.y);
}

before(async () => {
  if (skip) return;
  chromiumNeed.check();
  mkdirSync(SHOTS, { recursive: true });
  webDir = await ensureWebBuild();
  profile = mkdtempSync(join(tmpdir(), 'protolens-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('explorer page (digits, pixel features)', { skip }, () => {
  let server: ExplorerServer;
  let source: ExplorerSource;
  let map: ExplorerMap;
  let page: Page;

  before(async () => {
    if (skip) return;
    source = await digitsSource({ perClass: 10, backbone: 'pixels-14', model: { nPrototypes: 20, maxIter: 40 } });
    server = await startExplorerServer(source, { webDir });
    map = server.map;
    page = await open(server);
  });
  after(async () => { await page?.close(); await server?.close(); });

  it('draws one marker per sample and one diamond per prototype', async () => {
    const h = await hooks(page);
    assert.equal(h.n, 100);
    assert.equal(h.samples, 100);
    assert.equal(h.prototypes, 20);
    assert.equal(await page.locator('#map').getAttribute('data-samples'), '100');
    assert.equal(await page.locator('#map').getAttribute('data-prototypes'), '20');
    assert.equal(await page.locator('#legend .chip').count(), 10);
  });

  it('draws each prototype as its picture (its nearest training image), each loaded, and no two labels overlap', async () => {
    const { pictures, labels } = await mapPictures(page);
    assert.deepEqual(pictures.map((p) => p.j).sort((a, b) => a - b), Array.from({ length: 20 }, (_, j) => j), 'one picture per prototype');
    for (const p of pictures) {
      assert.ok(p.naturalWidth > 0, `the picture of p${p.j} loaded`);
      assert.equal(p.src, `./api/image/${map.model.prototypes[p.j].nearest[0]}?v=${map.version}`, `p${p.j}: its nearest training image`);
    }
    assert.ok(labels.length >= 10, `most labels find a free place: ${labels.length} of 20`);
    for (const [k, a] of labels.entries()) {
      assert.equal(a.text, String(map.classes[map.model.prototypes[a.j].winningClass]));
      assert.ok(a.fits, `label of p${a.j} holds its text`);
      for (const b of labels.slice(k + 1)) assert.ok(!overlap(a.box, b.box), `labels of p${a.j} and p${b.j} overlap: ${JSON.stringify([a.box, b.box])}`);
      for (const p of pictures) assert.ok(!overlap(a.box, p.box), `label of p${a.j} covers the picture of p${p.j}`);
    }
    await page.screenshot({ path: join(SHOTS, 'pixels-map-pictures.png') });
    // Hovering a prototype shows its picture, larger, in its card.
    const j = pictures[0].j;
    const at = (await page.evaluate((k) => window.__protolens.prototypeScreen(k), j))!;
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + at.x, box.y + at.y);
    await page.waitForSelector('#tooltip:not([hidden]) img');
    assert.equal(await page.locator('#tooltip img').getAttribute('src'), pictures[0].src);
    assert.match((await page.locator('[data-testid=tooltip-label]').textContent())!, new RegExp(`^prototype ${j} — class `));
    await page.mouse.move(box.x + 2, box.y + box.height - 2);
  });

  it('zooms with the wheel (markers leave the view), and fits back with the 0 key', async () => {
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let k = 0; k < 4; k++) await page.mouse.wheel(0, -400);
    await page.waitForFunction(() => window.__protolens.samples < 100);
    const zoomed = await hooks(page);
    assert.ok(zoomed.samples > 0 && zoomed.samples < 100, `after zooming in ${zoomed.samples} markers are in view`);
    await page.keyboard.press('0');
    await page.waitForFunction(() => window.__protolens.samples === 100);
    assert.equal((await hooks(page)).prototypes, 20);
  });

  it('shows a sample\'s image and label on hover', async () => {
    // A sample with no diamond over it (prototypes take the hover first).
    const i = await page.evaluate(() => {
      const h = window.__protolens;
      const protos = Array.from({ length: h.J }, (_, j) => h.prototypeScreen(j)!);
      for (let k = 0; k < h.n; k++) {
        const q = h.sampleScreen(k);
        if (protos.every((p) => Math.max(Math.abs(p.x - q.x), Math.abs(p.y - q.y)) > 24)) return k;
      }
      return -1;
    });
    assert.ok(i >= 0);
    const p = await page.evaluate((k) => window.__protolens.sampleScreen(k), i);
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + p.x, box.y + p.y);
    await page.waitForSelector('#tooltip:not([hidden]) img');
    assert.equal(await page.locator('[data-testid=tooltip-label]').textContent(), `class ${source.y[i]}`);
  });

  it('opens a prototype\'s panel: links, nearest samples, Gaussian description, flags', async () => {
    const p = map.model.prototypes.find((q) => q.count > 0)!;
    const at = await page.evaluate((j) => window.__protolens.prototypeScreen(j), p.index);
    await clickMap(page, at!);
    const title = page.locator('[data-testid=prototype-title]');
    await title.waitFor();
    assert.equal(await title.textContent(), `Prototype ${p.index} — class ${map.classes[p.winningClass]}`);
    assert.equal(await page.locator('[data-testid=prototype-nearest] img').count(), 12);
    const firstThumb = await page.locator('[data-testid=prototype-nearest] figure').first().getAttribute('data-index');
    assert.equal(Number(firstThumb), p.nearest[0]);
    assert.equal(await page.locator('[data-testid=prototype-links] tr').count(), Math.min(12, p.weights.filter((w) => w > 0).length));
    // Grey-pixel features: no network to reconstruct through, and the panel says so; its nearest images stand for it.
    assert.equal(await page.locator('[data-testid=prototype-reconstruction]').getAttribute('data-state'), 'none');
    assert.equal(await page.locator('[data-testid=reconstruction-note]').textContent(),
      'No reconstruction: the features are the images\' own grey pixels: there is no network to reconstruct through: its 12 nearest real images stand for it.');
    const gauss = await page.locator('[data-testid=prototype-gaussian]').textContent();
    assert.ok(gauss!.includes('leading variances'));
    assert.equal(await page.locator('[data-testid=flag-ambiguous]').count(), p.ambiguous ? 1 : 0);
    assert.equal(await page.locator('[data-testid=flag-dead]').count(), p.dead ? 1 : 0);
    await page.screenshot({ path: join(SHOTS, 'pixels-prototype-panel.png') });
  });

  it('opens a class panel listing the prototypes that compose it', async () => {
    const l = 1;
    await page.locator(`[data-testid=legend-${l}]`).click();
    await page.locator('[data-testid=class-title]').waitFor();
    assert.equal(await page.locator('[data-testid=class-title]').textContent(), `Class ${map.classes[l]}`);
    assert.equal(await page.locator('[data-testid=class-prototypes] .chip').count(), map.model.classViews[l].prototypes.length);
    const flags = await page.locator('[data-testid=class-flags]').textContent();
    assert.equal(flags!.includes('scattered'), map.model.classViews[l].scattered);
  });

  it('classifies a dropped image: label, probabilities, top prototypes, margin, ambiguity', async () => {
    const { png } = await mnistDigits(10);
    const i = 73; // a digit 7 of the training set, whose pixel feature is row 73
    await page.locator('[data-testid=file]').setInputFiles({ name: 'seven.png', mimeType: 'image/png', buffer: Buffer.from(png[i]) });
    await page.locator('[data-testid=classify-label]').waitFor();
    const expected = String(source.model.predict([Array.from(source.X.data.subarray(i * 196, (i + 1) * 196))])[0]);
    assert.equal(await page.locator('[data-testid=classify-label]').textContent(), expected);
    assert.equal((await hooks(page)).classified?.label, expected);
    assert.equal(await page.locator('[data-testid=classify-prototypes] tr').count(), 6); // header + 5
    assert.ok((await page.locator('[data-testid=classify-probabilities] tr').count()) >= 2);
    const text = await page.locator('[data-testid=classify-result]').textContent();
    assert.match(text!, /margin \d/);
    await page.screenshot({ path: join(SHOTS, 'pixels-classified.png') });
  });

  it('answers "unknown" for an image beyond the model\'s rejection threshold, with its nearest prototypes and the reason', async () => {
    const inner = source.model;
    inner.calibrate(source.X, source.y, { targetFalseRejection: 0.05 }); // on its own samples: enough for the page
    try {
      const grey = await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
      await page.locator('[data-testid=file]').setInputFiles({ name: 'grey.png', mimeType: 'image/png', buffer: grey });
      await page.waitForFunction(() => document.querySelector('[data-testid=classify-result] img')?.getAttribute('alt') === 'grey.png');
      assert.equal(await page.locator('[data-testid=classify-label]').textContent(), 'unknown');
      assert.equal(await page.locator('[data-testid=flag-unknown]').count(), 1);
      assert.match((await page.locator('[data-testid=classify-novelty]').textContent())!, /^Novelty \(spread\): unknown: nearest prototype p\d+ at [\d.]+ spreads; threshold [\d.]+$/);
      assert.equal(await page.locator('[data-testid=classify-prototypes] tr').count(), 6); // header + the 5 nearest
      assert.match((await page.locator('[data-testid=classify-result]').textContent())!, /Nearest prototypes/);
    } finally {
      inner.temperature_ = 1; inner.rejection_ = null; inner.calibration_ = null;
    }
  });

  it('classifies an image dropped on the box', async () => {
    const { png } = await mnistDigits(10);
    const i = 15; // a digit 1 of the training set
    const dt = await page.evaluateHandle((b64) => {
      const t = new DataTransfer();
      t.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'dropped.png', { type: 'image/png' }));
      return t;
    }, Buffer.from(png[i]).toString('base64'));
    await page.dispatchEvent('[data-testid=drop]', 'drop', { dataTransfer: dt });
    await page.waitForFunction(() => document.querySelector('[data-testid=classify-result] img')?.getAttribute('alt') === 'dropped.png');
    const expected = String(source.model.predict([Array.from(source.X.data.subarray(i * 196, (i + 1) * 196))])[0]);
    assert.equal(await page.locator('[data-testid=classify-label]').textContent(), expected);
  });

  it('switches to the UMAP view with the same markers', async () => {
    await page.locator('[data-testid=view-umap]').click();
    await page.waitForFunction(() => window.__protolens.umapReady && window.__protolens.view === 'umap', null, { timeout: 30_000 });
    const h = await hooks(page);
    assert.equal(h.samples, 100);
    assert.equal(h.prototypes, 20);
    await page.screenshot({ path: join(SHOTS, 'pixels-umap.png') });
    await page.locator('[data-testid=view-pca]').click();
  });

  it('refits in a worker with the server\'s options: the same J gives the same prototypes', async () => {
    await page.locator('[data-testid=refit-go]').click(); // J, α and penalty as loaded
    await page.waitForFunction(() => window.__protolens.refits === 1, null, { timeout: 30_000 });
    // Same data, same options, same seed: the worker's fit matches the server's.
    const view = await page.evaluate(() => window.__protolens.modelView.prototypes.map((p) => [p.x, p.y]));
    const fromServer = map.model.prototypes.map((p) => [p.x, p.y]);
    const scale = Math.max(...fromServer.flat().map(Math.abs));
    assert.equal(view.length, fromServer.length);
    view.forEach(([x, y], j) => {
      assert.ok(Math.abs(x - fromServer[j][0]) <= 1e-3 * scale && Math.abs(y - fromServer[j][1]) <= 1e-3 * scale, `prototype ${j}: ${x},${y} vs ${fromServer[j]}`);
    });
  });

  it('refits in a worker: the number of diamonds follows J', async () => {
    await page.locator('[data-testid=refit-j]').fill('12');
    await page.locator('[data-testid=refit-go]').click();
    await page.waitForFunction(() => window.__protolens.refits === 2, null, { timeout: 30_000 });
    const h = await hooks(page);
    assert.equal(h.J, 12);
    assert.equal(h.prototypes, 12);
    assert.equal(h.samples, 100);
    assert.match((await page.locator('[data-testid=refit-status]').textContent())!, /refitted J = 12/);
    await page.screenshot({ path: join(SHOTS, 'pixels-refit-j12.png') });
  });
});

describe('explorer page (digits, pixel features, J = 25: findings of every kind)', { skip }, () => {
  let server: ExplorerServer;
  let map: ExplorerMap;
  let page: Page;

  before(async () => {
    if (skip) return;
    // 25 prototypes on 100 digits, not pruned (as fit --no-prune leaves them): a scattered class, an ambiguous, a dead and single-sample prototypes
    // (α = 1e-3, the default before 2026-12-01, whose stronger penalty leaves prototypes dead and ambiguous).
    server = await startExplorerServer(await digitsSource({ perClass: 10, backbone: 'pixels-14', model: { nPrototypes: 25, maxIter: 40, prune: false, alpha: 1e-3 } }), { webDir });
    map = server.map;
    page = await open(server);
  });
  after(async () => { await page?.close(); await server?.close(); });

  it('draws 25 pictures, each loaded, and no two labels overlap', async () => {
    const { pictures, labels } = await mapPictures(page);
    assert.equal(pictures.length, 25);
    for (const p of pictures) assert.ok(p.naturalWidth > 0, `the picture of p${p.j} loaded`);
    assert.ok(labels.length >= 12, `most labels find a free place: ${labels.length} of 25`);
    for (const [k, a] of labels.entries()) for (const b of labels.slice(k + 1)) assert.ok(!overlap(a.box, b.box), `labels of p${a.j} and p${b.j} overlap`);
  });

  it('shows a finding\'s prototypes as small pictures beside its sentence; a click opens that prototype', async () => {
    const mv = map.model;
    assert.deepEqual(new Set(mv.findings.map((f) => f.kind)), new Set(['scattered-class', 'ambiguous-prototype', 'single-sample-prototype', 'dead-prototype']));
    const kinds = [...new Set(mv.findings.map((f) => f.kind))];
    const expected = kinds.flatMap((k) => mv.findings.filter((f) => f.kind === k))
      .map((f) => findingPrototypes(f, (l) => mv.classViews[map.classes.indexOf(l as string)]?.prototypes ?? []));
    assert.ok(expected.some((js) => js.length > 0), 'some finding is about prototypes');
    await page.evaluate(() => document.querySelectorAll<HTMLDetailsElement>('#findings details').forEach((d) => { d.open = true; }));
    const shown = await page.$$eval('#findings li[data-kind]', (lis) => lis.map((li) => Array.from(li.querySelectorAll<HTMLImageElement>('[data-testid=finding-pictures] img')).map((i) => Number(i.dataset.j))));
    assert.deepEqual(shown, expected, 'each finding: its prototypes\' nearest images, in order');
    const k = expected.findIndex((js) => js.length > 0);
    await page.locator('#findings li[data-kind]').nth(k).locator('[data-testid=finding-pictures] img').first().click();
    assert.equal(await page.locator('[data-testid=prototype-title]').textContent(),
      `Prototype ${expected[k][0]} — class ${map.classes[mv.prototypes[expected[k][0]].winningClass]}`);
    await page.screenshot({ path: join(SHOTS, 'pixels-findings.png') });
  });

});

describe('explorer page (a tiny TF.js network: reconstructions)', { skip }, () => {
  let dir: string;
  let server: ExplorerServer;
  let page: Page;

  before(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'protolens-explorer-rec-'));
    server = await startExplorerServer(await tinyExplorerSource(dir), { webDir });
    page = await open(server);
  });
  after(async () => {
    await page?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a prototype\'s panel shows its reconstruction, with its q_j and distance to p_j, beside its nearest real images', async () => {
    const at = await page.evaluate(() => window.__protolens.prototypeScreen(0));
    await clickMap(page, at!);
    await page.locator('[data-testid=prototype-reconstruction][data-state=done] img').waitFor({ timeout: 60_000 });
    const r = ((await (await fetch(`${server.url}api/reconstruction/0`)).json()) as { reconstruction: LensReconstruction }).reconstruction;
    const q = (await page.locator('[data-testid=reconstruction-q]').textContent())!;
    assert.match(q, /^q_j \d/);
    assert.ok(Math.abs(Number(q.slice(4)) - r.q) < 5e-3, `the page shows q_j ${q}, the server measured ${r.q}`);
    const d = (await page.locator('[data-testid=reconstruction-distance]').textContent())!;
    assert.ok(Math.abs(Number(d.replace('d² to p_j ', '')) - r.sqDistance) <= 1e-3 * Math.max(1, r.sqDistance), `${d} against ${r.sqDistance}`);
    assert.equal(await page.locator('[data-testid=prototype-reconstruction] [data-testid=flag-dead]').count(), r.reached ? 0 : 1, '"not reached" exactly when q_j < 0.9');
    const img = page.locator('[data-testid=prototype-reconstruction] img');
    assert.equal(await img.getAttribute('src'), r.image);
    assert.ok(await img.evaluate((i: HTMLImageElement) => i.naturalWidth) > 0);
    assert.equal(await page.locator('[data-testid=prototype-looks] [data-testid=prototype-nearest] img').count(), 12, 'beside its 12 nearest images');
    await page.screenshot({ path: join(SHOTS, 'tiny-reconstruction-panel.png') });
  });

  it('draws the reconstructions on the map when asked, each loaded, labels apart', async () => {
    await page.locator('[data-testid=pictures]').selectOption('reconstruction');
    await page.waitForFunction(() => window.__protolens.reconstructions.length === 3, null, { timeout: 60_000 });
    await page.waitForFunction(() => Array.from(document.querySelectorAll('img.proto-pic')).every((i) => i.getAttribute('src')!.startsWith('data:image/png')));
    const { pictures, labels } = await mapPictures(page);
    assert.deepEqual(pictures.map((p) => p.j).sort(), [0, 1, 2]);
    for (const p of pictures) assert.ok(p.naturalWidth > 0);
    assert.equal(labels.length, 3);
    for (const [k, a] of labels.entries()) for (const b of labels.slice(k + 1)) assert.ok(!overlap(a.box, b.box));
  });

  it('with a report\'s reconstructions (serve --reconstructions), the page has them on load, before any panel is opened', async () => {
    const recs = await Promise.all([0, 1, 2].map(async (j) => ((await (await fetch(`${server.url}api/reconstruction/${j}`)).json()) as { reconstruction: LensReconstruction }).reconstruction));
    writeFileSync(join(dir, 'reconstructions.json'), JSON.stringify(recs));
    const s2 = await startExplorerServer(await fileSource({
      features: join(dir, 'f.npy'), model: join(dir, 'm.json'), images: join(dir, 'images'), reconstructions: join(dir, 'reconstructions.json'), cacheDir: false,
    }), { webDir });
    const p2 = await open(s2);
    try {
      await p2.waitForFunction(() => window.__protolens.reconstructions.length === 3);
      await p2.locator('[data-testid=pictures]').selectOption('reconstruction');
      await p2.waitForFunction(() => Array.from(document.querySelectorAll('img.proto-pic')).every((i) => i.getAttribute('src')!.startsWith('data:image/png')));
      const { pictures } = await mapPictures(p2);
      assert.deepEqual(pictures.map((p) => p.src).sort(), recs.map((r) => r.image).sort(), 'the report\'s images');
    } finally {
      await p2.close();
      await s2.close();
    }
  });
});

describe('explorer page (embedded default: digits, MobileNetV2 through the cache)', { skip }, () => {
  let server: ExplorerServer;
  let source: ExplorerSource;
  let page: Page;

  before(async () => {
    if (skip) return;
    source = await digitsSource();
    server = await startExplorerServer(source, { webDir });
    page = await open(server);
  });
  after(async () => {
    await page?.close();
    await server?.close();
    await (source?.embedder as { close?: () => Promise<void> } | undefined)?.close?.();
  });

  it('loads with one marker per digit and one diamond per prototype', async () => {
    const h = await hooks(page);
    assert.equal(h.n, 300);
    assert.equal(h.samples, 300);
    assert.equal(h.prototypes, source.model.prototypes_!.rows);
    await page.screenshot({ path: join(SHOTS, 'default-map.png') });
  });

  it('classifies a digit with the backbone in the server', async () => {
    const { png } = await mnistDigits(30);
    const i = 95; // a digit 3 of the training set
    await page.locator('[data-testid=file]').setInputFiles({ name: 'three.png', mimeType: 'image/png', buffer: Buffer.from(png[i]) });
    await page.locator('[data-testid=classify-label]').waitFor({ timeout: 60_000 });
    const D = source.X.cols;
    const expected = String(source.model.predict([Array.from(source.X.data.subarray(i * D, (i + 1) * D))])[0]);
    assert.equal(await page.locator('[data-testid=classify-label]').textContent(), expected);
    await page.screenshot({ path: join(SHOTS, 'default-classified.png') });
  });
});
