import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSluice, type Role, type RunningSluice } from '@sluice/cli';
import { compileConfig, createLogger, parseEnv, type SluiceConfig } from '@sluice/core';
import { startSimulator, type Simulator, type SimulatorOptions } from '@sluice/simulator';
import { infra, uniquePrefix } from './context.js';

export interface Pipeline {
  url: string;
  sluice: RunningSluice;
  simulator: Simulator;
  config: SluiceConfig;
  dataDir: string;
  stop(): Promise<void>;
}

export interface PipelineOptions {
  label: string;
  /** Extra environment, as a deployment would set it. */
  env?: Record<string, string>;
  simulator?: SimulatorOptions;
  roles?: Role[];
}

/**
 * Starts Sluice in this process against the real broker and registry, with its own topics and data
 * directory, the real HTTP server on a free port, and the simulator as the upstream.
 */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { brokers, registryUrl } = infra();
  const simulator = await startSimulator({ port: 0, ...options.simulator });
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-${options.label}-`));
  const config = compileConfig(
    parseEnv({
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      SLUICE_TOPIC_PREFIX: uniquePrefix(options.label),
      SLUICE_PARTITIONS: '3',
      SLUICE_DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      OPENAI_BASE_URL: simulator.url,
      LOG_LEVEL: process.env.SLUICE_TEST_LOG_LEVEL ?? 'error',
      SLUICE_STATUS_INTERVAL_MS: '200',
      SLUICE_COMMIT_INTERVAL_MS: '200',
      ...options.env,
    }),
  );
  const logger = createLogger({ name: options.label, level: config.logLevel });
  const sluice = await startSluice(config, { roles: options.roles ?? ['ingest', 'processor', 'sink'], logger });
  return {
    url: sluice.url,
    sluice,
    simulator,
    config,
    dataDir,
    async stop() {
      await sluice.stop();
      await simulator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
