/**
 * Node adapter: the native element-wise kernels of the Conv-4 engine (native/conv.cc, built with
 * the native GEMM at `npm ci`), installed with `setConvKernels`. Where the addon is missing the
 * engine keeps its JavaScript kernels, which compute the same values.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemmThreadsFromEnv } from '../linalg/gemm-threads.node.ts';
import { convKernelsName, jsConvKernels, setConvKernels, type ConvKernels } from './conv4-gemm.ts';

/** Where `npm ci` puts the addon. */
export const CONV_ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'Release', 'protolens_conv.node');

interface ConvAddon {
  im2col3x3: ConvKernels['im2col3x3'];
  col2im3x3: ConvKernels['col2im3x3'];
  channelSums: ConvKernels['channelSums'];
  affineReluPool: ConvKernels['affineReluPool'];
  bnBackward: ConvKernels['bnBackward'];
  winnerSums: ConvKernels['winnerSums'];
  threads(n?: number): number;
}

/**
 * The native kernels, or why they are not available. They run on `PROTOLENS_GEMM_THREADS` threads
 * when that is set (the addon keeps the count for later loads), else on every core.
 * @throws RangeError when `PROTOLENS_GEMM_THREADS` is set but not a positive integer.
 * @param path - the addon file (default {@link CONV_ADDON}).
 */
export function loadNativeConvKernels(path = CONV_ADDON): { kernels: ConvKernels; threads: number } | { reason: string } {
  if (!existsSync(path)) return { reason: `${path} is not built (npm ci builds it; see native/build/build.log)` };
  // The same thread count as the GEMM's, so that two jobs sharing the cores can each take one;
  // a bad value throws here rather than passing for "the addon does not load".
  const threads = gemmThreadsFromEnv();
  try {
    const addon = createRequire(import.meta.url)(path) as ConvAddon;
    if (threads !== undefined) addon.threads(threads);
    const kernels: ConvKernels = {
      name: `native (${addon.threads()} threads)`,
      im2col3x3: addon.im2col3x3, col2im3x3: addon.col2im3x3, channelSums: addon.channelSums,
      affineReluPool: addon.affineReluPool, bnBackward: addon.bnBackward, winnerSums: addon.winnerSums,
    };
    return { kernels, threads: addon.threads() };
  } catch (e) {
    return { reason: `${path} does not load: ${(e as Error).message}` };
  }
}

/**
 * Installs the native kernels if they load (PROTOLENS_CONV=js keeps the JavaScript ones). They run
 * on `PROTOLENS_GEMM_THREADS` threads when that is set, else on every core.
 * @returns the name of the kernels now in use, with the reason when they are the JavaScript ones.
 */
export function enableNativeConvKernels(): string {
  if (process.env.PROTOLENS_CONV === 'js') { setConvKernels(jsConvKernels); return 'js (PROTOLENS_CONV=js)'; }
  const r = loadNativeConvKernels();
  if ('reason' in r) return `js (${r.reason})`;
  setConvKernels(r.kernels);
  return convKernelsName();
}
