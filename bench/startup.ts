/**
 * Start-up time of the `protolens` command: `protolens --version` as the installed package runs
 * it (bin/protolens.mjs on the compiled dist/), against the same command on the sources through
 * tsx (what every start cost before the package was compiled), `protolens --help` (which loads the
 * argument parser) and a bare `node -e 0` (the floor).
 *
 *   nice -n 10 node --import tsx bench/startup.ts [--runs 15]
 *
 * dist/ is built first when it is older than the sources (scripts/build.mjs --if-stale). The
 * three commands are run in turn, `runs` times each, so that they share the machine's load; the
 * figures are the median and the fastest wall-clock time of a whole process, start to exit.
 * The run on the sources goes through the same bin with PROTOLENS_BIN_SOURCES=1. Prints a Markdown
 * table for BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);

const built = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-stale'], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) throw new Error('the build failed');

const bin = join(root, 'bin', 'protolens.mjs');
const cases = [
  { name: '`protolens --version`, compiled (dist/)', args: [bin, '--version'], env: {} },
  { name: '`protolens --version`, sources through tsx', args: [bin, '--version'], env: { PROTOLENS_BIN_SOURCES: '1' } },
  { name: '`protolens --help`, compiled (dist/)', args: [bin, '--help'], env: {} },
  { name: '`node -e 0` (Node alone)', args: ['-e', '0'], env: {} },
];
const times = cases.map(() => [] as number[]);
const load0 = loadavg()[0];
for (let r = 0; r < runs; r++) {
  cases.forEach((c, i) => {
    const t0 = performance.now();
    const p = spawnSync(process.execPath, c.args, { cwd: root, env: { ...process.env, ...c.env }, encoding: 'utf8' });
    times[i].push(performance.now() - t0);
    if (p.status !== 0) throw new Error(`${c.name} exited with ${p.status}: ${p.stderr}`);
  });
}
const load1 = loadavg()[0];
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const sec = (ms: number) => (ms / 1000).toFixed(3);
const compiled = median(times[0]);
console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${runs} runs each, load average ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
console.log('');
console.log('| command | median (s) | fastest (s) | median ÷ compiled |');
console.log('|---|---|---|---|');
cases.forEach((c, i) => console.log(`| ${c.name} | ${sec(median(times[i]))} | ${sec(Math.min(...times[i]))} | ${(median(times[i]) / compiled).toFixed(2)} |`));
