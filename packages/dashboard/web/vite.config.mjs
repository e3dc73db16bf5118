// The dashboard's bundle: everything (Preact, uPlot, the page's code and CSS) into ../dist/web, which
// ingest serves at / — no CDN, so it works offline. Asset names carry a content hash, so ingest can
// let browsers keep them for good.
import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // The size budget (src/budget.test.ts) is on gzip, not on what Vite warns about.
    reportCompressedSize: false,
    sourcemap: false,
  },
});
