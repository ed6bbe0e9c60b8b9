// Models record what made their features (backbone, layer, input size: src/data/origin.ts), and
// features made otherwise are refused, even when their width matches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { describeOrigin, featureOrigin, originDifference } from '../src/data/origin.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import { fileSource } from '../src/server/sources.node.ts';

const MOBILENET = { name: 'mobilenet_v2', layer: 'flatten_1', dim: 16, weightsHash: 'aaa', source: 'nsfwjs 4.4.0 (MobileNetV2)', pooling: 'none' };
const INPUT_224 = { height: 224, width: 224, resize: 'bilinear', alignCorners: true, range: [0, 1], colour: 'rgb' };

test('originDifference: the weights (by hash, else by name), the layer, the pooling and every input field when both record them', () => {
  const a = featureOrigin({ backbone: MOBILENET, preprocessing: INPUT_224 })!;
  assert.deepEqual(a, { backbone: 'mobilenet_v2', layer: 'flatten_1', weightsHash: 'aaa', source: 'nsfwjs 4.4.0 (MobileNetV2)', dim: 16, pooling: 'none', preprocessing: INPUT_224 });
  assert.equal(featureOrigin({ source: 'csv' }), null);
  assert.equal(describeOrigin(a), 'mobilenet_v2, layer flatten_1, 224×224 input');
  const cases: Array<[Parameters<typeof originDifference>[1], string | null]> = [
    [a, null],
    [{ backbone: 'mobilenet_v2' }, null],
    [{ ...a, weightsHash: 'bbb' }, 'other weights under the same name mobilenet_v2'],
    [{ ...a, backbone: 'inception_v3', weightsHash: 'ccc' }, 'another network (mobilenet_v2 against inception_v3)'],
    [{ backbone: 'inception_v3' }, 'another network (mobilenet_v2 against inception_v3)'],
    [{ ...a, layer: 'block_16_project' }, 'another layer (flatten_1 against block_16_project)'],
    [{ ...a, preprocessing: { ...INPUT_224, height: 160, width: 160 } }, 'another input height (224 against 160), another input width (224 against 160)'],
    [{ ...a, preprocessing: { ...INPUT_224, range: [-1, 1] } }, 'another input range ([0,1] against [-1,1])'],
    // A field one side has and the other lacks: a mean subtracted, or not.
    [{ ...a, preprocessing: { ...INPUT_224, mean: [0.485, 0.456, 0.406], preset: 'torchvision' } }, 'another input mean (none against [0.485,0.456,0.406])'],
    [{ ...a, preprocessing: { ...INPUT_224, preset: 'tfjs' } }, null],
    [{ ...a, pooling: 'global-max' }, 'another pooling (none against global-max)'],
  ];
  for (const [b, want] of cases) assert.equal(originDifference(a, b), want, JSON.stringify(b));
});

test('fit records the origin; predict, explain and serve refuse features of the same width made by another network, naming both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-origin-'));
  try {
    const data = twistedClasses({ seed: 2, nClasses: 3, dim: 16 });
    const train = join(dir, 'train.npy');
    writeFeatures(train, { X: data.X, labels: data.y, meta: { backbone: MOBILENET, preprocessing: INPUT_224 } });
    const model = join(dir, 'model.json');
    let r = await runCli(['fit', train, '-o', model, '-J', '6', '--max-iter', '5', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    const saved = JSON.parse(readFileSync(model, 'utf8')) as { kind: string; origin: unknown };
    assert.equal(saved.kind, 'Pipeline');
    assert.deepEqual(saved.origin, featureOrigin({ backbone: MOBILENET, preprocessing: INPUT_224 }));

    // Same width, another network: refused by every command that reads features for a model.
    const other = join(dir, 'other.npy');
    writeFeatures(other, { X: data.X, labels: data.y, meta: { backbone: { ...MOBILENET, name: 'inception_v3', weightsHash: 'ccc' }, preprocessing: { ...INPUT_224, height: 299, width: 299 } } });
    const message = `protolens: ${other}: features made by inception_v3, layer flatten_1, 299×299 input, but the model ${model} was fitted on features made by ` +
      'mobilenet_v2, layer flatten_1, 224×224 input (another network (mobilenet_v2 against inception_v3), another input height (224 against 299), ' +
      "another input width (224 against 299)); extract the features with the model's backbone, layer and input size\n";
    r = await runCli(['predict', model, '--features', other]);
    assert.deepEqual([r.code, r.err], [2, message]);
    r = await runCli(['explain', model, '--features', other, '--out', join(dir, 'report')]);
    assert.deepEqual([r.code, r.err], [2, message]);
    await assert.rejects(fileSource({ features: other, model }), (e: Error) => `protolens: ${e.message}\n` === message);

    // Features that do not say where they come from (a CSV from elsewhere) are taken on trust.
    const csv = join(dir, 'plain.csv');
    const rows = ['label,' + Array.from({ length: 16 }, (_, d) => `f${d}`).join(',')];
    for (let i = 0; i < data.X.rows; i++) rows.push([data.y[i], ...data.X.data.subarray(i * 16, (i + 1) * 16)].join(','));
    writeFileSync(csv, rows.join('\n') + '\n');
    r = await runCli(['predict', model, '--features', csv, '--json']);
    assert.equal(r.code, 0, r.err);
    // …and so is anything of the right width by a model saved before models recorded their origin.
    const old = join(dir, 'old.json');
    const json = JSON.parse(readFileSync(model, 'utf8'));
    delete json.origin;
    writeFileSync(old, JSON.stringify(json));
    r = await runCli(['predict', old, '--features', other, '--json']);
    assert.equal(r.code, 0, r.err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
