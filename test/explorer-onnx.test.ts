// The explorer's "classify an image" with an ONNX backbone, in Debian's Chromium: the page embeds
// the upload itself with onnxruntime-web (the model from /api/backbone.onnx, the same TypeScript
// preprocessing as in Node) and gets the server's feature and label; when it cannot, the server
// embeds the upload, as before.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromium as chromiumNeed, chromiumPath } from './helpers/chromium.ts';
import { ensureWebBuild } from '../src/server/build.node.ts';
import { startExplorerServer, type ExplorerServer, type ExplorerSource } from '../src/server/server.node.ts';
import { fileSource } from '../src/server/sources.node.ts';
import { openImageDataset } from '../src/data/images.node.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { extractDataset } from '../src/features/extract.node.ts';
import { colourPng, greyPng, makeTree } from './helpers/images.ts';
import { maxDiff, tinyNet } from './helpers/onnx.ts';

const skip = chromiumNeed.skip;

interface Hooks {
  ready: boolean; error: string; inPageFailure: string;
  classified: { label: string; where: string; feature: number[] } | null;
}
declare const window: { __protolens: Hooks };

describe('explorer page with an ONNX backbone: uploads embedded in the page', { skip }, () => {
  let context: BrowserContext;
  let profile: string;
  let work: string;
  let data: string;
  let source: ExplorerSource;
  const servers: ExplorerServer[] = [];

  before(async () => {
    if (skip) return;
    chromiumNeed.check();
    work = mkdtempSync(join(tmpdir(), 'protolens-explorer-onnx-'));
    const model = join(work, 'tiny.onnx');
    writeFileSync(model, tinyNet());
    const files: Record<string, Uint8Array> = {};
    for (let s = 0; s < 6; s++) files[`grey/${s}.png`] = await greyPng(s, 14, 12);
    for (let s = 0; s < 6; s++) files[`colour/${s}.png`] = await colourPng(12 + s, 12);
    data = makeTree(files);
    const r = await extractDataset(openImageDataset(data), { backbone: model, layer: 'relu2', preset: 'keras', cacheDir: false, workers: 1 });
    const feats = join(work, 'tiny.npy');
    writeFeatures(feats, r);
    source = await fileSource({ features: feats, images: data, cacheDir: false, fit: { nPrototypes: 4, maxIter: 30, prune: false } });
    const webDir = await ensureWebBuild();
    profile = mkdtempSync(join(tmpdir(), 'protolens-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    servers.push(await startExplorerServer(source, { webDir }));
    // The same source whose model cannot be fetched: the page must fall back to the server.
    const broken = { ...source, embedder: { ...source.embedder!, inPage: { ...source.embedder!.inPage!, model: () => Promise.reject(new Error('model gone')) } } };
    servers.push(await startExplorerServer(broken, { webDir }));
  });
  after(async () => {
    await context?.close();
    for (const s of servers) await s.close();
    await (source?.embedder as { close?: () => Promise<void> } | undefined)?.close?.();
    for (const d of [profile, work, data]) if (d) rmSync(d, { recursive: true, force: true });
  });

  async function classifyIn(server: ExplorerServer, png: Uint8Array): Promise<{ page: Page; got: NonNullable<Hooks['classified']>; server: { feature: number[]; explanation: { label: string } } }> {
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => window.__protolens?.ready || window.__protolens?.error, null, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.__protolens.error), '');
    await page.locator('[data-testid=file]').setInputFiles({ name: 'new.png', mimeType: 'image/png', buffer: Buffer.from(png) });
    await page.locator('[data-testid=classify-label]').waitFor({ timeout: 60_000 });
    const got = (await page.evaluate(() => window.__protolens.classified))!;
    const res = await fetch(`${server.url}api/classify`, { method: 'POST', body: png.slice().buffer as ArrayBuffer });
    return { page, got, server: await res.json() as { feature: number[]; explanation: { label: string } } };
  }

  it('embeds the upload in the page with onnxruntime-web: the server\'s feature (1e-5) and label', async () => {
    assert.equal(servers[0].map.classify.inPage?.layer, 'relu2');
    // A user's ONNX model recommends no preprocessing: the model fitted on the spot is behind the
    // default sqrt-l2, which the page applies too.
    assert.match(source.source, /preprocessed sqrt-l2 \(the default for features that recommend none\)$/);
    assert.equal(servers[0].map.classify.inPage?.transform?.method, 'sqrt-l2');
    const png = await colourPng(20, 16); // not the input size: resized in the page as in Node
    const { page, got, server } = await classifyIn(servers[0], png);
    try {
      assert.equal(got.where, 'page', await page.evaluate(() => window.__protolens.inPageFailure));
      assert.equal(got.feature.length, 5);
      assert.ok(Math.abs(Math.hypot(...got.feature) - 1) < 1e-5, 'the page\'s feature is L2-normalised, as the server\'s');
      assert.ok(maxDiff(got.feature, server.feature) < 1e-5, `page vs server: ${maxDiff(got.feature, server.feature)}`);
      assert.equal(String(got.label), String(server.explanation.label));
      assert.match((await page.locator('[data-testid=classify-where]').textContent())!, /Embedded in this page \(onnxruntime-web\)/);
    } finally {
      await page.close();
    }
  });

  it('has no reconstructions (an ONNX model gives no gradients): the map draws the nearest images, and a prototype\'s panel says why', async () => {
    const page = await context.newPage();
    try {
      await page.goto(servers[0].url);
      await page.waitForFunction(() => window.__protolens?.ready, null, { timeout: 30_000 });
      await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('img.proto-pic')).every((i) => i.complete));
      const widths = await page.$$eval('img.proto-pic', (ims) => ims.map((i) => (i as HTMLImageElement).naturalWidth));
      assert.equal(widths.length, 4, 'one picture per prototype');
      assert.ok(widths.every((w) => w > 0), 'each loaded');
      assert.equal(await page.locator('[data-testid=pictures] option[value=reconstruction]').evaluate((o) => (o as HTMLOptionElement).disabled), true);
      const at = (await page.evaluate(() => (window.__protolens as unknown as { prototypeScreen(j: number): { x: number; y: number } }).prototypeScreen(0)))!;
      const box = (await page.locator('#map').boundingBox())!;
      await page.mouse.click(box.x + at.x, box.y + at.y);
      await page.locator('[data-testid=reconstruction-note]').waitFor();
      assert.equal(await page.locator('[data-testid=prototype-reconstruction]').getAttribute('data-state'), 'none');
      assert.match((await page.locator('[data-testid=reconstruction-note]').textContent())!,
        /^No reconstruction: backbone "[^"]+" \(an ONNX model run by onnxruntime\) gives no gradients with respect to its input, .*: its \d+ nearest real images stand for it\.$/);
      assert.ok((await page.locator('[data-testid=prototype-nearest] img').count()) > 0);
    } finally {
      await page.close();
    }
  });

  it('falls back to the server when the page cannot embed (the model cannot be fetched), and says why', async () => {
    const png = new Uint8Array(readFileSync(join(data, 'grey/3.png')));
    const { page, got, server } = await classifyIn(servers[1], png);
    try {
      assert.equal(got.where, 'server');
      assert.deepEqual(got.feature, server.feature);
      assert.match((await page.locator('[data-testid=classify-where]').textContent())!, /Embedded in the server \(the page could not: backbone\.onnx: HTTP 500\)/);
    } finally {
      await page.close();
    }
  });
});
