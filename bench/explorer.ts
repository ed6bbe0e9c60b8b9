/**
 * Is the explorer's map smooth at 20,000 points? Serves a synthetic map of N samples (twisted
 * classes, D = 32, 20 classes, J = 40) and drives the built page in Debian's Chromium:
 *
 * - over 240 animation frames, each panning or zooming the map (what a user dragging or scrolling
 *   sees): the redraw time in JavaScript, the interval between frames (16.7 ms = 60 per second), and
 *   the CPU time of Chromium's renderer processes per frame (script + rasterisation, not counting
 *   time spent waiting for a core on a shared machine);
 * - pick: time to find the sample under the cursor, over 2,000 random positions (hover).
 *
 * usage: node --import tsx bench/explorer.ts [N]   (SHOT=file.png also saves a screenshot)
 */
import { cpus, loadavg } from 'node:os';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { twistedClasses } from '../src/data/synthetic.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { ensureWebBuild } from '../src/server/build.node.ts';
import { startExplorerServer } from '../src/server/server.node.ts';

/** User+system CPU time, in ms, of all Chromium renderer processes (from /proc). */
function rendererCpuMs(): number {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      total += (Number(f[11]) + Number(f[12])) * tick;
    } catch { /* the process ended */ }
  }
  return total;
}

const N = Number(process.argv[2] ?? 20000);
const perBlob = Math.max(1, Math.round(N / 40));
const d = twistedClasses({ seed: 0, nClasses: 20, dim: 32, blobsPerClass: [2, 2], samplesPerBlob: [perBlob, perBlob], singleton: false });
const t0 = performance.now();
const model = new PrototypeClassifier({ nPrototypes: 40, seed: 0, maxIter: 5 }).fit(d.X, d.y);
const fitMs = performance.now() - t0;
const webDir = await ensureWebBuild();
const t1 = performance.now();
const server = await startExplorerServer({ title: `synthetic ${d.X.rows}`, source: 'bench', X: d.X, y: d.y, names: d.y.map((_, i) => `#${i}`), model }, { webDir });
const mapMs = performance.now() - t1;
const profile = mkdtempSync(join(tmpdir(), 'protolens-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 860 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // The context's own first tab: a second tab would count as hidden, and hidden tabs get no animation frames.
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const tLoad = performance.now();
  await page.goto(server.url);
  await page.waitForFunction(() => (window as any).__protolens?.ready, null, { timeout: 120_000 });
  const loadMs = performance.now() - tLoad;
  // 240 animation frames, each panning or zooming the map (as a user dragging or scrolling does),
  // with the time of each redraw in JavaScript and the interval between frames (16.7 ms = 60 per
  // second); and the CPU time of Chromium's renderer processes over them, which also counts the
  // rasterisation after the script and does not count time spent waiting for a core.
  await page.waitForTimeout(500);
  const cpu0 = rendererCpuMs();
  // Passed as source text: the TypeScript loader would otherwise wrap functions in helpers the page does not have.
  const r = await page.evaluate(`(async () => {
    const h = window.__protolens;
    const q = (a, p) => { const s = a.slice().sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
    const draws = [], gaps = [];
    await new Promise((resolve) => {
      let last = 0, k = 0;
      const step = (t) => {
        if (last) gaps.push(t - last);
        last = t;
        if (k % 3 === 2) h.zoom(k % 60 < 30 ? 1.03 : 1 / 1.03); else h.pan(k % 40 < 20 ? 4 : -4, 1);
        draws.push(h.frameMs);
        if (++k < 240) requestAnimationFrame(step); else resolve();
      };
      requestAnimationFrame(step);
    });
    const canvas = document.getElementById('map');
    const w = canvas.clientWidth, hh = canvas.clientHeight;
    let picks = 0;
    const tp = performance.now();
    for (let k = 0; k < 2000; k++) if (h.pickSample((k * 7919) % w, (k * 104729) % hh) !== null) picks++;
    const pickMs = (performance.now() - tp) / 2000;
    return {
      frames: draws.length, samplesDrawn: h.samples,
      drawMedian: q(draws, 0.5), drawP95: q(draws, 0.95), drawMax: Math.max(...draws),
      gapMedian: q(gaps, 0.5), gapP95: q(gaps, 0.95), gapMax: Math.max(...gaps), over33: gaps.filter((g) => g > 33.4).length,
      pickMs, picks,
    };
  })()`) as Record<string, number>;
  const cpuPerFrame = (rendererCpuMs() - cpu0) / r.frames;
  if (process.env.SHOT) await page.screenshot({ path: process.env.SHOT });
  console.log(`explorer map benchmark: N=${d.X.rows} samples, J=40 prototypes, D=32; Chromium headless (software drawing, --disable-gpu), 1400×860; ` +
    `${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; load average ${loadavg()[0].toFixed(1)} at the end; ${new Date().toISOString().slice(0, 10)}`);
  console.log(`  server: fit ${fitMs.toFixed(0)} ms (5 iterations), map + analysis ${mapMs.toFixed(0)} ms; page load to first frame ${loadMs.toFixed(0)} ms`);
  console.log(`  ${r.frames} frames of pan/zoom: redraw in JavaScript median ${r.drawMedian.toFixed(1)} ms, p95 ${r.drawP95.toFixed(1)} ms, max ${r.drawMax.toFixed(1)} ms; ` +
    `renderer CPU ${cpuPerFrame.toFixed(1)} ms per frame (script + rasterisation)`);
  console.log(`  frame interval median ${r.gapMedian.toFixed(1)} ms, p95 ${r.gapP95.toFixed(1)} ms, max ${r.gapMax.toFixed(1)} ms; ${r.over33} of ${r.frames - 1} over 33 ms`);
  console.log(`  hover pick: ${(r.pickMs * 1000).toFixed(1)} µs per lookup (${r.picks}/2000 positions found a sample)`);
} finally {
  await ctx.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}
