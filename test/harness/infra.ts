import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';

/** Where the integration tests find Kafka and the schema registry. */
export interface Infra {
  brokers: string[];
  registryUrl: string;
  /** `env` when taken from KAFKA_BROKERS / SCHEMA_REGISTRY_URL, `testcontainers` when started here. */
  source: 'env' | 'testcontainers';
}

export const START_HINT =
  'Start the local broker and registry with `pnpm kafka:up` and export the environment it prints ' +
  '(KAFKA_BROKERS, SCHEMA_REGISTRY_URL; also in .infra/env), or run `bash scripts/test-all.sh`, which does both.';

export class InfraUnavailableError extends Error {
  constructor(reason: string) {
    super(`${reason}\n${START_HINT}`);
    this.name = 'InfraUnavailableError';
  }
}

/** Fails unless a broker answers at `brokers` within a few seconds. */
export async function checkBroker(brokers: string[]): Promise<void> {
  const kafka = new Kafka({
    clientId: 'sluice-test-probe',
    brokers,
    connectionTimeout: 2000,
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 1000 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (error) {
    throw new InfraUnavailableError(
      `No Kafka broker answers at ${brokers.join(',')} (${error instanceof Error ? error.message : String(error)}).`,
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Fails unless the Confluent-compatible registry answers `GET /subjects`. */
export async function checkRegistry(registryUrl: string): Promise<void> {
  try {
    const response = await fetch(`${registryUrl.replace(/\/+$/, '')}/subjects`, { signal: AbortSignal.timeout(3000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    throw new InfraUnavailableError(
      `No schema registry answers at ${registryUrl} (${error instanceof Error ? error.message : String(error)}).`,
    );
  }
}

async function dockerAnswers(): Promise<boolean> {
  try {
    await promisify(execFile)('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves the infrastructure: from the environment when KAFKA_BROKERS is set, from
 * testcontainers when it is not and a Docker engine answers, otherwise an error that says how to
 * start it. Never a silent skip.
 */
export async function resolveInfra(env: Record<string, string | undefined> = process.env): Promise<{
  infra: Infra;
  stop: () => Promise<void>;
}> {
  const brokersVar = env.KAFKA_BROKERS?.trim();
  if (brokersVar) {
    const brokers = brokersVar
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    const registryUrl = env.SCHEMA_REGISTRY_URL?.trim();
    if (!registryUrl) {
      throw new InfraUnavailableError('KAFKA_BROKERS is set but SCHEMA_REGISTRY_URL is not.');
    }
    await checkBroker(brokers);
    await checkRegistry(registryUrl);
    return { infra: { brokers, registryUrl, source: 'env' }, stop: async () => undefined };
  }
  if (await dockerAnswers()) return startContainers();
  throw new InfraUnavailableError(
    'No Kafka broker for the integration tests: KAFKA_BROKERS is not set and no Docker engine answers for testcontainers.',
  );
}

async function startContainers(): Promise<{ infra: Infra; stop: () => Promise<void> }> {
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const { GenericContainer, Wait } = await import('testcontainers');
  const kafka = await new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().start();
  const registry = await new GenericContainer('apicurio/apicurio-registry:3.0.9')
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .start();
  return {
    infra: {
      brokers: [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`],
      registryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
      source: 'testcontainers',
    },
    stop: async () => {
      await Promise.allSettled([kafka.stop(), registry.stop()]);
    },
  };
}
