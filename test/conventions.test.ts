// One meaning per option name across commands (docs/cli.md): every sub-command is registered and
// its options read back from commander, so a new command or option that breaks a convention fails
// here. Then the --json of the quick commands is parsed, and the exit codes are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, type Option } from 'commander';
import { COMMANDS } from '../src/cli/main.ts';
import { DEFAULT_PREPROCESS } from '../src/model/preprocess.ts';
import { writeFeatures } from '../src/data/features.node.ts';
import { twistedClasses } from '../src/data/synthetic.ts';
import { runCli } from './helpers/cli.ts';

/** Every leaf command ("fit", "bench fewshot", …) with its options and arguments. */
async function leaves(): Promise<Array<{ name: string; options: readonly Option[]; args: string[] }>> {
  const program = new Command();
  for (const c of COMMANDS) (await c.load()).register(program);
  const out: Array<{ name: string; options: readonly Option[]; args: string[] }> = [];
  const walk = (cmd: Command, prefix: string) => {
    for (const sub of cmd.commands) {
      const name = `${prefix}${sub.name()}`;
      if (sub.commands.length) walk(sub, `${name} `);
      else out.push({ name, options: sub.options, args: sub.registeredArguments.map((a) => a.name()) });
    }
  };
  walk(program, '');
  return out;
}

/** Commands that print results (not only progress or a path), and so take --json. */
const PRINTS_RESULTS = ['demo', 'extract', 'fit', 'predict', 'evaluate', 'explain', 'bench fewshot', 'bench episodes', 'bench openset', 'bench calibration', 'train-embedding', 'combine-embeddings', 'serve', 'doctor', 'backbones'];

test('conventions: --seed defaults to 0 (demo: 1), --preprocess to auto (the features\' recommendation), -J is the total, the feature file is -f/--features, --json where results are printed', async () => {
  const all = await leaves();
  assert.deepEqual(all.map((c) => c.name).sort(), [...PRINTS_RESULTS].sort(), 'a new command: decide whether it prints results');
  const opt = (c: { options: readonly Option[] }, long: string) => c.options.find((o) => o.long === long);
  for (const c of all) {
    const seed = opt(c, '--seed');
    // demo keeps seed 1: its recorded results (BENCHMARKS.md, docs/interpretation.md) are at seed 1.
    if (seed) assert.equal(String(seed.defaultValue), c.name === 'demo' ? '1' : '0', `${c.name} --seed`);
    const pre = opt(c, '--preprocess');
    // auto: what the features' backbone recommends, else DEFAULT_PREPROCESS (test/preprocess-auto.test.ts).
    if (pre) assert.equal(pre.defaultValue, 'auto', `${c.name} --preprocess`);
    const J = opt(c, '--prototypes');
    if (J) {
      assert.equal(J.short, '-J', `${c.name}: --prototypes is -J`);
      assert.doesNotMatch(J.description, /^prototypes per class/i, `${c.name}: -J is the total`);
    }
    for (const o of c.options) {
      // A count per class says so in its name or its description.
      if (/per-class|grid-j/.test(o.long ?? '')) assert.match(o.description, /per class/, `${c.name} ${o.long}`);
    }
    const features = opt(c, '--features');
    if (features) assert.equal(features.short, '-f', `${c.name}: --features is -f`);
    // A feature file given positionally is also accepted as -f/--features.
    if (c.args.includes('features')) assert.ok(features, `${c.name}: [features] and --features`);
    assert.ok(opt(c, '--json'), `${c.name} --json`);
  }
});

test('conventions: --json prints one JSON document; exit codes 0, 2 (usage or bad input)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'protolens-conventions-'));
  try {
    const d = twistedClasses({ seed: 2, nClasses: 3, dim: 4, singleton: false });
    const feats = join(dir, 'f.npy');
    writeFeatures(feats, { X: d.X, labels: d.y });
    let r = await runCli(['fit', '-f', feats, '-o', join(dir, 'm.json'), '-J', '6', '--max-iter', '10', '--json', '--no-progress']);
    assert.equal(r.code, 0, r.err);
    const fit = JSON.parse(r.out);
    // Features that recommend no preprocessing (no backbone in the sidecar): the library default, recorded resolved.
    assert.deepEqual([fit.model, fit.rows, fit.cols, fit.classes, fit.seed, fit.preprocess, fit.search], [join(dir, 'm.json'), d.X.rows, 4, 3, 0, DEFAULT_PREPROCESS, null]);
    assert.ok(fit.prototypes >= 3 && fit.prototypes <= 6 && fit.loss[1] <= fit.loss[0]);
    r = await runCli(['explain', join(dir, 'm.json'), '-f', feats, '-o', join(dir, 'report'), '--no-png', '--json']);
    assert.equal(r.code, 0, r.err);
    const ex = JSON.parse(r.out);
    assert.equal(ex.report, join(dir, 'report', 'report.html'));
    assert.ok(ex.accuracy > 0.3 && ex.accuracy <= 1);
    r = await runCli(['demo', '--no-images', '--json']);
    assert.equal(r.code, 0, r.err);
    const demo = JSON.parse(r.out);
    assert.equal(demo.synthetic.seed, 1);
    assert.equal(demo.synthetic.models.length, 6);
    assert.equal(demo.digits, null);
    // Usage errors and bad input: 2, one line.
    r = await runCli(['fit', '-o', join(dir, 'n.json')]);
    assert.deepEqual([r.code, r.err], [2, 'protolens: a feature file is needed: give it as the first argument or as --features FILE\n']);
    r = await runCli(['fit', feats, '-o', join(dir, 'n.json'), '--bogus']);
    assert.equal(r.code, 2);
    r = await runCli(['fit', join(dir, 'missing.npy'), '-o', join(dir, 'n.json')]);
    assert.equal(r.code, 2);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
