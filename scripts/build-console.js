// Builds the admin console into dist/console with esbuild: one bundled module, no outside host.

import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

mkdirSync('dist/console', { recursive: true });
await build({
  entryPoints: ['console/src/main.tsx'],
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: true,
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: 'dist/console/console.js',
  logLevel: 'warning',
});
copyFileSync('console/index.html', 'dist/console/index.html');
copyFileSync('console/console.css', 'dist/console/console.css');
