// The explorer's reconstructions (issue 19), without a browser: `GET /api/reconstruction/<j>`
// computes a prototype's reconstruction on the first request through the network recorded in the
// features (a tiny TF.js model folder here), answers 202 with its progress until it is done, then
// the same reconstruction as the report's path (q_j measured on the 8-bit image); ONNX features
// and grey-pixel features say why they have none, and the map says so before any request.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFeatures } from '../src/data/features.node.ts';
import { startExplorerServer, type ExplorerServer } from '../src/server/server.node.ts';
import { digitsSource, fileSource } from '../src/server/sources.node.ts';
import type { LensReconstruction } from '../src/viz/lens.ts';
import { tinyExplorerSource } from './helpers/tiny-explorer.ts';

/** Polls GET /api/reconstruction/<j> until it is no longer 202; returns every answer. */
async function poll(base: string, j: number): Promise<Array<{ status: number; body: Record<string, unknown> }>> {
  const seen: Array<{ status: number; body: Record<string, unknown> }> = [];
  for (let k = 0; k < 600; k++) {
    const r = await fetch(`${base}api/reconstruction/${j}`);
    const body = await r.json() as Record<string, unknown>;
    seen.push({ status: r.status, body });
    if (r.status !== 202) return seen;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the reconstruction did not finish');
}

describe('explorer reconstructions through a tiny TF.js network', () => {
  let dir: string;
  let server: ExplorerServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'protolens-explorer-rec-'));
    server = await startExplorerServer(await tinyExplorerSource(dir), { webDir: dir });
  });
  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says in the map that reconstructions are made, through the recorded network', () => {
    assert.deepEqual(server.map.reconstruct, { available: true, how: 'through net, in the server', known: [] });
  });

  it('computes a reconstruction on request (202 while it runs, then 200), keeps it, and measures q_j on the 8-bit image', async () => {
    const seen = await poll(server.url, 1);
    assert.equal(seen[0].status, 202, 'the first request starts it');
    assert.ok(['queued', 'running'].includes(String(seen[0].body.status)));
    const last = seen[seen.length - 1];
    assert.equal(last.status, 200);
    assert.equal(last.body.status, 'done');
    const r = last.body.reconstruction as LensReconstruction;
    assert.equal(r.prototype, 1);
    assert.match(r.image, /^data:image\/png;base64,/);
    assert.deepEqual([r.width, r.height], [6, 6]);
    assert.ok(r.q > 0 && r.q <= 1 && r.sqDistance >= 0);
    assert.equal(r.reached, r.q >= r.qTarget);
    assert.ok(r.start > 0.8, `from the images' blank (white) background: ${r.start}`);
    // Kept: asked again, answered at once with the same image.
    const again = await fetch(`${server.url}api/reconstruction/1`);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { reconstruction: LensReconstruction }).reconstruction.image, r.image);
  });

  it('answers 404 for a prototype out of range and for a malformed index', async () => {
    const r = await fetch(`${server.url}api/reconstruction/3`);
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { error: string }).error, /prototype 3 is out of range: the model has 3 prototypes/);
    assert.equal((await fetch(`${server.url}api/reconstruction/-1`)).status, 404);
    assert.equal((await fetch(`${server.url}api/reconstruction/1x`)).status, 404);
  });
});

describe('explorer reconstructions: features without gradients', () => {
  it('ONNX features: the map says the network gives no gradients, and the route answers 409 with that reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'protolens-explorer-rec-'));
    let server: ExplorerServer | undefined;
    try {
      const X = { data: Float32Array.from({ length: 12 }, (_, i) => (i * 7) % 5), rows: 4, cols: 3 };
      writeFeatures(join(dir, 'f.npy'), { X, labels: ['a', 'a', 'b', 'b'], meta: { backbone: { name: 'resnet18', kind: 'onnx', source: join(dir, 'resnet18.onnx'), dim: 3, layer: 'pool' } } });
      server = await startExplorerServer(await fileSource({ features: join(dir, 'f.npy'), cacheDir: false }), { webDir: dir });
      assert.equal(server.map.reconstruct.available, false);
      assert.match(server.map.reconstruct.how, /backbone "resnet18" \(an ONNX model run by onnxruntime\) gives no gradients with respect to its input/);
      const r = await fetch(`${server.url}api/reconstruction/0`);
      assert.equal(r.status, 409);
      assert.match(((await r.json()) as { error: string }).error, /no reconstructions for these features: backbone "resnet18"/);
    } finally {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('grey-pixel features: no network to reconstruct through', async () => {
    const source = await digitsSource({ perClass: 2, backbone: 'pixels-8', model: { nPrototypes: 10, maxIter: 5 } });
    assert.equal(source.reconstructor?.available, false);
    assert.match(source.reconstructor!.how, /grey pixels: there is no network to reconstruct through/);
  });
});

describe('explorer reconstructions: a report\'s, served as they are', () => {
  it('serves the reconstructions.json of a report of the same model at once (200), and refuses another model\'s, naming the entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'protolens-explorer-rec-'));
    let server: ExplorerServer | undefined;
    try {
      const source = await tinyExplorerSource(dir);
      const model = source.model;
      const rec = (j: number): LensReconstruction => ({
        prototype: j, winningClass: model.links(j).winningClass, q: 0.95, sqDistance: 0.01, reached: true, qTarget: 0.9, bestPrototype: j,
        predicted: model.links(j).winningClass, steps: 200, seconds: 1, seed: 0, start: 1, width: 6, height: 6,
        image: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
      });
      writeFileSync(join(dir, 'recs.json'), JSON.stringify([rec(0), { ...rec(2), q: 0.5 }]));
      const withRecs = await fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'm.json'), images: join(dir, 'images'), reconstructions: join(dir, 'recs.json'), cacheDir: false });
      server = await startExplorerServer(withRecs, { webDir: dir });
      assert.deepEqual(server.map.reconstruct.known, [0, 2]);
      const r = await fetch(`${server.url}api/reconstruction/2`);
      assert.equal(r.status, 200, 'at once, not computed again');
      const body = await r.json() as { reconstruction: LensReconstruction };
      assert.equal(body.reconstruction.q, 0.5);
      assert.equal(body.reconstruction.reached, false, '"reached" follows q_j against its target');
      const other = model.classes_.find((c) => c !== model.links(1).winningClass);
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([rec(0), { ...rec(1), winningClass: other }]));
      await assert.rejects(fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'm.json'), reconstructions: join(dir, 'bad.json'), cacheDir: false }),
        new RegExp(`bad\\.json: entry 1: prototype 1 wins class "${String(other)}" there but "${String(model.links(1).winningClass)}" in this model; these reconstructions are of another model`));
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([rec(0), rec(0)]));
      await assert.rejects(fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'm.json'), reconstructions: join(dir, 'bad.json'), cacheDir: false }),
        /bad\.json: entry 1: prototype 0 is listed twice/);
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ ...rec(0), prototype: 3 }]));
      await assert.rejects(fileSource({ features: join(dir, 'f.npy'), model: join(dir, 'm.json'), reconstructions: join(dir, 'bad.json'), cacheDir: false }),
        /bad\.json: entry 0: "prototype" must be an index 0–2 \(the model has 3 prototypes\), got 3/);
    } finally {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
