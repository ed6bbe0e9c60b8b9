/**
 * The episodic protocol (src/select/episodes.ts) and `protolens bench episodes`: queries never in
 * their support, the same seed gives the same episodes, data that cannot fill an episode is
 * refused naming the class, known answers on synthetic features, and the command's outputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drawEpisodes, episodeScore, groupIndexes, runEpisodeBench, scoreEpisode } from '../src/select/episodes.ts';
import { rng } from '../src/linalg/random.ts';
import { EPISODE_METRIC } from '../src/select/episodes.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { runCli as cli } from './helpers/cli.ts';

/** `groups` groups of `perGroup` classes, each with `perClass` samples around its own centre. */
function synthetic(groups: number, perGroup: number, perClass: number, dim = 8, spread = 0.05, seed = 1): { X: number[][]; labels: string[] } {
  const r = rng(seed);
  const X: number[][] = [], labels: string[] = [];
  for (let g = 0; g < groups; g++) for (let c = 0; c < perGroup; c++) {
    const centre = Array.from({ length: dim }, () => r.normal());
    for (let i = 0; i < perClass; i++) {
      X.push(centre.map((v) => v + spread * r.normal()));
      labels.push(`g${g}/c${c}`);
    }
  }
  return { X, labels };
}

test('episodes: a query is never in its support, support and query are class-major and from the episode\'s classes', () => {
  const { labels } = synthetic(3, 8, 6);
  for (const groups of ['across', 'within'] as const) {
    const { episodes } = drawEpisodes(labels, { nWay: 5, kShot: 2, groups }, 3, 200, 7);
    for (const ep of episodes) {
      const support = new Set(ep.support);
      assert.equal(support.size, ep.support.length, 'distinct support samples');
      for (const q of ep.query) assert.ok(!support.has(q), `query ${q} is in the support`);
      assert.equal(new Set(ep.query).size, ep.query.length, 'distinct queries');
      // Sample i of the support and query blocks belongs to the episode's class ⌊i/K⌋ (⌊i/Q⌋).
      const labelOf = (i: number, k: number, rows: Int32Array) => labels[rows[i * k]];
      for (let c = 0; c < 5; c++) {
        for (let k = 0; k < 2; k++) assert.equal(labels[ep.support[c * 2 + k]], labelOf(c, 2, ep.support));
        for (let q = 0; q < 3; q++) assert.equal(labels[ep.query[c * 3 + q]], labelOf(c, 2, ep.support));
      }
      if (groups === 'within') assert.equal(new Set(Array.from(ep.support, (i) => labels[i].split('/')[0])).size, 1, 'one group');
    }
  }
  // And the protocol itself refuses an episode whose query is in its support.
  const X = { data: new Float32Array(labels.length * 2), rows: labels.length, cols: 2 };
  const bad = { classes: Int32Array.of(0, 1), support: Int32Array.of(0, 6), query: Int32Array.of(1, 0) };
  assert.throws(() => scoreEpisode(X, bad, { nWay: 2, kShot: 1, groups: 'across' }, 1, ['class-mean'], 'none', 0), /sample 0 is both support and query/);
});

test('episodes: the same seed gives the same episodes, another seed others', () => {
  const { labels } = synthetic(2, 10, 5);
  const s = { nWay: 5, kShot: 1, groups: 'across' as const };
  const a = drawEpisodes(labels, s, 2, 20, 3).episodes, b = drawEpisodes(labels, s, 2, 20, 3).episodes, c = drawEpisodes(labels, s, 2, 20, 4).episodes;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // A run's accuracies are reproducible too.
  const d = synthetic(2, 10, 5, 8, 1.5);
  const o = { ways: [5], shots: [1], queries: 2, episodes: 30, seed: 3, classifiers: ['class-mean', 'prototype'] as const };
  const r1 = runEpisodeBench(d, { ...o, classifiers: [...o.classifiers] }), r2 = runEpisodeBench(d, { ...o, classifiers: [...o.classifiers] });
  assert.deepEqual(r1.settings[0].scores, r2.settings[0].scores);
});

test('episodes: too few classes, too few samples in a class, or no group large enough are refused, naming the class or group', () => {
  const { labels } = synthetic(2, 4, 5);
  assert.throws(() => drawEpisodes(labels, { nWay: 10, kShot: 1, groups: 'across' }, 1, 1, 0), /the data has 8 classes; a 10-way episode needs at least 10/);
  const short = labels.slice(0, -3); // class g1/c3 keeps 2 samples
  assert.throws(() => drawEpisodes(short, { nWay: 5, kShot: 1, groups: 'across' }, 2, 1, 0),
    /class "g1\/c3" has 2 images; 1-shot episodes with 2 queries per class need at least 3/);
  assert.throws(() => drawEpisodes(labels, { nWay: 5, kShot: 1, groups: 'within' }, 1, 1, 0), /no group has 5 classes .*the largest, "g0", has 4/);
  assert.throws(() => groupIndexes(['a/1', 'b'], 1), /labels of the form group\/class; row 1 has the label "b"/);
  assert.throws(() => drawEpisodes(short, { nWay: 4, kShot: 2, groups: 'within' }, 1, 1, 0), /group "g1": class "g1\/c3" has 2/);
});

test('episodes: known answers — separated classes are all right; the interval is 1.96 sd / √n', () => {
  const d = synthetic(2, 10, 6, 8, 0.01);
  const r = runEpisodeBench(d, { ways: [5, 10], shots: [1, 5], queries: 1, episodes: 10, seed: 1, groups: ['across', 'within'], classifiers: ['class-mean', 'knn', 'softmax'] });
  assert.deepEqual(r.settings.map((s) => `${s.setting.kShot}/${s.setting.nWay}/${s.setting.groups}`),
    ['1/5/across', '1/10/across', '5/5/across', '5/10/across', '1/5/within', '1/10/within', '5/5/within', '5/10/within']);
  for (const s of r.settings) for (const sc of Object.values(s.scores)) assert.equal(sc!.mean, 1, `${JSON.stringify(s.setting)}`);
  assert.deepEqual(r.settings[4].groupsUsed, ['g0', 'g1']);
  // Noise as large as the class spread: the class mean is right about as often as chance allows, not always.
  const noisy = runEpisodeBench(synthetic(1, 20, 6, 2, 3), { ways: [20], shots: [1], queries: 5, episodes: 20, classifiers: ['class-mean'] });
  const m = noisy.settings[0].scores['class-mean']!.mean;
  assert.ok(m > 0.05 && m < 0.6, `noisy 20-way accuracy ${m}`);
  const e = episodeScore([0.5, 1, 0.75, 0.75]);
  assert.equal(e.mean, 0.75);
  assert.ok(Math.abs(e.ci95 - 1.96 * Math.sqrt(0.125 / 3) / 2) < 1e-12);
});

test('bench episodes CLI: Markdown on stdout, episodes.json with the seed and per-episode figures; a folder not ours, or too few samples, are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-episodes-'));
  try {
    const d = synthetic(2, 6, 4, 3, 0.02);
    const csv = join(dir, 'f.csv');
    writeFileSync(csv, ['a,b,c,label', ...d.X.map((x, i) => `${x.join(',')},${d.labels[i]}`)].join('\n') + '\n');
    const out = join(dir, 'out');
    const args = ['bench', 'episodes', '--features', csv, '--ways', '5', '--shots', '1,2', '--queries', '2', '--episodes', '25', '--seed', '9', '--across-and-within', '--classifiers', 'class-mean,knn', '--preprocess', 'none', '--out', out, '--no-progress'];
    const r = await cli(args);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\| features \| setting \| nearest class mean \| 1-NN \|$/m);
    assert.match(r.out, /\| 2-shot 5-way, within one group \| 100\.0 ± 0\.0 \| 100\.0 ± 0\.0 \|/);
    const json = JSON.parse(readFileSync(join(out, 'episodes.json'), 'utf8'));
    assert.equal(json.options.seed, 9);
    assert.equal(json.settings.length, 4);
    assert.equal(json.settings[0].scores['class-mean'].perEpisode.length, 25);
    assert.ok(existsSync(join(out, 'episodes.md')));
    // Again onto its own folder: replaced; onto a folder of the user's: refused without --force.
    assert.equal((await cli(args)).code, 0);
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    const refused = await cli([...args.slice(0, -3), '--out', mine, '--no-progress']);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /mine/);
    // 5 queries + 1 shot need 6 samples per class; the classes have 4.
    const few = await cli(['bench', 'episodes', '--features', csv, '--ways', '5', '--shots', '1', '--queries', '5', '--out', join(dir, 'o2'), '--no-progress']);
    assert.equal(few.code, 2);
    assert.match(few.err, /^protolens: .*f\.csv: the data: class "g0\/c0" has 4 images; 1-shot episodes with 5 queries per class need at least 6/m);
    const bad = await cli(['bench', 'episodes', '--features', csv, '--classifiers', 'ncm', '--out', join(dir, 'o3')]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Invalid value for --classifiers: "ncm"\. Expected some of: prototype, prototype-metric, class-mean, knn, softmax\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('episodes: the learned-metric setting keeps each class\'s prototype at its support mean, in feature space', () => {
  // Overlapping classes, 5-shot: a prototype step on the support loss would move prototypes away from the means.
  const { X, labels } = synthetic(1, 10, 5, 6, 0.9, 5);
  const model = new PrototypeClassifier({ ...EPISODE_METRIC, nPrototypes: 10, regularization: 'l2', metric: 'lowrank', tau: 'auto', seed: 0 }).fit(X, labels);
  const P = model.prototypes_!;
  let worst = 0;
  for (let j = 0; j < P.rows; j++) {
    const cls = model.classes_[model.initClass_[j]];
    const rows = X.filter((_, i) => labels[i] === cls);
    for (let d = 0; d < 6; d++) worst = Math.max(worst, Math.abs(P.data[j * 6 + d] - rows.reduce((a, x) => a + x[d], 0) / rows.length));
  }
  assert.ok(worst < 1e-5, `a prototype is ${worst} away from its class's support mean`);
  // With a prototype step the same fit moves them: the check above can fail.
  const moved = new PrototypeClassifier({ ...EPISODE_METRIC, prototypeSteps: 1, nPrototypes: 10, regularization: 'l2', metric: 'lowrank', tau: 'auto', seed: 0 }).fit(X, labels);
  let shift = 0;
  for (let k = 0; k < P.data.length; k++) shift = Math.max(shift, Math.abs(moved.prototypes_!.data[k] - P.data[k]));
  assert.ok(shift > 1e-2, `a prototype step moved no prototype (${shift})`);
});
