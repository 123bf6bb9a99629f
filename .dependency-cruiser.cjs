/**
 * The import rules of ARCHITECTURE.md, checked by `npm run lint` (dependency-cruiser):
 * data flows edge -> rules -> store; the rules and the stores stand on src/model/ and import
 * nothing of each other; no import circles.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: two files that cannot be read (or tested) one without the other.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-not-edge',
      severity: 'error',
      comment: 'The rules know no HTTP, no CLI, no server wiring: plain values in, plain values out.',
      from: { path: '^src/domain/' },
      to: { path: '^src/(http|cli|background|client)/|^src/(app|server|config|errors)\\.ts$' },
    },
    {
      name: 'domain-not-store',
      severity: 'error',
      comment: 'The rules reach a store only through the ports in src/model/.',
      from: { path: '^src/domain/' },
      to: { path: '^src/store/' },
    },
    {
      name: 'store-not-domain',
      severity: 'error',
      comment: 'A store applies no rule of its own: it imports nothing from src/domain/ (shared types live in src/model/).',
      from: { path: '^src/store/' },
      to: { path: '^src/domain/' },
    },
    {
      name: 'store-not-edge',
      severity: 'error',
      comment: 'A store knows no HTTP and no CLI.',
      from: { path: '^src/store/' },
      to: { path: '^src/(http|cli|background|client)/|^src/(app|server)\\.ts$' },
    },
    {
      name: 'model-stands-alone',
      severity: 'error',
      comment: 'The ground floor imports nothing above it.',
      from: { path: '^src/model/' },
      to: { path: '^src/(?!model/)' },
    },
    {
      name: 'client-stands-alone',
      severity: 'error',
      comment: 'The SDK is its own package: it imports nothing of the server.',
      from: { path: '^src/client/' },
      to: { path: '^src/(?!client/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'] },
  },
};
