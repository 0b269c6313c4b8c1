/**
 * The SPA's build: web/ -> app/static/web/ (committed, served by the API at /), or WEB_OUT
 * (`npm run check` builds into a temporary folder and compares). The output is a function of
 * the sources and the lockfile only: content-hashed names, no timestamps, no source maps.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  build: {
    outDir: process.env.WEB_OUT ?? '../app/static/web',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
