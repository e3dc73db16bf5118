import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Unit tests run the packages' sources, not their builds: a stage a test starts through another
 * package (the CLI's `startSluice` in test/harness/in-process.ts) runs the code being changed,
 * so a unit test can fail without a `pnpm run build` first.
 */
const sources = {
  find: /^@sluice\/(core|ingest|processor|sink|simulator|cli)$/,
  replacement: fileURLToPath(new URL('./packages/$1/src/index.ts', import.meta.url)),
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'test/harness/**/*.test.ts'],
          testTimeout: 20_000,
        },
        resolve: { alias: [sources] },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Files run in parallel on the same broker; each uses its own topic prefix.
          maxConcurrency: 1,
        },
      },
      {
        test: {
          // Against the broker's secured listeners (kafka.sh up --secure, SLUICE_KAFKA_SECURE_DIR).
          name: 'secure',
          include: ['test/secure/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // A real OpenAI-compatible server and a real model (scripts/infra/llama.sh): one CPU-bound
          // server, so one file at a time.
          name: 'llama',
          include: ['test/llama/**/*.test.ts'],
          globalSetup: ['test/llama/global-setup.ts'],
          testTimeout: 900_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 180_000,
          // One at a time: these kill processes and restart the broker under everyone.
          fileParallelism: false,
        },
      },
    ],
  },
});
