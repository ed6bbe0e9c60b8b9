/**
 * Kill trials of issue 20: `extract`, `fit`, `explain`, `bench episodes` and `train-embedding`
 * are each run to completion once, then TRIALS times SIGKILLed after a random delay (seeded,
 * uniform over about one run) and run again. Each trial checks that the earlier output is byte for
 * byte what it was and still loads, that the rerun completes, and notes what the rerun resumed
 * (images from the cache, the checkpoint's episode). Prints a table per command.
 * train-embedding needs Omniglot (../shared/data/omniglot); it is left out without it.
 *
 * usage: nice -n 10 node --import tsx bench/kill.ts [TRIALS=10] [SEED=1] [COMMAND substring] [SPAN scale=1]
 * (SPAN stretches every command's delay range: on a loaded machine a run takes longer, and kills
 * drawn over the quiet machine's span land before the first outputs, e.g. the first cache entry.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractCase, featureCases, killTrial, runProtolens, trainEmbeddingCase, type KillCase, type TrialOutcome } from '../test/helpers/kill.ts';
import { omniglotDir } from '../test/helpers/data.ts';
import { rng } from '../src/linalg/random.ts';

const trials = Number(process.argv[2] ?? 10);
const seed = Number(process.argv[3] ?? 1);
const only = process.argv[4];
const spanScale = Number(process.argv[5] ?? 1);
console.log(`kill trials: ${trials} per command, seed ${seed}, delays over ${spanScale} × each command's span; ${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; ` +
  `${new Date().toISOString()}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const dir = mkdtempSync(join(tmpdir(), 'protolens-killbench-'));
const om = omniglotDir();
const cases: KillCase[] = [await extractCase(dir), ...featureCases(dir)];
if (!om.skip) cases.push(trainEmbeddingCase(dir, om.path)); else console.log(`train-embedding left out: ${om.skip}`);
const r = rng(seed);
console.log('| command | trials | killed before the end | earlier output intact and loadable | rerun completed | what the reruns found | temp files left beside the output (max) |');
console.log('|---|---|---|---|---|---|---|');
let failures = 0;
try {
  for (const c of cases) {
    if (only && !c.name.includes(only)) continue;
    const first = await runProtolens(c.args);
    if (first.code !== 0) throw new Error(`${c.name}: the first complete run failed: ${first.err}`);
    c.load();
    const outcomes: TrialOutcome[] = [];
    const errors: string[] = [];
    for (let t = 0; t < trials; t++) {
      const delay = Math.round(200 + r.next() * c.spanMs * spanScale);
      try {
        outcomes.push(await killTrial(c, t, delay));
      } catch (e) {
        errors.push((e as Error).message.split('\n')[0]);
      }
    }
    failures += errors.length;
    // notes by template, with the range of each of their numbers ("rerun computed 12–40 and took 0–28 …")
    const notes = new Map<string, { cols: number[][]; count: number }>();
    for (const o of outcomes) for (const n of o.note.split('; ').filter(Boolean)) {
      const key = n.replace(/\d+/g, 'N'), nums = (n.match(/\d+/g) ?? []).map(Number);
      const e = notes.get(key) ?? { cols: nums.map(() => []), count: 0 };
      nums.forEach((v, i) => e.cols[i]?.push(v));
      e.count++;
      notes.set(key, e);
    }
    const shown = (k: string, e: { cols: number[][]; count: number }) => {
      let i = 0;
      return `${k.replace(/N/g, () => { const v = e.cols[i++] ?? []; const lo = Math.min(...v), hi = Math.max(...v); return lo === hi ? String(lo) : `${lo}–${hi}`; })} ×${e.count}`;
    };
    console.log(`| ${c.name} | ${trials} | ${outcomes.filter((o) => o.killed).length} | ${outcomes.length} | ${outcomes.length} | ` +
      `${[...notes].map(([k, v]) => shown(k, v)).join(', ')} | ${Math.max(0, ...outcomes.map((o) => o.leftovers))} |`);
    for (const e of errors) console.log(`  FAILED: ${e}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failures ? 1 : 0;
