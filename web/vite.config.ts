// Vite configuration of the explorer page. `protolens serve` runs this build itself (src/server/build.node.ts)
// into web/dist/<hash>/; nothing is loaded from a CDN at run time.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: { target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 4000, reportCompressedSize: false },
  worker: { format: 'es' },
});
