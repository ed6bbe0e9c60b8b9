/**
 * The explorer's HTTP server (Node's `http`, no framework): the built page, the map data, the
 * sample images, and classification of uploaded images.
 *
 * Routes (all GET unless said):
 * - `/` and `/<file>`: the built page (files of `webDir` only);
 * - `/api/map`: the {@link ExplorerMap} JSON;
 * - `/api/image/<i>`: the image of sample i (404 when there are none);
 * - `/files/<path>`: a file of the images directory, when one was named;
 * - `/api/features.f32`: X as little-endian float32 (headers `X-Rows`, `X-Cols`), for the page's refit;
 * - `/api/scores.f32`: the samples' first principal-component scores (N×k, `X-Cols` = k), for the page's UMAP;
 * - POST `/api/classify`: an image (the body, at most `maxUpload` bytes, PNG/JPEG/GIF/WebP by
 *   content) → its feature, map position and explanation; beyond `maxClassifyQueue` uploads
 *   waiting for the network, 503 with Retry-After;
 * - POST `/api/explain`: `{"x": [numbers]}` → explanation (the same as classify, from a feature);
 * - `/api/backbone.onnx`: the ONNX backbone, when the features come from one, for the page to embed
 *   uploads itself with onnxruntime-web (`/api/classify` stays the fallback);
 * - `/api/reconstruction/<j>`: prototype j's reconstruction (src/server/reconstruct.node.ts),
 *   computed on the first request, one prototype at a time, and kept: 202 with the steps done while
 *   it is queued or running (ask again), then 200 with it; 409 when these features give none.
 *
 * Whatever arrives, the server answers: paths outside the served trees get 404, oversized
 * bodies 413, non-images 415, malformed JSON or parameters 400, wrong methods 405, too many
 * classifications at once 503, and a bug in a handler 500; none of them stops it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Matrix } from '../linalg/matrix.ts';
import type { PrototypeClassifier } from '../model/prototype.ts';
import type { Label } from '../model/types.ts';
import { nearestIndices } from '../interpret/nearest.ts';
import { buildMap, fitProjection, project, type ExplorerMap, type InPageEmbedding, type Projection } from '../viz/mapdata.ts';
import { contentType, safeResolve } from './static.node.ts';
import type { Reconstructor } from './reconstruct.node.ts';
import type { LensReconstruction } from '../viz/lens.ts';

/** Images of the samples, by index. */
export interface ImageStore {
  readonly count: number;
  /** Bytes and content type of sample i's image, or undefined when it has none. */
  get(i: number): Promise<{ bytes: Uint8Array; type: string } | undefined>;
}

/** Turns an uploaded image into a feature vector of the model's dimension. */
export interface Embedder {
  /** How, in words ("MobileNetV2 (nsfwjs), in the server"). */
  readonly how: string;
  /** @throws BadImageError (or any Error with `reason`) when the bytes do not decode. */
  embed(bytes: Uint8Array): Promise<Float32Array>;
  /** For an ONNX backbone: how the page embeds images itself, and the model's bytes (`GET /api/backbone.onnx`). */
  readonly inPage?: { spec: InPageEmbedding; model(): Promise<Uint8Array> };
}

/** What the explorer shows. */
export interface ExplorerSource {
  title: string;
  /** Where the features come from, in words. */
  source: string;
  X: Matrix;
  y: Label[];
  /** A name per sample. */
  names: string[];
  model: PrototypeClassifier;
  images?: ImageStore;
  /** A directory served under `/files/`. */
  imagesDir?: string;
  embedder?: Embedder;
  /** Reconstructions of the prototypes (what each looks like); absent: none, and the page says so. */
  reconstructor?: Reconstructor;
  /** Reconstructions already made (a report's), served as they are. */
  reconstructions?: LensReconstruction[];
}

/** Options of {@link startExplorerServer}. */
export interface ServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Directory of the built page (index.html and assets). */
  webDir: string;
  /** Largest accepted upload in bytes. Default 8 MiB. */
  maxUpload?: number;
  /**
   * Image classifications accepted at once, running or waiting for the network (one runs at a
   * time); an upload beyond them is answered 503 with Retry-After instead of queueing without
   * bound (the soak test of issue 20 saw 18 s waits). Default 4.
   */
  maxClassifyQueue?: number;
  /** Called with a line for each request that failed inside a handler (500). Default: nothing. */
  onError?: (message: string) => void;
}

/** A running explorer server. */
export interface ExplorerServer {
  readonly server: Server;
  /** http://host:port/ */
  readonly url: string;
  readonly map: ExplorerMap;
  close(): Promise<void>;
}

/** Detects PNG, JPEG, GIF and WebP by their first bytes. */
export function sniffImage(b: Uint8Array): string | null {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'image/gif';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'image/webp';
  return null;
}

/** An error answered with its HTTP status and message. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'",
};

function send(res: ServerResponse, status: number, body: string | Uint8Array, type: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return; }
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength), ...SECURITY_HEADERS, ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value), 'application/json; charset=utf-8', { 'Cache-Control': 'no-store' });
}

/**
 * Reads a request body of at most `limit` bytes.
 * @throws HttpError 413 as soon as the declared or received length passes the limit (the rest is drained, not kept).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    const tooBig = () => new HttpError(413, `upload too large: the limit is ${limit} bytes`);
    if (Number.isFinite(declared) && declared > limit) { req.resume(); reject(tooBig()); return; }
    const chunks: Buffer[] = [];
    let size = 0, over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) { over = true; chunks.length = 0; reject(tooBig()); return; }
      chunks.push(c);
    });
    req.on('end', () => { if (!over) resolve(new Uint8Array(Buffer.concat(chunks))); });
    req.on('error', (e) => reject(new HttpError(400, `request body could not be read (${e.message})`)));
  });
}

/** Indices of the k rows of X nearest to x, nearest first (distances in float64, ties by index). */
function nearestRows(X: Matrix, x: Float32Array, k: number): number[] {
  const D = X.cols, d2 = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) { const t = X.data[i * D + d] - x[d]; s += t * t; }
    d2[i] = s;
  }
  return nearestIndices(X.rows, k, (i) => d2[i]);
}

function float32Body(a: Float32Array): Uint8Array {
  // Little-endian on every platform Node runs on in practice; checked once.
  if (new Uint8Array(Float32Array.of(1).buffer)[3] !== 0x3f) throw new Error('big-endian platforms are not supported');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** One route: a path (or a path prefix), the methods it answers, and its handler. */
interface Route {
  path: string;
  /** Match every path that starts with `path`; the handler gets the rest. */
  prefix?: boolean;
  /** Methods answered; any other gets 405. Absent: any method (the handler decides). */
  methods?: readonly string[];
  run(req: IncomingMessage, res: ServerResponse, rest: string): void | Promise<void>;
}

const READ = ['GET', 'HEAD'] as const;

/** What the routes share: the source, the options, the map, and the lazily computed state. */
interface ServerState {
  source: ExplorerSource;
  options: ServerOptions;
  maxUpload: number;
  projection: Projection;
  mapJson: string;
  scores?: { k: number; data: Float32Array };
  /** One embedding at a time: the network is not reentrant and the cores are shared. */
  embedQueue: Promise<unknown>;
  /** Classifications accepted and not answered yet, and the limit on them. */
  classifying: number;
  maxClassifyQueue: number;
  /** Mean time of an embedding, ms (for Retry-After). */
  embedMs: number;
  /** Reconstructions asked for, by prototype, and the queue that runs them one at a time. */
  recs: Map<number, ReconstructionJob>;
  recQueue: Promise<unknown>;
}

/** One prototype's reconstruction, asked for. */
interface ReconstructionJob {
  started: boolean;
  done: number;
  total: number;
  result?: LensReconstruction;
  error?: string;
}

/** The explanation, map position and nearest samples of a feature vector. @throws HttpError 400 for a wrong length or a non-finite value. */
function explainFeature(st: ServerState, x: Float32Array): { explanation: unknown; position: { x: number; y: number }; nearest: number[] } {
  const { X, model } = st.source;
  if (x.length !== X.cols) throw new HttpError(400, `feature has ${x.length} values, the model expects ${X.cols}`);
  for (let d = 0; d < x.length; d++) if (!Number.isFinite(x[d])) throw new HttpError(400, `feature value ${d} is not a finite number`);
  const explanation = model.explain(x, 5);
  const xy = project(st.projection, { data: x, rows: 1, cols: x.length });
  return { explanation, position: { x: xy[0], y: st.projection.k > 1 ? xy[1] : 0 }, nearest: nearestRows(X, x, 5) };
}

/** Streams a file of `root` (404 outside it). */
function staticFile(res: ServerResponse, root: string, rel: string, cache: string): void {
  const file = safeResolve(root, rel);
  if (!file) throw new HttpError(404, 'not found');
  res.writeHead(200, { 'Content-Type': contentType(file), 'Cache-Control': cache, ...SECURITY_HEADERS });
  const s = createReadStream(file);
  s.on('error', () => res.destroy());
  s.pipe(res);
}

/** GET /api/image/<i>: the image of sample i. */
async function sampleImage(st: ServerState, res: ServerResponse, s: string): Promise<void> {
  if (!/^\d{1,9}$/.test(s)) throw new HttpError(404, 'not found');
  const i = Number(s);
  if (!st.source.images || i >= st.source.X.rows) throw new HttpError(404, 'not found');
  const img = await st.source.images.get(i);
  if (!img) throw new HttpError(404, 'not found');
  send(res, 200, img.bytes, img.type, { 'Cache-Control': 'max-age=3600' });
}

/** GET /api/scores.f32: the samples' first principal-component scores, computed on first use. */
function pcaScores(st: ServerState, res: ServerResponse): void {
  const { X } = st.source;
  if (!st.scores) {
    const p = fitProjection(X, Math.min(16, X.cols), 1);
    st.scores = { k: p.k, data: project(p, X) };
  }
  send(res, 200, float32Body(st.scores.data), 'application/octet-stream', { 'X-Rows': String(X.rows), 'X-Cols': String(st.scores.k), 'Cache-Control': 'no-store' });
}

/** POST /api/explain: `{"x": [numbers]}` → explanation. */
async function explainBody(st: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req, st.maxUpload);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `body is not valid JSON (${(e as Error).message})`);
  }
  const x = (parsed as { x?: unknown } | null)?.x;
  if (!Array.isArray(x) || !x.every((v) => typeof v === 'number')) throw new HttpError(400, 'expected a JSON object {"x": [numbers]}');
  sendJson(res, 200, explainFeature(st, Float32Array.from(x as number[])));
}

/** GET /api/backbone.onnx: the ONNX backbone's bytes (404 when the features have none). */
async function backboneModel(st: ServerState, res: ServerResponse): Promise<void> {
  const inPage = st.source.embedder?.inPage;
  if (!inPage) throw new HttpError(404, 'these features do not come from an ONNX backbone');
  send(res, 200, await inPage.model(), 'application/octet-stream', { 'Cache-Control': 'no-store' });
}

/**
 * GET /api/reconstruction/<j>: the reconstruction of prototype j, started on the first request
 * (after those asked for before it); 202 with its progress until it is done.
 */
function reconstruction(st: ServerState, res: ServerResponse, s: string): void {
  if (!/^\d{1,9}$/.test(s)) throw new HttpError(404, 'not found');
  const j = Number(s), J = st.source.model.prototypes_!.rows;
  if (j >= J) throw new HttpError(404, `prototype ${j} is out of range: the model has ${J} prototypes (0–${J - 1})`);
  const r = st.source.reconstructor;
  let job = st.recs.get(j);
  if (!job && !r?.available) throw new HttpError(409, `no reconstructions for these features: ${r?.how ?? 'no network is known for them'}`);
  if (!job) {
    const mine: ReconstructionJob = { started: false, done: 0, total: 0 };
    job = mine;
    st.recs.set(j, mine);
    st.recQueue = st.recQueue.then(async () => {
      mine.started = true;
      try {
        mine.result = await r!.reconstruct(j, (done, total) => { mine.done = done; mine.total = total; });
      } catch (e) {
        mine.error = (e as Error).message ?? String(e);
      }
    });
  }
  if (job.result) { sendJson(res, 200, { status: 'done', reconstruction: job.result }); return; }
  if (job.error) {
    // Said once; the next request tries again (a backbone that could not load may be back).
    st.recs.delete(j);
    sendJson(res, 200, { status: 'failed', error: job.error });
    return;
  }
  const ahead = [...st.recs.values()].filter((x) => !x.started && !x.result && !x.error && x !== job).length;
  sendJson(res, 202, { status: job.started ? 'running' : 'queued', done: job.done, total: job.total, ...(job.started ? {} : { ahead }) });
}

/** POST /api/classify: an image → its feature, map position and explanation. */
async function classifyUpload(st: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req, st.maxUpload);
  if (body.length === 0) throw new HttpError(400, 'empty upload: send the image file as the request body');
  const type = sniffImage(body);
  if (!type) throw new HttpError(415, 'not an image: expected PNG, JPEG, GIF or WebP content');
  const embedder = st.source.embedder;
  if (!embedder) throw new HttpError(409, 'these features have no known backbone, so images cannot be embedded; use /api/explain with a feature vector');
  if (st.classifying >= st.maxClassifyQueue) {
    const wait = Math.max(1, Math.ceil((st.classifying * st.embedMs) / 1000));
    throw new HttpError(503, `busy: ${st.classifying} images are being classified; retry in ${wait} s`, { 'Retry-After': String(wait) });
  }
  st.classifying++;
  const run = st.embedQueue.then(async () => {
    const t0 = performance.now();
    try {
      return await embedder.embed(body);
    } finally {
      st.embedMs = 0.8 * st.embedMs + 0.2 * (performance.now() - t0);
    }
  });
  st.embedQueue = run.catch(() => undefined);
  let x: Float32Array;
  try {
    x = await run;
  } catch (e) {
    const reason = (e as { reason?: string }).reason ?? (e as Error).message;
    throw new HttpError(400, `the image could not be decoded (${reason})`);
  } finally {
    st.classifying--;
  }
  sendJson(res, 200, { type, bytes: body.length, feature: Array.from(x), ...explainFeature(st, x) });
}

/** The explorer's routes, first match wins (the module comment lists them). */
function explorerRoutes(st: ServerState): Route[] {
  const { source, options } = st;
  return [
    { path: '/api/map', methods: READ, run: (_q, res) => send(res, 200, st.mapJson, 'application/json; charset=utf-8', { 'Cache-Control': 'no-store' }) },
    { path: '/api/image/', prefix: true, methods: READ, run: (_q, res, rest) => sampleImage(st, res, rest) },
    {
      path: '/api/features.f32', methods: ['GET'],
      run: (_q, res) => send(res, 200, float32Body(source.X.data), 'application/octet-stream', { 'X-Rows': String(source.X.rows), 'X-Cols': String(source.X.cols), 'Cache-Control': 'no-store' }),
    },
    { path: '/api/scores.f32', methods: ['GET'], run: (_q, res) => pcaScores(st, res) },
    { path: '/api/explain', methods: ['POST'], run: (req, res) => explainBody(st, req, res) },
    { path: '/api/classify', methods: ['POST'], run: (req, res) => classifyUpload(st, req, res) },
    { path: '/api/backbone.onnx', methods: READ, run: (_q, res) => backboneModel(st, res) },
    { path: '/api/reconstruction/', prefix: true, methods: READ, run: (_q, res, rest) => reconstruction(st, res, rest) },
    { path: '/api/', prefix: true, run: () => { throw new HttpError(404, 'not found'); } },
    {
      path: '/files/', prefix: true, methods: READ,
      run: (_q, res, rest) => {
        if (!source.imagesDir) throw new HttpError(404, 'not found');
        staticFile(res, source.imagesDir, rest, 'max-age=3600');
      },
    },
    { path: '/', prefix: true, methods: READ, run: (_q, res, rest) => staticFile(res, options.webDir, rest || 'index.html', rest ? 'max-age=31536000, immutable' : 'no-cache') },
  ];
}

/** Answers a request with the first route whose path matches (405 for a method the route does not answer). */
async function route(routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = req.url ?? '/';
  if (!raw.startsWith('/')) throw new HttpError(400, 'request target must be a path');
  const path = raw.split('?')[0].split('#')[0];
  const method = req.method ?? 'GET';
  const r = routes.find((x) => (x.prefix ? path.startsWith(x.path) : path === x.path))!;
  if (r.methods && !r.methods.includes(method)) throw new HttpError(405, `${method} is not allowed on ${path}; use ${r.methods.join(' or ')}`);
  await r.run(req, res, r.prefix ? path.slice(r.path.length) : path);
}

/**
 * Starts the explorer on `source`. Resolves once it listens.
 * @example
 * const s = await startExplorerServer(source, { webDir: 'web/dist/…' }); console.log(s.url); await s.close();
 */
export async function startExplorerServer(source: ExplorerSource, options: ServerOptions): Promise<ExplorerServer> {
  const host = options.host ?? '127.0.0.1';
  const map = buildMap({
    title: source.title, source: source.source, X: source.X, y: source.y, names: source.names, model: source.model,
    hasImages: Boolean(source.images),
    classify: source.embedder ? { available: true, how: source.embedder.how, inPage: source.embedder.inPage?.spec } : { available: false, how: 'no backbone known for these features' },
    reconstruct: {
      available: source.reconstructor?.available ?? false, how: source.reconstructor?.how ?? 'no network is known for these features',
      known: (source.reconstructions ?? []).map((r) => r.prototype),
    },
  });
  const routes = explorerRoutes({
    source, options, maxUpload: options.maxUpload ?? 8 * 1024 * 1024, projection: map.projection, mapJson: JSON.stringify(map), embedQueue: Promise.resolve(),
    classifying: 0, maxClassifyQueue: options.maxClassifyQueue ?? 4, embedMs: 200, recQueue: Promise.resolve(),
    recs: new Map((source.reconstructions ?? []).map((result) => [result.prototype, { started: true, done: result.steps, total: result.steps, result }])),
  });
  const handle = (req: IncomingMessage, res: ServerResponse) => route(routes, req, res);

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) {
        if (e.status === 413) res.setHeader('Connection', 'close');
        for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
        sendJson(res, e.status, { error: e.message, status: e.status });
        return;
      }
      options.onError?.(`${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
      sendJson(res, 500, { error: 'internal error', status: 500 });
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}/`,
    map,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); })
      .then(() => source.reconstructor?.close()),
  };
}
