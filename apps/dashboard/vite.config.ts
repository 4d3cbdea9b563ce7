import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// `vite` (dev server) proxies the API so the page can be developed against a running stack:
// FOOTFALL_API_URL (default http://127.0.0.1:8080). `vite build` writes dist/, served by the API at /dashboard/.
// biome-ignore lint/style/noDefaultExport: Vite loads the config from the default export
export default defineConfig({
  root,
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: {
      '/v1': { target: process.env.FOOTFALL_API_URL ?? 'http://127.0.0.1:8080', changeOrigin: true },
    },
  },
});
