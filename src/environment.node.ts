/**
 * What runs protolens on this machine, and why: the matrix-product (GEMM) backend and the native
 * addon's state, the convolution kernels of the embedding trainer, the TF.js backend of feature
 * extraction with its SIMD and threads, onnxruntime, sharp, the feature cache and where the
 * explorer's page comes from. `protolens doctor` prints it; a bug report should carry it.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { VERSION } from './version.ts';
import { describeNodeGemm, enableNodeGemm, nativeGemmStatus } from './linalg/gemm-native.node.ts';

/** One line of the report: what, which, and why. */
export interface EnvironmentItem {
  /** What is reported ("GEMM", "TF.js backend", …). */
  what: string;
  /** What is in use, or "unavailable". */
  value: string;
  /** Why (or details), when there is something to say. */
  why?: string;
  /** False when something protolens can use is missing (a fallback is in use). */
  ok: boolean;
}

/** The whole report. */
export interface EnvironmentReport {
  protolens: string;
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  items: EnvironmentItem[];
}

/** The version of an installed package, or undefined when it cannot be resolved from here. */
function packageVersion(name: string): string | undefined {
  try {
    const req = createRequire(import.meta.url);
    let dir = req.resolve(name);
    // Walk up from the entry file to the package's own package.json.
    for (let i = 0; i < 6; i++) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      const pj = `${dir}/package.json`;
      if (existsSync(pj)) {
        const j = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version?: string };
        if (j.name === name) return j.version;
      }
    }
  } catch { /* not installed */ }
  return undefined;
}

async function gemmItems(): Promise<EnvironmentItem[]> {
  const native = nativeGemmStatus();
  let choice;
  try {
    choice = enableNodeGemm();
  } catch (e) {
    return [{ what: 'GEMM', value: 'unavailable', why: (e as Error).message, ok: false }];
  }
  const info = native.info;
  const threadsEnv = process.env.PROTOLENS_GEMM_THREADS;
  const { enableNativeConvKernels } = await import('./embedding/conv-native.node.ts');
  const conv = enableNativeConvKernels();
  return [
    {
      what: 'GEMM', value: choice.backend, ok: !choice.nativeUnavailable,
      why: describeNodeGemm(choice) + (process.env.PROTOLENS_GEMM && !choice.nativeUnavailable ? ` (PROTOLENS_GEMM=${process.env.PROTOLENS_GEMM})` : ''),
    },
    {
      what: 'native addon', value: native.available ? `loaded (${info?.isa ?? '?'})` : 'not loaded',
      why: native.available
        ? `${info?.threads} threads of ${info?.hardwareThreads}${threadsEnv ? ` (PROTOLENS_GEMM_THREADS=${threadsEnv})` : ''}; kernel ${info?.mr}×${info?.nr}, blocks kc ${info?.kc}, mc ${info?.mc}, nc ${info?.nc}${info?.compiler ? `; ${info.compiler}` : ''}`
        : `${native.reason}; the WebAssembly kernel on worker threads is used instead`,
      ok: native.available,
    },
    { what: 'convolutions (train-embedding)', value: conv, why: conv.startsWith('js') ? 'the JavaScript kernels' : undefined, ok: !conv.startsWith('js') },
  ];
}

async function tfItem(): Promise<EnvironmentItem> {
  try {
    const { initTfNode } = await import('./features/backend.node.ts');
    const tf = await import('@tensorflow/tfjs');
    const backend = await initTfNode('wasm');
    const simd = Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : false);
    const threads = Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') : false);
    return {
      what: 'TF.js backend (extraction)', value: `${backend}${simd ? ' + SIMD' : ''}, ${threads ? 'multi-threaded' : 'one thread per worker'}`,
      why: `@tensorflow/tfjs ${packageVersion('@tensorflow/tfjs') ?? '?'}; extract uses worker threads for more cores (--workers)`, ok: simd,
    };
  } catch (e) {
    return { what: 'TF.js backend (extraction)', value: 'unavailable', why: (e as Error).message, ok: false };
  }
}

async function optionalItems(): Promise<EnvironmentItem[]> {
  const out: EnvironmentItem[] = [];
  try {
    const sharp = (await import('sharp')).default;
    out.push({ what: 'images (sharp)', value: `sharp ${packageVersion('sharp') ?? '?'}`, why: `libvips ${sharp.versions.vips}`, ok: true });
  } catch (e) {
    out.push({ what: 'images (sharp)', value: 'unavailable', why: (e as Error).message, ok: false });
  }
  const ort = packageVersion('onnxruntime-node');
  try {
    await import('onnxruntime-node');
    out.push({ what: 'ONNX backbones', value: `onnxruntime-node ${ort ?? '?'}`, why: 'CPU execution provider', ok: true });
  } catch (e) {
    out.push({ what: 'ONNX backbones', value: 'unavailable', why: `onnxruntime-node does not load: ${(e as Error).message.split('\n')[0]}`, ok: false });
  }
  const { defaultCacheDir } = await import('./features/cache.node.ts');
  out.push({ what: 'feature cache', value: defaultCacheDir(), why: process.env.PROTOLENS_CACHE ? 'PROTOLENS_CACHE' : 'default (set PROTOLENS_CACHE to move it)', ok: true });
  const { packagedPage, webRoot } = await import('./server/build.node.ts');
  const checkout = existsSync(`${webRoot()}/index.html`);
  const packaged = existsSync(`${packagedPage()}index.html`);
  out.push({
    what: 'explorer page', value: checkout ? 'built from web/ on demand (a checkout)' : packaged ? 'packaged' : 'missing',
    why: checkout ? 'protolens serve builds it with Vite when its sources changed' : packaged ? packagedPage() : 'reinstall protolens', ok: checkout || packaged,
  });
  return out;
}

/**
 * Gathers the report. Starts what it reports on (the GEMM backend, TF.js's wasm backend: about a
 * second), as a command would.
 * @example
 * (await environmentReport()).items.find((i) => i.what === 'GEMM')!.value // 'native-avx2-fma-threads2'
 */
export async function environmentReport(): Promise<EnvironmentReport> {
  const items = [...await gemmItems(), await tfItem(), ...await optionalItems()];
  return {
    protolens: VERSION, node: process.version, platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), items,
  };
}

/** The report as text lines, one per item, fallbacks marked. */
export function environmentText(r: EnvironmentReport): string {
  const lines = [`protolens ${r.protolens}, Node ${r.node}, ${r.platform}, ${r.cores} × ${r.cpu}`];
  const width = Math.max(...r.items.map((i) => i.what.length));
  for (const i of r.items) lines.push(`${i.ok ? ' ' : '!'} ${i.what.padEnd(width)}  ${i.value}${i.why ? ` — ${i.why}` : ''}`);
  return lines.join('\n') + '\n';
}
