import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The console: one page at Slipway's `/`, built into dist/console beside the compiled server, which serves
 * every file itself (src/http/routes/console.ts). Hashed file names under /assets/ are cached for good.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: 'public',
  // Preact's automatic JSX runtime, without Babel.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Everything is a file of its own: the page's Content-Security-Policy allows no data: scripts or styles.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
});
