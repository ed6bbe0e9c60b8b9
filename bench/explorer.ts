/**
 * Is the explorer's map smooth at 20,000 points? Serves a synthetic map of N samples (twisted
 * classes, D = 32, 20 classes, J = 40) and drives the built page in Debian's Chromium:
 *
 * - draw: time of one full redraw of the canvas (`drawNow`) after a zoom or a pan step, over 200 steps;
 * - frames: intervals between animation frames while the map is panned and zoomed on every frame
 *   for 3 s (what a user dragging or scrolling sees; 16.7 ms is 60 frames per second);
 * - pick: time to find the sample under the cursor, over 2,000 random positions (hover).
 *
 * usage: node --import tsx bench/explorer.ts [N]
 */
import { cpus, loadavg } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { twistedClasses } from '../src/data/synthetic.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { ensureWebBuild } from '../src/server/build.node.ts';
import { startExplorerServer } from '../src/server/server.node.ts';

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
  const page = await ctx.newPage();
  const tLoad = performance.now();
  await page.goto(server.url);
  await page.waitForFunction(() => (window as any).__protolens?.ready, null, { timeout: 120_000 });
  const loadMs = performance.now() - tLoad;
  // Passed as source text: the TypeScript loader would otherwise wrap functions in helpers the page does not have.
  const r = await page.evaluate(`(async () => {
    const h = window.__protolens;
    const q = (a, p) => { const s = a.slice().sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
    const draws = [];
    for (let k = 0; k < 200; k++) {
      if (k % 2) h.zoom(k % 4 === 1 ? 1.05 : 1 / 1.05); else h.pan(3, -2);
      draws.push(h.frameMs);
    }
    const samplesAtFit = h.samples;
    // Animation frames while panning and zooming every frame, for 3 s.
    const gaps = [];
    await new Promise((resolve) => {
      let last = performance.now(), k = 0;
      const start = last;
      const step = (t) => {
        gaps.push(t - last); last = t; k++;
        h.pan(k % 40 < 20 ? 4 : -4, 1);
        if (k % 3 === 0) h.zoom(k % 60 < 30 ? 1.02 : 1 / 1.02);
        if (t - start < 3000) requestAnimationFrame(step); else resolve();
      };
      requestAnimationFrame(step);
    });
    gaps.shift();
    // Hover picking.
    const canvas = document.getElementById('map');
    const w = canvas.clientWidth, hh = canvas.clientHeight;
    let picks = 0;
    const tp = performance.now();
    for (let k = 0; k < 2000; k++) if (h.pickSample((k * 7919) % w, (k * 104729) % hh) !== null) picks++;
    const pickMs = (performance.now() - tp) / 2000;
    return {
      drawMedian: q(draws, 0.5), drawP95: q(draws, 0.95), drawMax: Math.max(...draws), samplesAtFit,
      frames: gaps.length, frameMedian: q(gaps, 0.5), frameP95: q(gaps, 0.95), frameMax: Math.max(...gaps),
      over33: gaps.filter((g) => g > 33.4).length, pickMs, picks,
    };
})()`) as Record<string, number>;
  console.log(`explorer map benchmark: N=${d.X.rows} samples, J=40 prototypes, D=32; Chromium headless (software drawing, --disable-gpu), 1400×860; ` +
    `${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; load average ${loadavg()[0].toFixed(1)} at the end; ${new Date().toISOString().slice(0, 10)}`);
  console.log(`  server: fit ${fitMs.toFixed(0)} ms (5 iterations), map + analysis ${mapMs.toFixed(0)} ms; page load to first frame ${loadMs.toFixed(0)} ms`);
  console.log(`  full redraw: median ${r.drawMedian.toFixed(1)} ms, p95 ${r.drawP95.toFixed(1)} ms, max ${r.drawMax.toFixed(1)} ms (200 zoom/pan steps)`);
  console.log(`  frames while panning+zooming for 3 s: ${r.frames} frames, interval median ${r.frameMedian.toFixed(1)} ms, p95 ${r.frameP95.toFixed(1)} ms, max ${r.frameMax.toFixed(1)} ms, ${r.over33} over 33 ms`);
  console.log(`  hover pick: ${(r.pickMs * 1000).toFixed(1)} µs per lookup (${r.picks}/2000 found a sample)`);
} finally {
  await ctx.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}
