/**
 * Soak test of the explorer server (issue 20): `protolens serve` (the embedded digits, a model
 * fitted on the spot, MobileNetV2 for uploads) runs as its own process on loopback while CLIENTS
 * concurrent clients send requests for SECONDS: the map, sample images, the page's refit data
 * (features and PCA scores), explanations of feature vectors (valid and malformed), and image
 * uploads to classify (valid PNGs, oversized bodies, garbage). Prints the requests served per
 * route and status, the 5xx count, p50/p99 latency, the server's RSS after warm-up and at the
 * end, and whether it still answers afterwards. Targets: zero 5xx (an upload beyond the
 * classification queue is answered 503 with Retry-After, by design; the client then waits as told,
 * at most 2 s), RSS growth under 10 %.
 *
 * usage: nice -n 10 node --import tsx bench/soak.ts [SECONDS=60] [CLIENTS=50]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '../test/helpers/data.ts';
import { rng } from '../src/linalg/random.ts';

const SECONDS = Number(process.argv[2] ?? 60);
const CLIENTS = Number(process.argv[3] ?? 50);
const MAX_UPLOAD = 256 * 1024;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const child = spawn(process.execPath, [join(repoRoot, 'bin', 'protolens.mjs'), 'serve', '--port', '0', '--max-upload', String(MAX_UPLOAD)],
  { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PROTOLENS_GEMM_THREADS: '1' } });
let log = '';
const url = await new Promise<string>((res, rej) => {
  const look = (d: Buffer) => {
    log += d.toString();
    const m = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(log);
    if (m) res(m[1]);
  };
  child.stdout.on('data', look);
  child.stderr.on('data', look);
  child.on('exit', (c) => rej(new Error(`serve exited with ${c}: ${log}`)));
  setTimeout(() => rej(new Error(`no address after 300 s: ${log}`)), 300_000);
});

const map = await (await fetch(`${url}/api/map`)).json() as { samples?: unknown[]; points?: unknown[] } & Record<string, unknown>;
const features = await fetch(`${url}/api/features.f32`);
const rows = Number(features.headers.get('X-Rows')), cols = Number(features.headers.get('X-Cols'));
const X = new Float32Array(await features.arrayBuffer());
const png = async (seed: number) => {
  const px = Buffer.alloc(28 * 28);
  for (let k = 0; k < px.length; k++) px[k] = (seed * 31 + k * 7) % 256;
  return sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
};
const pngs = await Promise.all(Array.from({ length: 8 }, (_, s) => png(s)));
const oversized = new Uint8Array(MAX_UPLOAD + 1024);
const garbage = new Uint8Array(2048).map((_, k) => (k * 131 + 7) % 256);

type Kind = 'map' | 'image' | 'features' | 'scores' | 'explain' | 'explain-bad' | 'classify' | 'classify-oversized' | 'classify-garbage' | 'missing';
const KINDS: Array<[Kind, number]> = [['map', 3], ['image', 6], ['features', 1], ['scores', 1], ['explain', 3], ['explain-bad', 1],
  ['classify', 3], ['classify-oversized', 1], ['classify-garbage', 1], ['missing', 1]];
const totalWeight = KINDS.reduce((a, [, w]) => a + w, 0);

async function request(kind: Kind, r: ReturnType<typeof rng>): Promise<number> {
  const i = r.int(rows);
  switch (kind) {
    case 'map': return (await fetch(`${url}/api/map`).then(async (x) => { await x.arrayBuffer(); return x; })).status;
    case 'image': return (await fetch(`${url}/api/image/${i}`).then(async (x) => { await x.arrayBuffer(); return x; })).status;
    case 'features': return (await fetch(`${url}/api/features.f32`).then(async (x) => { await x.arrayBuffer(); return x; })).status;
    case 'scores': return (await fetch(`${url}/api/scores.f32`).then(async (x) => { await x.arrayBuffer(); return x; })).status;
    case 'explain': {
      const x = Array.from(X.subarray(i * cols, (i + 1) * cols));
      return (await fetch(`${url}/api/explain`, { method: 'POST', body: JSON.stringify({ x }) }).then(async (res) => { await res.arrayBuffer(); return res; })).status;
    }
    case 'explain-bad': return (await fetch(`${url}/api/explain`, { method: 'POST', body: r.int(2) ? '{"x": [1, 2' : JSON.stringify({ x: [1e400] }) }).then(async (res) => { await res.arrayBuffer(); return res; })).status;
    case 'classify': {
      const res = await fetch(`${url}/api/classify`, { method: 'POST', body: pngs[r.int(pngs.length)] });
      await res.arrayBuffer();
      // busy: wait as told (at most 2 s), as the page does
      if (res.status === 503 && res.headers.get('Retry-After')) await new Promise((ok) => setTimeout(ok, 1000 * Math.min(2, Number(res.headers.get('Retry-After')))));
      return res.status;
    }
    case 'classify-oversized': return (await fetch(`${url}/api/classify`, { method: 'POST', body: oversized }).then(async (res) => { await res.arrayBuffer(); return res; }).catch(() => ({ status: 413 }))).status;
    case 'classify-garbage': return (await fetch(`${url}/api/classify`, { method: 'POST', body: garbage }).then(async (res) => { await res.arrayBuffer(); return res; })).status;
    case 'missing': return (await fetch(`${url}/api/nope/${i}`).then(async (res) => { await res.arrayBuffer(); return res; })).status;
  }
}

// warm-up: every kind once, then the RSS baseline
const r0 = rng(0);
for (const [k] of KINDS) await request(k, r0);
const rssStart = rssMb(child.pid!);
const counts = new Map<string, number>();
const latency: Record<string, number[]> = {};
let errors = 0;
const t0 = performance.now();
const end = t0 + SECONDS * 1000;
await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
  const r = rng(100 + c);
  while (performance.now() < end) {
    let w = r.next() * totalWeight, kind: Kind = 'map';
    for (const [k, kw] of KINDS) { if ((w -= kw) < 0) { kind = k; break; } }
    const ts = performance.now();
    let status: number;
    try {
      status = await request(kind, r);
    } catch {
      status = -1; // connection error
      errors++;
    }
    (latency[kind] ??= []).push(performance.now() - ts);
    const key = `${kind} ${status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
}));
const elapsed = (performance.now() - t0) / 1000;
const rssEnd = rssMb(child.pid!);
const after = await fetch(`${url}/api/map`);
await after.arrayBuffer();
child.kill('SIGTERM');

const q = (a: number[], p: number) => { const s = a.slice().sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN; };
const all = Object.values(latency).flat();
const fivexx = [...counts].filter(([k]) => /\s5\d\d$/.test(k) && k !== 'classify 503').reduce((a, [, n]) => a + n, 0);
const busy = counts.get('classify 503') ?? 0;
console.log(`explorer soak: ${CLIENTS} clients for ${SECONDS} s on loopback (the embedded digits, ${rows} samples × ${cols}; uploads up to ${MAX_UPLOAD / 1024} KB); ` +
  `${cpus().length} × ${cpus()[0]?.model}; node ${process.version}; ${new Date().toISOString()}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`requests served: ${all.length} in ${elapsed.toFixed(1)} s (${(all.length / elapsed).toFixed(0)}/s); 5xx: ${fivexx} (besides ${busy} classify uploads answered 503 busy with Retry-After); connection errors: ${errors}; ` +
  `latency p50 ${q(all, 0.5).toFixed(0)} ms, p99 ${q(all, 0.99).toFixed(0)} ms`);
console.log(`server RSS: ${rssStart.toFixed(0)} MB after warm-up, ${rssEnd.toFixed(0)} MB at the end (${(100 * (rssEnd / rssStart - 1)).toFixed(1)} %); answering afterwards: ${after.status === 200 ? 'yes' : `no (${after.status})`}`);
console.log('| route | statuses (count) | p50 ms | p99 ms |');
console.log('|---|---|---|---|');
for (const [k] of KINDS) {
  const st = [...counts].filter(([key]) => key.startsWith(`${k} `)).map(([key, n]) => `${key.split(' ')[1]} (${n})`).join(', ');
  console.log(`| ${k} | ${st} | ${q(latency[k] ?? [], 0.5).toFixed(0)} | ${q(latency[k] ?? [], 0.99).toFixed(0)} |`);
}
void map;
process.exitCode = fivexx || errors || after.status !== 200 ? 1 : 0;
