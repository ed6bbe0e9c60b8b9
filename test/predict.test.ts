// protolens predict: on images, embedded with the model's own backbone, layer, pooling and
// preprocessing; CSV with a header or JSON, on stdout or into a file (-o) that protolens may write.
// The backbone is a tiny ONNX network (test/helpers/onnx.ts), so nothing large is loaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { colourPng, greyPng, makeTree } from './helpers/images.ts';
import { tinyNet } from './helpers/onnx.ts';
import { predictionsCsv } from '../src/viz/predictions.ts';

const work = mkdtempSync(join(tmpdir(), 'protolens-predict-'));
const tiny = join(work, 'tiny.onnx');
const model = join(work, 'model.json');
let fresh: string;
// A preset other than the ONNX default (torchvision), so that embedding the images any other way than
// the model's own would change the numbers.
const backbone = ['--backbone', tiny, '--layer', 'relu2', '--preset', 'keras', '--no-cache', '--no-progress'];

before(async () => {
  writeFileSync(tiny, tinyNet());
  const files: Record<string, Uint8Array> = {};
  for (let s = 0; s < 4; s++) files[`dark/${s}.png`] = await greyPng(s, 12, 12);
  for (let s = 0; s < 4; s++) files[`colour/${s}.png`] = await colourPng(12 + s, 12);
  const train = makeTree(files);
  fresh = makeTree({ 'new, one.png': await colourPng(20, 16), 'new2.png': await greyPng(9, 12, 12), 'notes.txt': 'not an image' });
  const feats = join(work, 'train.npy');
  for (const args of [['extract', train, '--out', feats, ...backbone], ['fit', feats, '--out', model, '-J', '2', '--no-progress']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.err);
  }
});
after(() => rmSync(work, { recursive: true, force: true }));

test('predict --images embeds with the model\'s backbone and preprocessing: the answers of extract then predict --features', async () => {
  // The reference: the same images extracted the long way, with the same backbone settings.
  const newFeats = join(work, 'new.npy');
  let r = await runCli(['extract', join(fresh, 'new, one.png'), join(fresh, 'new2.png'), '--out', newFeats, ...backbone]);
  assert.equal(r.code, 0, r.err);
  const ref = JSON.parse((await runCli(['predict', model, '--features', newFeats, '--json'])).out);
  r = await runCli(['predict', model, '--images', join(fresh, 'new, one.png'), join(fresh, 'new2.png'), '--json', '--no-cache']);
  assert.equal(r.code, 0, r.err);
  const got = JSON.parse(r.out);
  assert.equal(got.format, 'protolens-predictions');
  assert.deepEqual(got.predictions, ref.predictions);
  assert.deepEqual([got.input.images.count, got.input.images.backbone, got.input.images.computed], [2, 'tiny', 2]);
  // A folder of images: CSV with its header on stdout, paths relative to it (one quoted: it holds a comma);
  // the non-image file is named, or left out with --skip-bad.
  r = await runCli(['predict', model, '--images', fresh, '--no-cache']);
  assert.equal(r.code, 2);
  assert.match(r.err, /notes\.txt: not an image .*\(use --skip-bad to leave such files out\)/);
  r = await runCli(['predict', model, '--images', fresh, '--no-cache', '--skip-bad']);
  assert.equal(r.code, 0, r.err);
  const p = ref.predictions as Array<{ label: string; probability: number }>;
  assert.equal(r.out, `index,path,label,probability\n0,"new, one.png",${p[0].label},${p[0].probability.toFixed(6)}\n1,new2.png,${p[1].label},${p[1].probability.toFixed(6)}\n`);
  assert.match(r.err, /skipped notes\.txt: not an image/);
});

test('predict refuses images for a model that does not record its backbone, or whose backbone moved', async () => {
  const csv = join(work, 'plain.csv');
  writeFileSync(csv, 'label,a,b,c,d,e\nx,1,0,0,0,0\nx,1,0.1,0,0,0\ny,0,1,0,0,0\ny,0,1,0.1,0,0\n');
  const plain = join(work, 'plain.json');
  assert.equal((await runCli(['fit', csv, '-o', plain, '--no-progress'])).code, 0);
  let r = await runCli(['predict', plain, '--images', fresh]);
  assert.equal(r.code, 2);
  assert.match(r.err, /plain\.json: the model does not record which backbone made its features .*extract their features with that backbone and predict on those\n$/);
  const moved = join(work, 'moved.json');
  const json = JSON.parse(readFileSync(model, 'utf8'));
  json.origin.source = join(work, 'gone.onnx');
  writeFileSync(moved, JSON.stringify(json));
  r = await runCli(['predict', moved, '--images', fresh]);
  assert.equal(r.code, 2);
  assert.match(r.err, /the backbone "tiny" is not bundled with protolens and is no longer at .*gone\.onnx/);
  r = await runCli(['predict', model]);
  assert.deepEqual([r.code, r.err], [2, 'protolens: give the input as --features FILE or as --images DIR|FILES…, one of the two\n']);
});

test('predict -o writes CSV or JSON atomically, replaces its own output, and refuses a file it did not write', async () => {
  const feats = join(work, 'train.npy');
  const out = join(work, 'preds.csv');
  let r = await runCli(['predict', model, '--features', feats, '-o', out]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '');
  assert.match(r.err, /wrote 8 predictions to .*preds\.csv \(accuracy 1\.000\)/);
  const csv = readFileSync(out, 'utf8');
  assert.match(csv, /^index,path,label,probability,truth\n0,colour\/0\.png,colour,[0-9.]+,colour\n/);
  // Its own file is replaced; the extension decides the format; a file of the user's is refused.
  r = await runCli(['predict', model, '--features', feats, '-o', out, '--explain']);
  assert.equal(r.code, 0, r.err);
  assert.match(readFileSync(out, 'utf8'), /^index,path,label,probability,truth,margin,ambiguous,prototypes\n0,colour\/0\.png,colour,[0-9.]+,colour,[0-9.]+,(true|false),p\d:[0-9.]+/);
  const json = join(work, 'preds.json');
  assert.equal((await runCli(['predict', model, '--features', feats, '-o', json])).code, 0);
  assert.equal(JSON.parse(readFileSync(json, 'utf8')).accuracy, 1);
  const mine = join(work, 'mine.csv');
  writeFileSync(mine, 'my,own\n1,2\n');
  r = await runCli(['predict', model, '--features', feats, '-o', mine]);
  assert.equal(r.code, 2);
  assert.match(r.err, /-o .*mine\.csv: .*mine\.csv exists and is not predictions protolens wrote; choose another path, or/);
  assert.equal(readFileSync(mine, 'utf8'), 'my,own\n1,2\n');
  assert.equal((await runCli(['predict', model, '--features', feats, '-o', mine, '--force'])).code, 0);
  // Never an input.
  r = await runCli(['predict', model, '--features', feats, '-o', model, '--force']);
  assert.equal(r.code, 2);
  assert.equal(JSON.parse(readFileSync(model, 'utf8')).format, 'protolens-model');
  r = await runCli(['predict', model, '--features', feats, '--format', 'text', '-o', out]);
  assert.deepEqual([r.code, r.err], [2, 'protolens: --format text is for the terminal; -o writes csv or json\n']);
});

test('predictionsCsv quotes per RFC 4180 and leaves missing paths empty', () => {
  const csv = predictionsCsv({ model: 'm', input: {}, accuracy: null, note: null, rows: [
    { index: 0, label: 'say "hi"', probability: 0.5 }, { index: 1, path: 'a\nb.png', label: 3, probability: 1 },
  ] });
  assert.equal(csv, 'index,path,label,probability\n0,,"say ""hi""",0.500000\n1,"a\nb.png",3,1.000000\n');
});
