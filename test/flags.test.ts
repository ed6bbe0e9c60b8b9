// The CLI's flag parsers (src/cli/flags.ts) and its mapping of library errors (src/cli/errors.ts):
// exact messages, table-driven, as the commands print them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anyInt, int, libraryChoice, multipleOf, names, numberList, numbers, oneOf, positive, positiveInt } from '../src/cli/flags.ts';
import { CLIError, toCliError, userInput } from '../src/cli/errors.ts';
import { checkPreprocessMethod } from '../src/model/preprocess.ts';
import { checkEvaluateClassifiers } from '../src/viz/evaluate.node.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { checkTrainOptions, type ConvPasses, type EmbeddingHead } from '../src/embedding/train.ts';
import { checkNodeBackend } from '../src/features/backend.node.ts';
import { checkPreprocessing, nsfwjsPreprocessing, presetPreprocessing, type Preprocessing } from '../src/features/preprocess.ts';
import { checkPool, InputSizeError } from '../src/features/onnx-backbone.ts';
import { BadImageError } from '../src/data/images.ts';

/** The CLIError message a call throws (fails when it throws something else or nothing). */
function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CLIError, `expected a CLIError, got ${String(e)}`);
    assert.equal(e.code, 2);
    return e.message;
  }
  assert.fail('expected a CLIError, nothing was thrown');
}

test('flag parsers: accepted values', () => {
  const cases: Array<[unknown, unknown]> = [
    [int('--ways', '5'), 5],
    [int('--seed', '0', 0), 0],
    [int('--input-size', '28', 4), 28],
    [anyInt('--seed', '-3'), -3],
    [positiveInt('--workers', '2'), 2],
    [positiveInt('--port', '0', true), 0],
    [positive('--lr', '1e-3'), 0.001],
    [positive('--alpha', '0', true), 0],
    [multipleOf('--digits', '300', 10, 20), 300],
    [numbers('--input-size', '224, 160', 2), [224, 160]],
    [numberList('--ways', '2,5,20,', (x) => Number.isInteger(x) && x >= 2, 'integers ≥ 2'), [2, 5, 20]],
    [names('Greek, ,Latin'), ['Greek', 'Latin']],
    [names(undefined, ['x']), ['x']],
    [oneOf('--selection', 'swap', ['holdout', 'swap']), 'swap'],
  ];
  for (const [got, want] of cases) assert.deepEqual(got, want);
});

test('flag parsers: each bad value gets its one-line message', () => {
  const cases: Array<[() => unknown, string]> = [
    [() => int('--ways', '1.5'), 'Invalid value for --ways: "1.5". Expected an integer ≥ 1.'],
    [() => int('--seed', '-1', 0), 'Invalid value for --seed: "-1". Expected an integer ≥ 0.'],
    [() => int('--max-iter', '', 0), 'Invalid value for --max-iter: "". Expected an integer ≥ 0.'],
    [() => anyInt('--seed', 'x'), 'Invalid value for --seed: "x". Expected an integer.'],
    [() => positiveInt('--workers', 'two'), 'Invalid value for --workers: "two". Expected a positive integer.'],
    [() => positiveInt('--nearest', '-2', true), 'Invalid value for --nearest: "-2". Expected a non-negative integer.'],
    [() => positive('--tau', '0'), 'Invalid value for --tau: "0". Expected a positive number.'],
    [() => positive('--alpha', '-1', true), 'Invalid value for --alpha: "-1". Expected a non-negative number.'],
    [() => positive('--lr', ' '), 'Invalid value for --lr: " ". Expected a positive number.'],
    [() => positive('--lr', 'Infinity'), 'Invalid value for --lr: "Infinity". Expected a positive number.'],
    [() => multipleOf('--digits', '25', 10, 20), 'Invalid value for --digits: "25". Expected a multiple of 10, at least 20.'],
    [() => multipleOf('--digits', '10', 10, 20), 'Invalid value for --digits: "10". Expected a multiple of 10, at least 20.'],
    [() => numbers('--input-size', '224', 2), 'Invalid value for --input-size: "224". Expected 2 comma-separated numbers.'],
    [() => numbers('--value-range', '0,x', 2), 'Invalid value for --value-range: "0,x". Expected 2 comma-separated numbers.'],
    [() => numberList('--ways', '2,1', (x) => Number.isInteger(x) && x >= 2, 'integers ≥ 2'), 'Invalid value for --ways: "2,1". Expected comma-separated integers ≥ 2.'],
    [() => numberList('--grid-j', ',', (x) => x >= 1, 'positive integers'), 'Invalid value for --grid-j: ",". Expected comma-separated positive integers.'],
    [() => oneOf('--selection', 'all', ['holdout', 'swap']), 'Invalid value for --selection: "all". Expected one of: holdout, swap.'],
    [() => oneOf('--methods', 'svm', ['ncm', 'nn1'], true), 'Invalid value for --methods: "svm". Expected some of: ncm, nn1.'],
  ];
  for (const [f, want] of cases) assert.equal(message(f), want);
});

test('libraryChoice: the library\'s own check decides, its list of choices is the CLI message\'s', () => {
  const regularization = (r: string) => new PrototypeClassifier({ regularization: r as 'l1' }).getParams().regularization;
  const resize = (r: string) => checkPreprocessing({ ...nsfwjsPreprocessing(224), alignCorners: false, resize: r as Preprocessing['resize'] }).resize;
  const cases: Array<[string, string, (s: string) => unknown, string]> = [
    ['--preprocess', 'zca', checkPreprocessMethod, 'Invalid value for --preprocess: "zca". Expected one of: none, l2, center-l2, sqrt-l2, sqrt-center-l2.'],
    ['--regularization', 'l3', regularization, 'Invalid value for --regularization: "l3". Expected one of: l1, l2.'],
    ['--passes', 'cuda', (p) => checkTrainOptions({ passes: p as ConvPasses }).passes, 'Invalid value for --passes: "cuda". Expected one of: gemm, tfjs.'],
    ['--head', 'svm', (h) => checkTrainOptions({ head: h as EmbeddingHead }).head, 'Invalid value for --head: "svm". Expected one of: protonet, prototype-layer, prototype-layer-episode.'],
    ['--backend', 'webgl', checkNodeBackend, 'Invalid value for --backend: "webgl". Expected one of: wasm, cpu.'],
    ['--resize', 'cubic', resize, 'Invalid value for --resize: "cubic". Expected one of: bilinear, nearest, bicubic.'],
    ['--pool', 'median', checkPool, 'Invalid value for --pool: "median". Expected one of: avg, max, none.'],
    ['--preset', 'caffe', (s) => presetPreprocessing(s).preset, 'Invalid value for --preset: "caffe". Expected one of: tfjs, torchvision, keras, clip.'],
    ['--classifiers', 'class-mean,svm', (s) => checkEvaluateClassifiers(names(s)), 'Invalid value for --classifiers: "class-mean,svm". Expected one of: prototype, class-mean, softmax, knn.'],
    // A library message without a list of choices is passed on whole.
    ['--x', 'y', () => { throw new RangeError('x must be positive, got y'); }, 'Invalid value for --x: "y". x must be positive, got y.'],
  ];
  for (const [flag, value, check, want] of cases) assert.equal(message(() => libraryChoice(flag, value, check)), want);
  assert.equal(libraryChoice('--preprocess', 'sqrt-l2', checkPreprocessMethod), 'sqrt-l2');
  assert.equal(libraryChoice('--regularization', 'l1', regularization), 'l1');
  assert.equal(libraryChoice('--backend', 'cpu', checkNodeBackend), 'cpu');
  // Not an input error: a bug goes through untouched.
  assert.throws(() => libraryChoice('--x', 'y', () => { throw new Error('bug'); }), (e: unknown) => !(e instanceof CLIError) && (e as Error).message === 'bug');
});

test('toCliError: input errors become one line (prefixed, skipBad named by the command\'s flag); anything else passes', async () => {
  const bad = new BadImageError('data/a/x.png', 'not a readable image (bad PNG)', true);
  assert.equal(bad.message, 'data/a/x.png: not a readable image (bad PNG) (the skipBad option leaves such files out)');
  assert.equal((toCliError(bad, undefined, { skipBad: '--skip-bad' }) as Error).message, 'data/a/x.png: not a readable image (bad PNG) (use --skip-bad to leave such files out)');
  assert.equal((toCliError(bad) as Error).message, 'data/a/x.png: not a readable image (bad PNG)');
  const size = new InputSizeError('m.onnx: input "x" (N×3×H×W) does not fix its height and width');
  assert.equal(size.message, 'm.onnx: input "x" (N×3×H×W) does not fix its height and width; give the input size (preprocessing height and width)');
  assert.equal((toCliError(size, undefined, { inputSize: '--input-size H,W' }) as Error).message, 'm.onnx: input "x" (N×3×H×W) does not fix its height and width; pass --input-size H,W');
  assert.equal((toCliError(new RangeError('3 rows, 4 labels'), 'f.npy') as Error).message, 'f.npy: 3 rows, 4 labels');
  assert.ok(toCliError(new TypeError('y: expected an array')) instanceof CLIError);
  const bug = new Error('bug');
  assert.equal(toCliError(bug), bug);
  assert.throws(() => userInput(() => { throw new RangeError('no'); }, 'm.json'), /^CLIError: m\.json: no$/);
  await assert.rejects(userInput(async () => { throw new TypeError('late'); }), /^CLIError: late$/);
  assert.equal(userInput(() => 7), 7);
});
