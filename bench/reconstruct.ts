/**
 * Time to reconstruct prototypes (src/interpret/reconstruct.ts): a saved prototype model and the
 * feature file it was fitted on; the backbone is the one the file records.
 *
 *   nice -n 10 node --import tsx bench/reconstruct.ts --model M.json --features F.npy [--prototypes all|N] [--steps S] [--seed 0]
 *     [--start G --decay D --tv T] [--out sheet.png]
 *
 * `--prototypes N` reconstructs the first N prototypes, `all` every one. Prints the load time of
 * the backbone, the wall time of the reconstruction (one warm-up step first, untimed) and the CPU
 * time of this process meanwhile (on a shared machine the wall time also counts other people's
 * work; the reconstruction runs on one thread, so CPU time is what a quiet machine would take), the
 * time per prototype, and each prototype's q_j and distance, with how many reach q_j ≥ 0.9.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { readFeatures } from '../src/data/features.node.ts';
import { readPrototypeModel } from '../src/data/modelfile.node.ts';
import { backboneForFeatures } from '../src/features/for-features.node.ts';
import { reconstructPrototypes } from '../src/interpret/reconstruct.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, features: { type: 'string' }, prototypes: { type: 'string', default: 'all' },
    steps: { type: 'string' }, seed: { type: 'string', default: '0' },
    start: { type: 'string' }, decay: { type: 'string' }, tv: { type: 'string' }, out: { type: 'string' },
  },
});
if (!values.model || !values.features) throw new Error('usage: bench/reconstruct.ts --model M.json --features F.npy [--prototypes all|N]');
const fs = readFeatures(values.features);
const { saved, model } = readPrototypeModel(values.model);
const J = model.W_!.rows;
const n = values.prototypes === 'all' ? J : Math.min(J, Number(values.prototypes));
const load0 = loadavg()[0];
let t0 = performance.now();
const backbone = await backboneForFeatures(fs.meta, { file: values.features });
const loadS = (performance.now() - t0) / 1000;
const m = saved as Parameters<typeof reconstructPrototypes>[0];
const options: Parameters<typeof reconstructPrototypes>[3] = { seed: Number(values.seed) };
for (const k of ['steps', 'start', 'decay', 'tv'] as const) if (values[k] !== undefined) options[k] = Number(values[k]);
await reconstructPrototypes(m, backbone, [0], { ...options, steps: 1 }); // warm-up: kernels compiled, weights folded
t0 = performance.now();
const cpu0 = process.cpuUsage();
const rs = await reconstructPrototypes(m, backbone, Array.from({ length: n }, (_, j) => j), options);
const s = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
const reached = rs.filter((r) => r.reached).length;
console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
console.log(`backbone ${backbone.info.name} (${backbone.preprocessing.height}×${backbone.preprocessing.width} input, ${backbone.info.dim}-d), loaded in ${loadS.toFixed(1)} s; model ${J} prototypes × ${model.classes_.length} classes`);
console.log(`| prototypes | steps | image | wall time (s) | CPU time (s) | per prototype, wall (s) | q_j ≥ 0.9 | median q_j | min q_j |`);
console.log('|---|---|---|---|---|---|---|---|---|');
const qs = rs.map((r) => r.q).sort((a, b) => a - b);
console.log(`| ${n} of ${J} | ${rs[0].steps} | ${rs[0].image.height}×${rs[0].image.width}×${rs[0].image.channels} | ${s.toFixed(1)} | ${cpuS.toFixed(1)} | ${(s / n).toFixed(2)} | ${reached} of ${n} | ${qs[qs.length >> 1].toFixed(3)} | ${qs[0].toFixed(3)} |`);
for (const r of rs) {
  console.log(`p${r.prototype} → ${String(r.winningClass)}: q ${r.q.toFixed(3)}, d² ${r.sqDistance.toPrecision(3)}, best p${r.bestPrototype}, predicted ${String(r.predicted)}; ` +
    `q_j during the steps: ${r.history.map((h) => `${h.step}:${h.q.toFixed(2)}`).join(' ')}`);
}
if (values.out) {
  // A contact sheet of the reconstructions (PNG), to look at them.
  const { default: sharp } = await import('sharp');
  const w = rs[0].image.width, h = rs[0].image.height, c = rs[0].image.channels;
  const sheet = await sharp({ create: { width: (w + 2) * rs.length, height: h, channels: 3, background: '#ff0000' } })
    .composite(await Promise.all(rs.map(async (r, k) => ({ input: await sharp(Buffer.from(r.image.data), { raw: { width: w, height: h, channels: c } }).png().toBuffer(), left: k * (w + 2), top: 0 }))))
    .png().toBuffer();
  (await import('node:fs')).writeFileSync(values.out, sheet);
}
backbone.dispose();
