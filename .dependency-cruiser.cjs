/**
 * Package boundaries, checked in CI (`pnpm depcheck`):
 * - no import cycles anywhere;
 * - a package reaches another only through its entry point (`@sluice/x`), never its files;
 * - the pipeline stages (ingest, processor, sink) never import one another: they meet through
 *   topics and core's contracts (a stage's unit tests reach the simulator, their upstream over
 *   HTTP, only through test/harness/in-process.ts, outside the packages);
 * - ingest and sink keep data only through core's Store (a local directory or S3), never the
 *   file system: each may run on its own machine, and neither reads the other's files;
 * - core depends on no other Sluice package, the SDK only on core's contracts;
 * - inside ingest, routes depend on batches, never the reverse: batch behaviour lives in
 *   `batches/`, and an HTTP route module is only one way in.
 */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'no-deep-imports',
      severity: 'error',
      comment: 'Another package is reached only through its public entry point.',
      from: { path: '^packages/([^/]+)/' },
      to: {
        path: '^packages/([^/]+)/',
        pathNot: [
          '^packages/$1/',
          '^packages/[^/]+/dist/index\\.js$',
          '^packages/core/dist/contracts/index\\.js$',
          // Light entry points for ingest's intake workers, which load neither Kafka nor S3 clients.
          '^packages/core/dist/(jsonl|hash)\\.js$',
        ],
      },
    },
    {
      name: 'stages-meet-through-topics',
      severity: 'error',
      from: { path: '^packages/(ingest|processor|sink)/' },
      to: { path: '^packages/(ingest|processor|sink|cli|sdk)/', pathNot: '^packages/$1/' },
    },
    {
      name: 'the-simulator-is-for-tests',
      severity: 'error',
      comment:
        "The simulator stands in for an upstream in the processor's unit tests (real HTTP, started in-process); nothing else in a stage may reach it.",
      from: { path: '^packages/(ingest|processor|sink)/', pathNot: '^packages/processor/.*\\.test\\.ts$' },
      to: { path: '^packages/simulator/' },
    },
    {
      name: 'stages-keep-data-in-the-store',
      severity: 'error',
      comment:
        "Ingest and sink meet through topics and core's Store only: no file system access of their own (scratch directories are created by the CLI). Unit tests may make a scratch directory for the embedded log they run on.",
      from: { path: '^packages/(ingest|sink)/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['core'], path: '^(node:)?fs(/promises)?$' },
    },
    {
      name: 'core-stands-alone',
      severity: 'error',
      from: { path: '^packages/core/' },
      to: { path: '^packages/(?!core/)' },
    },
    {
      name: 'ingest-batches-below-routes',
      severity: 'error',
      comment:
        'Batch behaviour (submit, cancel, resubmit, OpenAI validation) lives in batches/; routes call it, it never calls a route module.',
      from: { path: '^packages/ingest/src/batches/' },
      to: { path: '^packages/ingest/src/routes/' },
    },
    {
      name: 'sdk-needs-contracts-and-retry-only',
      severity: 'error',
      from: { path: '^packages/sdk/' },
      to: { path: '^packages/(?!sdk/|core/dist/(contracts|retry)/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/.*\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'node', 'default'] },
  },
};
