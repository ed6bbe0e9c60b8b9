/**
 * Embedding an uploaded image in the page, with onnxruntime-web, when the features come from an
 * ONNX backbone (the map's `classify.inPage`): the model is fetched once from the server
 * (`./api/backbone.onnx`), cut and fed exactly as in Node (src/features/onnx-backbone.ts, the
 * same TypeScript preprocessing), and the image is decoded by the browser; the feature then goes
 * through the model's feature transform when it has one. The caller falls back
 * to the server (`POST /api/classify`) when anything here fails.
 */
import { onnxBackbone, type OrtRuntime } from '../../src/features/onnx-backbone.ts';
import type { Backbone } from '../../src/features/backbone.ts';
import type { InPageEmbedding } from '../../src/viz/mapdata.ts';
import { FeatureTransform } from '../../src/model/preprocess.ts';

let loading: Promise<Backbone> | undefined;

/** onnxruntime-web (its WebAssembly build only, one thread: the page is not cross-origin isolated) and the backbone, loaded once. */
function backbone(spec: InPageEmbedding): Promise<Backbone> {
  loading ??= (async () => {
    const ort = await import('onnxruntime-web/wasm');
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    const r = await fetch('./api/backbone.onnx');
    if (!r.ok) throw new Error(`backbone.onnx: HTTP ${r.status}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    return onnxBackbone(ort as unknown as OrtRuntime, bytes, {
      name: spec.name, where: 'backbone.onnx', layer: spec.layer, pool: spec.pool, preset: spec.preprocessing.preset ?? 'torchvision',
      preprocessing: spec.preprocessing, weightsHash: '', source: './api/backbone.onnx', sessionOptions: { graphOptimizationLevel: 'all' },
    });
  })();
  loading.catch(() => { loading = undefined; });
  return loading;
}

/** The browser's decoding of an image file: RGBA pixels, without colour-space conversion. */
async function decode(file: Blob): Promise<{ width: number; height: number; channels: 4; data: Uint8ClampedArray }> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const out = { width: bitmap.width, height: bitmap.height, channels: 4 as const, data };
  bitmap.close();
  return out;
}

/**
 * The feature of an image file, computed in the page.
 * @throws Error when onnxruntime-web, the model or the image cannot be loaded, or the feature has the wrong size.
 */
export async function embedInPage(file: Blob, spec: InPageEmbedding): Promise<Float32Array> {
  const [bb, img] = await Promise.all([backbone(spec), decode(file)]);
  const x = await bb.embed([img]);
  if (x.length !== spec.dim) throw new Error(`the page's feature has ${x.length} values, the map's ${spec.dim}`);
  // Into the model's space, as the server does (src/server/sources.node.ts, transformed).
  return spec.transform ? FeatureTransform.fromJSON(spec.transform).transform({ data: x, rows: 1, cols: x.length }).data : x;
}
