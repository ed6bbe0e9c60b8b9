import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { CHROMIUM_ARGS, chromium as chromiumNeed, chromiumPath } from './helpers/chromium.ts';
import { analyzeModel } from '../src/interpret/analyze.ts';
import type { ModelAnalysis } from '../src/interpret/types.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import { enableNodeGemm } from '../src/linalg/gemm-native.node.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { figure1Spec } from '../src/viz/specs.ts';
import { countMarks, renderSvg } from '../src/viz/render.ts';
import { escapeHtml, renderFigures, renderReport } from '../src/viz/report.ts';
import { writeReport } from '../src/viz/report.node.ts';
import { OUTPUT_MARKER, writeOutputFolder } from '../src/data/outputs.node.ts';


const tmp = mkdtempSync(join(tmpdir(), 'protolens-report-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const data = twistedClasses({ seed: 4, nClasses: 5, dim: 16 });
// The CLI runs in this process below and installs the fastest GEMM (native when built); the
// in-memory model is fitted on that same backend, so both fits round alike (backends differ in
// the last bits, and a fit stopped by `tol` may then stop at another iteration).
enableNodeGemm();
const model = new PrototypeClassifier({ seed: 4, maxIter: 30, nPrototypes: 11 }).fit(data.X, data.y);
const analysis = analyzeModel(model, data.X, data.y);

test('Figure 1 has exactly one diamond per prototype and one ring per misclassified sample', async () => {
  const svg = await renderSvg(figure1Spec(analysis));
  assert.equal(countMarks(svg, 'prototype '), 11);
  assert.equal(countMarks(svg, 'misclassified sample '), analysis.samples.misclassified.length);
  // The diamonds are diamonds, and the explained variance is printed on the figure (axis titles).
  const pc1 = (100 * analysis.projection.explainedRatio[0]).toFixed(1);
  assert.ok(svg.includes(`PC1 (${pc1}% of the variance)`), 'PC1 title with its explained variance');
  // A misclassified sample is ringed: force one by relabelling and check the count follows.
  const a2: ModelAnalysis = JSON.parse(JSON.stringify(analysis));
  a2.samples.misclassified = [0, 1, 2];
  assert.equal(countMarks(await renderSvg(figure1Spec(a2)), 'misclassified sample '), 3);
});

test('the HTML report is self-contained, names model, data, seed and version, and lists every finding with its rule', async () => {
  const figs = await renderFigures(analysis);
  const html = renderReport(analysis, { modelFile: 'm.json', dataFile: 'f.npy', command: 'protolens explain m.json' }, figs);
  assert.equal(countMarks(html, 'prototype '), 11);
  assert.doesNotMatch(html, /<script|<link|https?:\/\/(?!www\.w3\.org)/, 'no scripts, stylesheets or network addresses');
  for (const s of ['m.json', 'f.npy', 'protolens 0.1.0', 'model seed 4']) assert.ok(html.includes(s), s);
  for (const f of analysis.findings) assert.ok(html.includes(escapeHtml(f.message)), f.message);
  for (const r of Object.values(analysis.rules)) assert.ok(html.includes(escapeHtml(r)));
  // Pure: same inputs, same bytes.
  assert.equal(renderReport(analysis, { modelFile: 'm.json', dataFile: 'f.npy', command: 'protolens explain m.json' }, figs), html);
  // Labels are escaped.
  assert.equal(escapeHtml('<b a="1">&\''), '&lt;b a=&quot;1&quot;&gt;&amp;&#39;');
});

test('writeReport writes HTML, SVG, PNG and JSON; a failed render leaves the earlier report intact', async () => {
  const dir = join(tmp, 'report');
  const w = await writeReport(dir, analysis, { modelFile: 'm.json' });
  assert.deepEqual(w.files, ['analysis.json', 'figure1.png', 'figure1.svg', 'figure1.vl.json', 'report.html', 'weights.png', 'weights.svg', 'weights.vl.json']);
  const png = readFileSync(join(dir, 'figure1.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  const before = readFileSync(join(dir, 'report.html'), 'utf8');
  // A broken analysis makes rendering throw after the figures started: nothing must change.
  const broken = { ...analysis, prototypes: undefined } as unknown as ModelAnalysis;
  await assert.rejects(writeReport(dir, broken, { modelFile: 'other.json' }));
  assert.equal(readFileSync(join(dir, 'report.html'), 'utf8'), before);
  // An invalid name is refused before anything is written; a failure while writing files (data
  // that is not bytes) also leaves it intact and cleans up.
  assert.throws(() => writeOutputFolder(dir, { 'report.html': 'new', 'bad/name': 'x' }, 'report'), /plain file name/);
  assert.throws(() => writeOutputFolder(dir, { 'report.html': 'new', 'x.bin': 5 as unknown as string }, 'report'), /data/);
  assert.equal(readFileSync(join(dir, 'report.html'), 'utf8'), before);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('.')), [], 'no temporary directories left');
  // A successful rewrite replaces the whole directory.
  writeOutputFolder(dir, { 'only.txt': 'x' }, 'report');
  assert.deepEqual(readdirSync(dir).sort(), [OUTPUT_MARKER, 'only.txt']);
});

test('CLI: fit → predict --explain → explain on a feature file; mismatched files fail with clear messages', async () => {
  const feats = join(tmp, 'train.npy');
  writeFeatures(feats, { X: data.X, labels: data.y });
  const modelPath = join(tmp, 'model.json');
  let r = await runCli(['fit', feats, '--out', modelPath, '--prototypes', '11', '--seed', '4', '--max-iter', '30', '--preprocess', 'none', '--no-prune', '--no-progress']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Fitted 11 prototypes on \d+ samples × 16 features, 6 classes/);
  // The saved model predicts like the in-memory one.
  r = await runCli(['predict', modelPath, '--features', feats, '--json']);
  assert.equal(r.code, 0, r.err);
  const pj = JSON.parse(r.out);
  assert.deepEqual(pj.predictions.map((p: { label: string }) => p.label), model.predict(data.X));
  r = await runCli(['predict', modelPath, '--features', feats, '--explain', '--top', '2', '--format', 'text']);
  assert.equal(r.code, 0, r.err);
  const first = model.explain(Array.from(data.X.data.subarray(0, 16)), 2);
  assert.ok(r.out.startsWith(`#0: ${first.label} (p = ${first.probability.toFixed(3)}), true ${data.y[0]}; margin ${first.margin.toFixed(3)}`), r.out.slice(0, 200));
  assert.match(r.out, /accuracy \d\.\d{3} on \d+ samples/);
  const out = join(tmp, 'cli-report');
  r = await runCli(['explain', modelPath, '--features', feats, '--out', out, '--no-png']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Findings: .*singleton-class 1/);
  assert.ok(existsSync(join(out, 'report.html')) && !existsSync(join(out, 'figure1.png')));

  // A model saved behind a feature transform (--preprocess) is explained in the transformed space.
  const piped = join(tmp, 'piped.json');
  r = await runCli(['fit', feats, '--out', piped, '--prototypes', '11', '--seed', '4', '--max-iter', '10', '--preprocess', 'sqrt-center-l2', '--no-progress']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Features preprocessed: sqrt-center-l2/);
  assert.equal(JSON.parse(readFileSync(piped, 'utf8')).kind, 'Pipeline');
  r = await runCli(['predict', piped, '--features', feats, '--explain', '--top', '1', '--format', 'text']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^#0: \S+ \(p = [0-9.]+\), true/);
  r = await runCli(['explain', piped, '--features', feats, '--out', join(tmp, 'piped-report'), '--no-png']);
  assert.equal(r.code, 0, r.err);
  assert.match(readFileSync(join(tmp, 'piped-report', 'report.html'), 'utf8'), /feature preprocessing<\/td><td>sqrt-center-l2/);
  r = await runCli(['fit', feats, '--out', piped, '--preprocess', 'log']);
  assert.equal(r.err, 'protolens: Invalid value for --preprocess: "log". Expected one of: auto, none, l2, center-l2, sqrt-l2, sqrt-center-l2.\n');

  // Wrong dimension.
  const other = twistedClasses({ seed: 4, nClasses: 5, dim: 12 });
  const bad = join(tmp, 'bad-dim.npy');
  writeFeatures(bad, { X: other.X, labels: other.y });
  r = await runCli(['explain', modelPath, '--features', bad, '--out', out]);
  assert.equal(r.code, 2);
  assert.equal(r.err, `protolens: ${bad}: features have 12 dimensions but the model ${modelPath} was fitted on 16; use features made by the same backbone and layer as the training features\n`);
  r = await runCli(['predict', modelPath, '--features', bad]);
  assert.equal(r.code, 2);
  assert.match(r.err, /features have 12 dimensions but the model/);
  // Unknown labels.
  const relabelled = join(tmp, 'bad-labels.npy');
  writeFeatures(relabelled, { X: data.X, labels: data.y.map((l, i) => (i === 7 ? 'Zebra' : l)) });
  r = await runCli(['explain', modelPath, '--features', relabelled, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /1 label\(s\) unknown to the model .*: "Zebra" \(row 7\)\. The model knows 6 classes/);
  // The earlier report survived both failures.
  assert.ok(existsSync(join(out, 'report.html')));
  // Not a prototype model; no labels; missing file.
  const csv = join(tmp, 'nolabels.csv');
  writeFileSync(csv, 'a,b\n1,2\n3,4\n');
  r = await runCli(['explain', modelPath, '--features', csv]);
  assert.match(r.err, /features have 2 dimensions/);
  r = await runCli(['explain', join(tmp, 'nope.json'), '--features', feats]);
  assert.equal(r.err, `protolens: ${join(tmp, 'nope.json')}: model file not found\n`);
  r = await runCli(['fit', csv, '--out', join(tmp, 'x.json')]);
  assert.match(r.err, /has no labels; fitting needs one label per row/);
  r = await runCli(['fit', feats, '--out', join(tmp, 'x.json'), '--regularization', 'l3']);
  assert.equal(r.err, 'protolens: Invalid value for --regularization: "l3". Expected one of: l1, l2.\n');
});

test('src/interpret and src/viz: files not named *.node.* import no Node modules or adapters (the web explorer bundles them)', () => {
  const root = join(import.meta.dirname, '..');
  for (const dir of ['src/interpret', 'src/viz']) {
    for (const f of readdirSync(join(root, dir))) {
      if (!f.endsWith('.ts') || f.includes('.node.')) continue;
      const text = readFileSync(join(root, dir, f), 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        assert.doesNotMatch(m[1], /^(node:|fs$|path$|os$|crypto$|sharp$|playwright)/, `${dir}/${f} imports ${m[1]}`);
        assert.doesNotMatch(m[1], /\.node\.ts$|\/cli\//, `${dir}/${f} imports ${m[1]}`);
      }
    }
  }
});

test('the report renders in headless Chromium with one diamond per prototype and no network request', { skip: chromiumNeed.skip }, chromiumNeed.guard(async () => {
  const dir = join(tmp, 'browser');
  const w = await writeReport(dir, analysis, { modelFile: 'm.json' }, { png: false });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const external: string[] = [];
    page.on('request', (q) => { if (!/^(file|data):/.test(q.url())) external.push(q.url()); });
    await page.goto(`file://${w.html}`);
    assert.equal(await page.locator('h1').textContent(), 'protolens report');
    assert.equal(await page.locator('#figure1 + .fig svg [aria-label^="prototype "]').count(), 11);
    const box = await page.locator('#figure1 + .fig svg').boundingBox();
    assert.ok(box && box.width > 500 && box.height > 400, `Figure 1 is laid out (${JSON.stringify(box)})`);
    assert.equal(await page.locator('li[data-kind]').count(), analysis.findings.length);
    assert.deepEqual(external, []);
  } finally {
    await browser.close();
  }
}));

test('digits demo: seeded MNIST digits → PNGs → MobileNetV2 → model → report with thumbnails', async () => {
  const { runDigitsDemo } = await import('../src/viz/demo.node.ts');
  const { sampleDigits, digitPng } = await import('../src/data/mnist.node.ts');
  const a = sampleDigits(3, 1), b = sampleDigits(3, 1);
  assert.deepEqual(a.map((d) => d.index), b.map((d) => d.index));
  assert.deepEqual(a.map((d) => d.digit), [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9]);
  const png = await digitPng(a[0].pixels);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  const out = join(tmp, 'digits-report');
  const r = await runDigitsDemo({ n: 20, prototypes: 10, seed: 1, out, workDir: join(tmp, 'digits'), cacheDir: join(tmp, 'cache') });
  assert.equal(r.analysis.samples.n, 20);
  assert.equal(r.analysis.model.nFeatures, 1280);
  // Fitted as `protolens fit` fits: prototypes that are the best match of no digit are pruned, so the report lists none.
  const J = r.analysis.prototypes.length;
  assert.ok(J >= 1 && J <= 10, `${J} prototypes`);
  assert.equal(r.analysis.findings.filter((f) => f.kind === 'dead-prototype').length, 0);
  const saved = JSON.parse(readFileSync(join(tmp, 'digits', 'model.json'), 'utf8')) as { params: { prune?: boolean } };
  assert.equal(saved.params.prune, true, 'the demo fits with pruning, as protolens fit does');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.equal(countMarks(html, 'prototype '), J);
  // Every sample shown has its thumbnail (20 samples, each a nearest sample of some prototype).
  assert.ok((html.match(/<img src="data:image\/png;base64,/g) ?? []).length >= 20);
  assert.ok(existsSync(join(tmp, 'digits', 'features.json')) && existsSync(join(tmp, 'digits', 'model.json')));
});
