// The report's look through the CNN (issue 19): `explain --reconstruct --adversarial N` on a tiny
// TF.js model folder, end to end through the files a user has (images, extract, fit), and the
// refusal of an ONNX backbone before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initTfNode } from '../src/features/backend.node.ts';
import { extractDataset } from '../src/features/extract.node.ts';
import { openImageDataset } from '../src/data/images.node.ts';
import { readFeatures, writeFeatures } from '../src/data/features.node.ts';
import { writeModelFile } from '../src/data/modelfile.node.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { rng } from '../src/linalg/random.ts';
import { explainModelFile } from '../src/viz/explain.node.ts';
import { spreadSamples } from '../src/viz/lens.node.ts';
import { crossingSpec, type LensAdversarial, type LensReconstruction } from '../src/viz/lens.ts';
import { countMarks, renderSvg } from '../src/viz/render.ts';
import { patternImages, tinyModelFolder } from './helpers/tiny-backbone.ts';
import { runCli } from './helpers/cli.ts';

await initTfNode('wasm');

test('explain --reconstruct --adversarial: every prototype reconstructed beside its nearest images, the crossing figure and the correlation, through the recorded backbone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-lens-'));
  try {
    await tinyModelFolder(join(dir, 'net'));
    await patternImages(join(dir, 'images'), 8);
    const fs = await extractDataset(openImageDataset(join(dir, 'images')), { backbone: join(dir, 'net'), cacheDir: false, workers: 1 });
    writeFeatures(join(dir, 'f.npy'), fs);
    const model = new PrototypeClassifier({ nPrototypes: 3, seed: 1 }).fit(fs.X, fs.labels);
    writeModelFile(join(dir, 'm.json'), model);
    const r = await runCli(['explain', join(dir, 'm.json'), '--features', join(dir, 'f.npy'), '--images', '--reconstruct', '--steps', '120',
      '--adversarial', '6', '--norms', 'l2', '--out', join(dir, 'report'), '--no-png']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /reconstructed 3 prototypes through net/);
    const out = join(dir, 'report');
    const recs = JSON.parse(readFileSync(join(out, 'reconstructions.json'), 'utf8')) as LensReconstruction[];
    assert.deepEqual(recs.map((x) => x.prototype), [0, 1, 2]);
    assert.ok(recs[0].start > 0.8, `started from the background of the images, near white (dark patterns on white): ${recs[0].start}`);
    for (const x of recs) {
      assert.equal(x.reached, x.q >= 0.9);
      assert.match(x.image, /^data:image\/png;base64,/);
      assert.deepEqual([x.width, x.height], [6, 6], 'the network input is 6×6: reconstructed at that size');
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const reached = recs.filter((x) => x.reached).length;
    assert.ok(html.includes(`<b>${reached} of 3</b> reconstructions reach q<sub>j</sub> ≥ 0.9`), 'the report says how many reach q ≥ 0.9');
    for (const x of recs.filter((y) => !y.reached)) assert.ok(html.includes(`p${x.prototype} (`), `the report names p${x.prototype}, which does not reach`);
    // Each reconstruction sits beside its prototype's nearest training images (thumbnails).
    const block = html.slice(html.indexOf('id="rec-p0"'), html.indexOf('id="rec-p1"'));
    assert.ok((block.match(/<img /g) ?? []).length >= 2, 'p0: its reconstruction and nearest images');
    const adv = JSON.parse(readFileSync(join(out, 'adversarial.json'), 'utf8')) as LensAdversarial;
    assert.equal(adv.samples.length, 6);
    assert.deepEqual(adv.stats.map((s) => `${s.norm} ${s.target}`), ['l2 prototype', 'l2 class']);
    assert.deepEqual(new Set(adv.samples.map((s) => String(s.label))).size, 3, 'samples spread over the three classes');
    for (const s of adv.samples) for (const c of s.crossings) if (c.found) assert.ok(c.budget > 0 && c.lower <= c.budget);
    assert.ok(existsSync(join(out, 'crossing-l2-class.svg')) && !existsSync(join(out, 'crossing-l2-prototype.svg')));
    assert.match(html, /id="adversarial"/);
    assert.match(html, /margin against budget \(Spearman\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('explain --reconstruct on ONNX features says that gradients are unavailable, before any work, with exit code 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-lens-'));
  try {
    const X = { data: Float32Array.from({ length: 12 }, (_, i) => (i * 7) % 5), rows: 4, cols: 3 };
    const labels = ['a', 'a', 'b', 'b'];
    writeFeatures(join(dir, 'f.npy'), { X, labels, meta: { backbone: { name: 'resnet18', kind: 'onnx', source: join(dir, 'resnet18.onnx'), dim: 3, layer: 'pool' } } });
    const model = new PrototypeClassifier({ nPrototypes: 2, seed: 1 }).fit(X, labels);
    writeModelFile(join(dir, 'm.json'), model);
    const r = await runCli(['explain', join(dir, 'm.json'), '--features', join(dir, 'f.npy'), '--reconstruct', '--out', join(dir, 'report')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /backbone "resnet18" \(an ONNX model run by onnxruntime\) gives no gradients with respect to its input/);
    assert.equal(r.err.trim().split('\n').length, 1, 'one line, no stack');
    assert.ok(!existsSync(join(dir, 'report')), 'nothing written');
    assert.equal(readFeatures(join(dir, 'f.npy')).X.rows, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spreadSamples takes the classes in turn, seeded; the crossing figure draws one cell per class pair', async () => {
  const labels = ['a', 'a', 'a', 'b', 'b', 'c'];
  const s = spreadSamples(labels, 4, 0);
  assert.equal(s.length, 4);
  assert.deepEqual(s.map((i) => labels[i]).sort(), ['a', 'a', 'b', 'c']);
  assert.deepEqual(spreadSamples(labels, 4, 0), s);
  assert.deepEqual(spreadSamples(labels, 99, 0), [0, 1, 2, 3, 4, 5]);
  const margin = { rho: 0.5, p: 0.2, n: 3, permutations: 10, seed: 0 };
  const spec = crossingSpec({
    norm: 'l2', target: 'class', n: 3, found: 3, medianBudget: 0.4, margin,
    ambiguous: { ...margin, count: 0, medianAmbiguous: null, medianOther: 0.4 },
    pairs: [{ from: 'a', to: 'b', count: 2, median: 0.3 }, { from: 'b', to: 'c', count: 1, median: 0.5 }],
  }, ['a', 'b', 'c']);
  const svg = await renderSvg(spec);
  assert.equal(countMarks(svg, 'pair '), 2);
  assert.equal(countMarks(svg, 'pair a → b: median 0.300, 2 samples'), 1);
  assert.match(svg, /Crossing budget per class pair \(L2, class changes\)/);
});

test('placeLabels: on a crowded plot no two labels overlap, none covers a mark, all stay inside; a moved label gets a leader', async () => {
  const { placeLabels } = await import('../src/viz/labels.ts');
  const r = rng(5);
  // 40 prototypes, half of them within a 60×60 pixel corner, each a 30-pixel picture.
  const reqs = Array.from({ length: 40 }, (_, k) => ({
    x: k < 20 ? 200 + 60 * r.next() : 20 + 600 * r.next(), y: k < 20 ? 200 + 60 * r.next() : 20 + 440 * r.next(), text: `character${String(k).padStart(2, '0')}`, mark: 15,
  }));
  const placed = placeLabels(reqs, { width: 640, height: 480 });
  const inter = (a: { x0: number; y0: number; x1: number; y1: number }, b: typeof a) => Math.min(a.x1, b.x1) > Math.max(a.x0, b.x0) && Math.min(a.y1, b.y1) > Math.max(a.y0, b.y0);
  for (let i = 0; i < placed.length; i++) {
    assert.ok(!placed[i].overlaps, `label ${i} found no free place`);
    const b = placed[i].box;
    assert.ok(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= 640 && b.y1 <= 480, `label ${i} inside the plot`);
    for (let k = 0; k < i; k++) assert.ok(!inter(b, placed[k].box), `labels ${k} and ${i} overlap`);
    for (const q of reqs) assert.ok(!inter(b, { x0: q.x - 15, y0: q.y - 15, x1: q.x + 15, y1: q.y + 15 }), `label ${i} covers a mark`);
  }
  assert.ok(placed.some((p) => p.leader), 'in the crowded corner some labels move off their mark');
  // A lone point keeps its label beside it, to the right.
  const [alone] = placeLabels([{ x: 100, y: 100, text: 'a', mark: 5 }], { width: 640, height: 480 });
  assert.equal(alone.leader, false);
  assert.ok(alone.box.x0 > 105 && Math.abs(alone.cy - 100) < 1e-9);
});

test('Figure 1 draws each prototype as its picture, labels apart, and a finding shows its prototypes as pictures', async () => {
  const { analyzeModel } = await import('../src/interpret/analyze.ts');
  const { renderFigures, renderReport, prototypePictures } = await import('../src/viz/report.ts');
  const r = rng(3);
  const X: number[][] = [], y: string[] = [];
  for (let i = 0; i < 60; i++) { const c = i % 3; X.push([c * 3 + r.normal() * 0.3, (c === 1 ? 2 : 0) + r.normal() * 0.3]); y.push(`class${c}`); }
  const model = new PrototypeClassifier({ nPrototypes: 6, seed: 1 }).fit(X, y);
  const a = analyzeModel(model, { data: Float32Array.from(X.flat()), rows: 60, cols: 2 }, y);
  const png = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const thumbnails = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [i, png]));
  const pics = prototypePictures(a, { thumbnails });
  assert.equal(pics.are, 'its nearest training image');
  const figs = await renderFigures(a, pics);
  const J = a.prototypes.length;
  const withPicture = a.prototypes.filter((p) => p.nearest.length).length;
  assert.equal(countMarks(figs.figure1, 'picture of prototype '), withPicture);
  assert.equal(countMarks(figs.figure1, 'prototype '), J, 'one framed mark (or diamond) per prototype');
  assert.equal(countMarks(figs.figure1, 'label of prototype '), J);
  assert.match(figs.figure1, /framed picture: a prototype \(its nearest training image\)/);
  const f = { kind: 'ambiguous-prototype' as const, message: 'p0 links two classes', prototypes: [0], rule: 'two links of similar strength', evidence: {} };
  const html = renderReport({ ...a, findings: [f] }, { thumbnails }, figs);
  const li = html.slice(html.indexOf('<li data-kind="ambiguous-prototype">'), html.indexOf('</li>', html.indexOf('<li data-kind="ambiguous-prototype">')));
  assert.match(li, /<img src="data:image\/png;base64,[^"]+" alt="nearest image of p0">/);
});

test('a bundled network is loaded on TF.js for gradients, even when its features were extracted on onnxruntime', async () => {
  const { backboneForFeatures } = await import('../src/features/for-features.node.ts');
  const bb = await backboneForFeatures({ backbone: { name: 'mobilenet_v2', kind: 'onnx', layer: 'flatten_1', dim: 1280 } });
  try {
    assert.equal(bb.info.name, 'mobilenet_v2');
    assert.equal(typeof bb.forward, 'function', 'the TF.js form, which gives gradients');
  } finally {
    bb.dispose();
  }
});
