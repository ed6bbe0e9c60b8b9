// The explorer's HTTP server under hostile input: traversal in every spelling, oversized and
// non-image uploads, malformed JSON and HTTP, and a burst of 500 requests — every one answered,
// and the server still serving afterwards. Runs on a small digits source with pixel features
// (no network), and a stand-in page folder, so it needs neither Vite nor TF.js.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startExplorerServer, sniffImage, type ExplorerServer, type ExplorerSource } from '../src/server/server.node.ts';
import { digitsSource, fileSource } from '../src/server/sources.node.ts';
import { mnistDigits } from '../src/data/mnist.node.ts';
import { pixelFeatures } from '../src/server/embed.node.ts';
import type { ExplorerMap } from '../src/viz/mapdata.ts';
import { readFeatures, writeFeatures } from '../src/data/features.node.ts';
import { loadModel } from '../src/model/io.ts';
import { PrototypeClassifier } from '../src/model/prototype.ts';
import { safeResolve } from '../src/server/static.node.ts';
import { fitFile } from '../src/select/fit-file.node.ts';
import { main } from '../src/cli/main.ts';
import sharp from 'sharp';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-TREE';

/** Largest absolute difference of two equal-length lists. */
function maxAbs(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((w, v, i) => Math.max(w, Math.abs(v - b[i])), 0);
}
const MAX_UPLOAD = 64 * 1024;

interface Reply { status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }

let server: ExplorerServer;
let source: ExplorerSource;
let tmp: string;
const agent = new Agent({ keepAlive: true, maxSockets: 50 });

/** One request with the path sent exactly as given (no URL normalisation, unlike fetch). */
function req(method: string, path: string, body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<Reply> {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    r.on('error', reject);
    if (body !== undefined) r.write(body);
    r.end();
  });
}

function json(r: Reply): any {
  return JSON.parse(r.body.toString('utf8'));
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'protolens-server-'));
  // Served page folder with an index, an asset, and links leading out of it.
  const web = join(tmp, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>explorer</title>');
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(web, '.hidden'), 'hidden');
  const outside = join(tmp, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(tmp, 'secret.txt'), SECRET);
  symlinkSync(outside, join(web, 'link-out'));
  symlinkSync(join(outside, 'secret.txt'), join(web, 'assets', 'link-file.txt'));
  // Images folder with one image and the same kinds of links.
  const images = join(tmp, 'images');
  mkdirSync(join(images, '7'), { recursive: true });
  const { png } = await mnistDigits(1);
  writeFileSync(join(images, '7', 'a.png'), png[7]);
  symlinkSync(outside, join(images, 'link-out'));
  source = await digitsSource({ perClass: 5, backbone: 'pixels-8', model: { nPrototypes: 14, maxIter: 30 } });
  source.imagesDir = images;
  server = await startExplorerServer(source, { webDir: web, maxUpload: MAX_UPLOAD });
});

after(async () => {
  agent.destroy();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('explorer server', () => {
  it('listens on loopback and serves the page, the map and the images', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await req('GET', '/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /text\/html/);
    assert.equal((await req('GET', '/assets/app.js')).body.toString(), 'console.log(1)');
    const map = json(await req('GET', '/api/map'));
    assert.equal(map.n, 50);
    assert.equal(map.points.length, 100);
    assert.equal(map.model.prototypes.length, 14);
    assert.deepEqual(map.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const img = await req('GET', '/api/image/0');
    assert.equal(img.status, 200);
    assert.equal(sniffImage(new Uint8Array(img.body)), 'image/png');
    assert.equal((await req('GET', '/files/7/a.png')).status, 200);
    for (const bad of ['/api/image/50', '/api/image/-1', '/api/image/abc', '/api/image/1e3', '/api/image/', '/api/image/99999999999']) {
      assert.equal((await req('GET', bad)).status, 404, bad);
    }
  });

  it('answers 404 to traversal in every spelling, without leaking the file', async () => {
    const attempts = [
      '/../secret.txt', '/assets/../../secret.txt', '/assets/../index.html', '/%2e%2e/secret.txt', '/%2E%2E/%2E%2E/secret.txt',
      '/%2e%2e%2fsecret.txt', '/assets%2f..%2f..%2fsecret.txt', '/%252e%252e/secret.txt', '/%252e%252e%252fsecret.txt',
      '/..%5csecret.txt', '/..\\secret.txt', '/link-out/secret.txt', '/assets/link-file.txt', '/.hidden', '/assets/./app.js',
      '//etc/passwd', '/assets//app.js', '/%00', '/index.html%00.png', '/%E0%A4%A', '/%', '/files/../secret.txt',
      '/files/%2e%2e/secret.txt', '/files/link-out/secret.txt', '/files/7/../../secret.txt', '/files/', '/files/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/' + '../'.repeat(20) + 'etc/passwd',
    ];
    for (const a of attempts) {
      const r = await req('GET', a);
      assert.equal(r.status, 404, `${a} gave ${r.status}`);
      assert.ok(!r.body.toString().includes(SECRET), `${a} leaked the secret`);
    }
  });

  it('refuses oversized uploads with 413, declared or streamed', async () => {
    const big = new Uint8Array(MAX_UPLOAD + 1);
    big.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const r = await req('POST', '/api/classify', big, { 'Content-Type': 'image/png' });
    assert.equal(r.status, 413);
    assert.match(json(r).error, /too large/);
    // Chunked (no Content-Length): counted as it arrives.
    const u = new URL(server.url);
    const status = await new Promise<number>((resolve, reject) => {
      const c = request({ host: u.hostname, port: u.port, method: 'POST', path: '/api/classify', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      c.on('error', reject);
      for (let k = 0; k < 8; k++) c.write(new Uint8Array(MAX_UPLOAD / 4));
      c.end();
    });
    assert.equal(status, 413);
    assert.equal((await req('GET', '/api/map')).status, 200);
  });

  it('refuses non-images (415), empty (400) and undecodable images (400)', async () => {
    const text = await req('POST', '/api/classify', 'hello, I am not an image', { 'Content-Type': 'image/png' });
    assert.equal(text.status, 415);
    assert.equal((await req('POST', '/api/classify', '')).status, 400);
    const fake = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('garbage after a PNG signature')]);
    const r = await req('POST', '/api/classify', fake, { 'Content-Type': 'image/png' });
    assert.equal(r.status, 400);
    assert.match(json(r).error, /could not be decoded/);
  });

  it('classifies an uploaded image as the model classifies its feature', async () => {
    const { png } = await mnistDigits(5);
    const i = 23; // the 4th digit 4 of the set
    const r = await req('POST', '/api/classify', png[i], { 'Content-Type': 'image/png' });
    assert.equal(r.status, 200);
    const body = json(r);
    // The pixel embedder is deterministic: the upload's feature is the sample's row.
    const row = Array.from(source.X.data.subarray(i * 64, (i + 1) * 64));
    body.feature.forEach((v: number, d: number) => assert.ok(Math.abs(v - row[d]) < 1e-6, `feature ${d}`));
    assert.equal(body.explanation.label, source.model.predict([row])[0]);
    const sum = body.explanation.probabilities.reduce((a: number, p: { probability: number }) => a + p.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4);
    assert.equal(body.explanation.prototypes.length, 5);
    assert.equal(body.nearest[0], i);
    // The same digit as a JPEG is read too (its feature differs a little: JPEG is lossy).
    const jpeg = new Uint8Array(await sharp(png[i]).jpeg({ quality: 95 }).toBuffer());
    assert.equal(sniffImage(jpeg), 'image/jpeg');
    const rj = await req('POST', '/api/classify', jpeg, { 'Content-Type': 'image/jpeg' });
    assert.equal(rj.status, 200);
    assert.equal(json(rj).type, 'image/jpeg');
    const map = json(await req('GET', '/api/map'));
    assert.ok(Math.abs(body.position.x - map.points[2 * i]) < 1e-3 && Math.abs(body.position.y - map.points[2 * i + 1]) < 1e-3);
  });

  it('answers malformed JSON, wrong shapes, wrong methods and unknown routes with 4xx', async () => {
    assert.equal((await req('POST', '/api/explain', '{"x": [1, 2', { 'Content-Type': 'application/json' })).status, 400);
    assert.equal((await req('POST', '/api/explain', 'null')).status, 400);
    assert.equal((await req('POST', '/api/explain', '{"x": "abc"}')).status, 400);
    assert.equal((await req('POST', '/api/explain', '{"x": [1, 2, 3]}')).status, 400);
    const ok = await req('POST', '/api/explain', JSON.stringify({ x: Array.from(source.X.data.subarray(0, 64)) }));
    assert.equal(ok.status, 200);
    assert.equal(json(ok).explanation.label, source.model.predict([Array.from(source.X.data.subarray(0, 64))])[0]);
    assert.equal((await req('DELETE', '/api/map')).status, 405);
    assert.equal((await req('GET', '/api/classify')).status, 405);
    assert.equal((await req('PUT', '/index.html', 'x')).status, 405);
    assert.equal((await req('GET', '/api/nothing')).status, 404);
    // Raw garbage on a socket gets a 400 from the HTTP parser; the server keeps going.
    const u = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(u.port), u.hostname, () => s.write('THIS IS NOT HTTP\r\n\r\n'));
      let got = '';
      s.on('data', (d) => { got += d.toString(); });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.equal((await req('GET', '/api/map')).status, 200);
  });

  it('beyond maxClassifyQueue uploads waiting for the network, answers 503 with Retry-After, then serves again', async () => {
    const { png } = await mnistDigits(5);
    const inner = source.embedder!;
    // an embedder that takes a second, so five uploads sent at once overlap
    const slow = { ...source, embedder: { how: inner.how, embed: async (b: Uint8Array) => { await new Promise((r) => setTimeout(r, 1000)); return inner.embed(b); } } };
    const s2 = await startExplorerServer(slow, { webDir: join(tmp, 'web'), maxClassifyQueue: 2 });
    try {
      const post = () => fetch(new URL('/api/classify', s2.url), { method: 'POST', body: Buffer.from(png[3]), headers: { 'Content-Type': 'image/png' } });
      const replies = await Promise.all(Array.from({ length: 5 }, post));
      const codes = replies.map((r) => r.status).sort();
      assert.deepEqual(codes, [200, 200, 503, 503, 503]);
      for (const r of replies.filter((x) => x.status === 503)) {
        assert.ok(Number(r.headers.get('Retry-After')) >= 1);
        assert.match(((await r.json()) as { error: string }).error, /^busy: 2 images are being classified; retry in \d+ s$/);
      }
      assert.equal((await post()).status, 200);
    } finally {
      await s2.close();
    }
  });

  it('answers a burst of 500 requests on loopback and keeps serving', async () => {
    const kinds: Array<[string, string, string | undefined, number]> = [
      ['GET', '/api/map', undefined, 200],
      ['GET', '/api/image/3', undefined, 200],
      ['GET', '/%2e%2e/secret.txt', undefined, 404],
      ['POST', '/api/explain', '{bad json', 400],
      ['GET', '/assets/app.js', undefined, 200],
    ];
    const statuses: number[] = [];
    const expected: number[] = [];
    // 500 requests, 50 in flight at a time.
    for (let start = 0; start < 500; start += 50) {
      const batch = Array.from({ length: 50 }, (_, k) => kinds[(start + k) % kinds.length]);
      const got = await Promise.all(batch.map(([m, p, b]) => req(m, p, b).then((r) => r.status)));
      statuses.push(...got);
      expected.push(...batch.map((b) => b[3]));
    }
    assert.equal(statuses.length, 500);
    assert.deepEqual(statuses, expected);
    assert.equal((await req('GET', '/api/map')).status, 200);
  });
});

describe('safeResolve', () => {
  it('resolves files inside the root and nothing else', () => {
    const web = join(tmp, 'web');
    assert.ok(safeResolve(web, 'assets/app.js')?.endsWith(join('web', 'assets', 'app.js')));
    assert.equal(safeResolve(web, 'assets'), null); // a folder, not a file
    assert.equal(safeResolve(web, '../secret.txt'), null);
    assert.equal(safeResolve(web, 'link-out/secret.txt'), null);
    assert.equal(safeResolve(web, 'nope.js'), null);
  });
});

describe('protolens serve (argument errors)', () => {
  it('refuses inconsistent arguments with a message and exit code 2, before loading anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--model', 'm.json'], /--model needs --features/],
      [['--images', 'dir'], /--images needs --features/],
      [['--features', 'f.npy', '--reconstructions', 'r.json'], /--reconstructions needs --model/],
      [['--port', '70000'], /--port: "70000"/],
      [['--port', 'abc'], /--port: "abc"/],
      [['--max-upload', '0'], /--max-upload: "0"/],
      [['--prototypes', '-3'], /--prototypes: "-3"/],
      [['--features', 'f.npy', '--model', 'm.json', '--prototypes', '5'], /cannot change the saved model/],
      [['--features', 'f.npy', '--model', 'm.json', '--preprocess', 'l2'], /--preprocess sets the feature transform of a model fitted on the spot; the saved model given by --model carries its own/],
      [['--preprocess', 'none'], /--preprocess needs --features/],
      [['--features', 'f.npy', '--preprocess', 'zca'], /Invalid value for --preprocess: "zca"\. Expected one of: auto, none, l2, center-l2, sqrt-l2, sqrt-center-l2/],
      [['--features', join(tmpdir(), 'no-such-features.npy')], /no-such-features\.npy: feature file not found/],
    ];
    const write = process.stderr.write.bind(process.stderr);
    for (const [args, message] of cases) {
      let err = '';
      process.stderr.write = ((chunk: string) => { err += chunk; return true; }) as typeof process.stderr.write;
      let code: number;
      try {
        code = await main(['node', 'protolens', 'serve', ...args]);
      } finally {
        process.stderr.write = write;
      }
      assert.equal(code, 2, args.join(' '));
      assert.match(err, message, args.join(' '));
    }
  });
});

describe('serving a feature file with its images and a saved model', () => {
  let dir: string;
  let s: ExplorerServer | undefined;
  const get = async (url: string, path: string) => {
    const r = await fetch(new URL(path, url));
    return { status: r.status, body: new Uint8Array(await r.arrayBuffer()) };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'protolens-filesource-'));
    // 3 digits of each class as class-folder PNGs, their pixel features in a .npy with paths.
    const { png, labels } = await mnistDigits(3);
    const X = new Float32Array(png.length * 64);
    const paths: string[] = [];
    for (let i = 0; i < png.length; i++) {
      const rel = `${labels[i]}/d${i}.png`;
      mkdirSync(join(dir, 'images', labels[i]), { recursive: true });
      writeFileSync(join(dir, 'images', rel), png[i]);
      paths.push(rel);
      X.set(await pixelFeatures(png[i], 8), i * 64);
    }
    writeFeatures(join(dir, 'f.npy'), { X: { data: X, rows: png.length, cols: 64 }, labels, paths, meta: { backbone: { name: 'pixels-8' } } });
    const m = new PrototypeClassifier({ nPrototypes: 10, seed: 3, maxIter: 10 }).fit({ data: X, rows: png.length, cols: 64 }, labels);
    writeFileSync(join(dir, 'model.json'), JSON.stringify(m.toJSON()));
    writeFileSync(join(dir, 'model-wrong-dim.json'), JSON.stringify(new PrototypeClassifier({ nPrototypes: 2 }).fit([[0, 0], [1, 1], [5, 5], [6, 6]], ['a', 'a', 'b', 'b']).toJSON()));
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the saved model as it is, serves the images through the paths, embeds uploads the same way', async () => {
    const src = await fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'model.json'), images: join(dir, 'images') });
    assert.equal(src.model.prototypes_!.rows, 10);
    assert.equal(src.model.getParams().seed, 3);
    s = await startExplorerServer(src, { webDir: join(dir, 'images') });
    const img = await get(s.url, '/api/image/4');
    assert.equal(img.status, 200);
    assert.deepEqual(img.body, new Uint8Array(readFileSync(join(dir, 'images', '1', 'd4.png'))));
    assert.equal((await get(s.url, '/files/1/d4.png')).status, 200);
    assert.equal((await get(s.url, '/api/image/30')).status, 404);
    const png = readFileSync(join(dir, 'images', '2', 'd7.png'));
    const r = await fetch(new URL('/api/classify', s.url), { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
    assert.equal(r.status, 200);
    const body = await r.json() as { feature: number[]; explanation: { label: string } };
    assert.equal(body.explanation.label, src.model.predict([body.feature])[0]);
    assert.equal(body.feature.length, 64);
    const map = await (await fetch(new URL('/api/map', s.url))).json() as ExplorerMap;
    assert.equal(map.classify.available, true);
    assert.equal(map.names[4], '1/d4.png');
  });

  it('serves the model fit writes by default (a Pipeline): samples and uploads in its transformed space', async () => {
    const modelPath = join(dir, 'piped.json');
    let code = 1, err = '';
    const we = process.stderr.write;
    process.stderr.write = ((c: string) => { err += c; return true; }) as typeof process.stderr.write;
    const wo = process.stdout.write;
    process.stdout.write = ((c: string | Uint8Array, ...rest: unknown[]) => (typeof c === 'string' ? true : (wo as (...a: unknown[]) => boolean).call(process.stdout, c, ...rest))) as typeof process.stdout.write;
    try {
      code = await main(['node', 'protolens', 'fit', join(dir, 'f.npy'), '-o', modelPath, '-J', '10', '--max-iter', '10', '--seed', '3', '--no-progress']);
    } finally {
      process.stderr.write = we;
      process.stdout.write = wo;
    }
    assert.equal(code, 0, err);
    const saved = JSON.parse(readFileSync(modelPath, 'utf8')) as { kind: string; transform: { method: string }; origin: { backbone: string } };
    assert.deepEqual([saved.kind, saved.transform.method, saved.origin.backbone], ['Pipeline', 'sqrt-l2', 'pixels-8']);
    const src = await fileSource({ features: join(dir, 'f.npy'), model: modelPath, images: join(dir, 'images') });
    // Samples are drawn in the model's space: each row is √x scaled to unit length.
    const raw = readFeatures(join(dir, 'f.npy')).X;
    const row = Array.from(raw.data.subarray(64 * 4, 64 * 5)).map(Math.sqrt);
    const norm = Math.hypot(...row);
    for (let d = 0; d < 64; d++) assert.ok(Math.abs(src.X.data[64 * 4 + d] - row[d] / norm) < 1e-6);
    const p = await startExplorerServer(src, { webDir: join(dir, 'images') });
    try {
      const png = readFileSync(join(dir, 'images', '2', 'd7.png'));
      const r = await fetch(new URL('/api/classify', p.url), { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
      assert.equal(r.status, 200);
      const body = await r.json() as { feature: number[]; explanation: { label: string; probability: number } };
      // The upload went through the same transform: the saved Pipeline on the raw pixels agrees.
      const pipe = loadModel(readFileSync(modelPath, 'utf8'));
      const rawUpload = await pixelFeatures(png, 8);
      assert.equal(body.explanation.label, pipe.predict({ data: rawUpload, rows: 1, cols: 64 })[0]);
      assert.ok(Math.abs(Math.hypot(...body.feature) - 1) < 1e-5, 'the uploaded feature is L2-normalised');
    } finally {
      await p.close();
    }
  });

  it('refuses a model that does not match the features, naming both files', async () => {
    await assert.rejects(fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'model-wrong-dim.json') }), /f\.npy: features have 64 dimensions but the model .*model-wrong-dim\.json was fitted on 2/);
  });

  it('fits a model on the spot when none is given (2 prototypes per class, dead ones pruned as fit does)', async () => {
    const src = await fileSource({ features: join(dir, 'f.npy'), fit: { maxIter: 5 } });
    assert.equal(src.model.prototypes_!.rows, 20);
    // Too many prototypes for the samples: some end dead, and the explorer shows only the others.
    const f = readFeatures(join(dir, 'f.npy'));
    // (α = 1e-3 on the raw pixels: with the default 1e-5, or in the sqrt-l2 space auto gives these
    // features, every one of the 30 prototypes keeps a sample of its own)
    const many = await fileSource({ features: join(dir, 'f.npy'), preprocess: 'none', fit: { maxIter: 5, nPrototypes: f.X.rows, alpha: 1e-3 } });
    const J = many.model.prototypes_!.rows;
    const A = many.model.prototypeActivations(many.X);
    const served = new Set(Array.from({ length: A.rows }, (_, i) => { const r = Array.from(A.data.subarray(i * A.cols, (i + 1) * A.cols)); return r.indexOf(Math.max(...r)); }));
    assert.ok(J < f.X.rows, `pruned: ${J} of ${f.X.rows} kept`);
    assert.equal(served.size, J, 'every prototype kept is the best match of some sample');
    const kept = await fileSource({ features: join(dir, 'f.npy'), fit: { maxIter: 5, nPrototypes: f.X.rows, prune: false } });
    assert.equal(kept.model.prototypes_!.rows, f.X.rows);
    assert.equal(src.images, undefined); // no --images: no thumbnails, nothing served
  });

  it('fits on the spot behind the preprocessing fit would choose (auto: the sidecar\'s recommendation, else sqrt-l2; a method given wins), uploads too', async () => {
    const f = readFeatures(join(dir, 'f.npy'));
    const file = (name: string, rec?: string): string => {
      const path = join(dir, `${name}.npy`);
      writeFeatures(path, { X: f.X, labels: f.labels, paths: f.paths, meta: { backbone: { name: 'pixels-8', ...(rec ? { recommendedPreprocess: rec } : {}) } } });
      return path;
    };
    // An ImageNet-style file (its backbone recommends sqrt-l2), one like a trained embedding's (none), and one naming none.
    const imagenet = file('imagenet', 'sqrt-l2'), embedding = file('embedding', 'none');
    const fit = { maxIter: 5 };
    const auto = await fileSource({ features: imagenet, images: join(dir, 'images'), fit });
    assert.match(auto.source, /, model fitted on the spot, preprocessed sqrt-l2 \(as the features' backbone recommends\)$/);
    // The samples are √x scaled to unit length…
    const row = (m: { data: Float32Array; cols: number }, i: number) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols));
    const sq = row(f.X, 7).map(Math.sqrt), n = Math.hypot(...sq);
    assert.ok(row(auto.X, 7).every((v, d) => Math.abs(v - sq[d] / n) < 1e-6));
    // …and the model is the one `fit` saves on the same file with the same options (same prototypes).
    const fitted = await fitFile({ features: imagenet, out: join(dir, 'fit-imagenet.json'), preprocess: 'auto', model: { nPrototypes: 20, seed: 0, prune: true, ...fit } });
    assert.equal(fitted.preprocess, 'sqrt-l2');
    assert.deepEqual(Array.from(auto.model.prototypes_!.data), Array.from(fitted.model.prototypes_!.data));
    // An uploaded image goes through the same transform: the upload of sample 7's image is its row on the map.
    const up = await auto.embedder!.embed(new Uint8Array(readFileSync(join(dir, 'images', f.paths![7]))));
    assert.ok(maxAbs(Array.from(up), row(auto.X, 7)) < 1e-6, 'upload = its row, preprocessed');
    assert.match(auto.embedder!.how, /then sqrt-l2$/);
    // An explicit method wins; a recommendation of none fits on the raw features; a file naming none gets the default.
    const none = await fileSource({ features: imagenet, fit, preprocess: 'none' });
    assert.match(none.source, /, model fitted on the spot, preprocessed none$/);
    assert.deepEqual(Array.from(none.X.data), Array.from(f.X.data));
    const up0 = await none.embedder!.embed(new Uint8Array(readFileSync(join(dir, 'images', f.paths![7]))));
    assert.ok(maxAbs(Array.from(up0), row(f.X, 7)) < 1e-6, 'upload = its raw row');
    const raw = await fileSource({ features: embedding, fit });
    assert.match(raw.source, /preprocessed none \(as the features' backbone recommends\)$/);
    assert.deepEqual(Array.from(raw.X.data), Array.from(f.X.data));
    assert.match((await fileSource({ features: join(dir, 'f.npy'), fit })).source, /preprocessed sqrt-l2 \(the default for features that recommend none\)$/);
    assert.match((await fileSource({ features: imagenet, fit, preprocess: 'l2' })).source, /preprocessed l2$/);
    await assert.rejects(fileSource({ features: file('bad', 'zca'), fit }), /bad\.json: "meta\.backbone\.recommendedPreprocess" is "zca"; expected one of: none, l2/);
    await assert.rejects(fileSource({ features: imagenet, model: join(dir, 'model.json'), preprocess: 'l2' }), /model\.json: a saved model carries its own feature preprocessing/);
  });
});
