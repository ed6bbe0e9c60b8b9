/**
 * The long fuzzing campaign of issue 20: every reader (.npy, CSV, JSON lines, model JSON, the
 * feature sidecar, zip data sets, image files) gets RUNS generated inputs — valid, truncated,
 * bit-flipped and adversarial — and each must end in a result (checked against the source when
 * valid) or a named error. Prints, per reader, the inputs of each family read or refused, the
 * time, and the process's peak RSS (which stays far from anything a lying header claims). A
 * failure is shrunk by fast-check to a minimal input and printed; the campaign goes on with the
 * next reader. Generators and judge: test/helpers/fuzz.ts (the test suite runs the same with
 * fewer inputs).
 *
 * usage: nice -n 10 node --import tsx bench/fuzz.ts [RUNS=20000] [SEED=1] [READER substring]
 */
import { cpus, loadavg } from 'node:os';
import { campaigns, runCampaign } from '../test/helpers/fuzz.ts';

const runs = Number(process.argv[2] ?? 20000);
const seed = Number(process.argv[3] ?? 1);
const only = process.argv[4];
console.log(`fuzz campaign: ${runs} inputs per reader, seed ${seed}; ${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; ` +
  `${new Date().toISOString()}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
let peak = process.memoryUsage.rss();
const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 20);
console.log('| reader | valid read | truncated read / refused | bit-flipped read / refused | adversarial read / refused | time | peak RSS |');
console.log('|---|---|---|---|---|---|---|');
let failed = 0;
for (const c of campaigns()) {
  if (only && !c.name.includes(only)) continue;
  const t0 = performance.now();
  try {
    const t = await runCampaign(c, runs, seed);
    const rw = (f: keyof typeof t): string => `${t[f].result} / ${t[f].refused}`;
    console.log(`| ${c.name} | ${t.valid.result}${t.valid.refused ? ` (${t.valid.refused} refused!)` : ''} | ${rw('truncated')} | ${rw('bit-flipped')} | ${rw('adversarial')} | ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s | ${(peak / 2 ** 20).toFixed(0)} MB |`);
  } catch (e) {
    failed++;
    const cause = (e as Error).cause as Error | undefined;
    console.log(`| ${c.name} | FAILED | | | | ${((performance.now() - t0) / 1000).toFixed(0)} s | |`);
    console.log((e as Error).message.split('\n').slice(0, 4).join('\n'));
    console.log(`cause: ${cause?.message ?? ''}`);
  }
}
clearInterval(sampler);
process.exitCode = failed ? 1 : 0;
