import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';

/** An S3-compatible server for the tests (S3Proxy). */
export interface S3Infra {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** `env` when taken from AWS_ENDPOINT_URL, `started` when the global setup started S3Proxy. */
  source: 'env' | 'started';
}

/** Where the integration tests find Kafka, the schema registry and the S3 server. */
export interface Infra {
  brokers: string[];
  registryUrl: string;
  /** `env` when taken from KAFKA_BROKERS / SCHEMA_REGISTRY_URL, `testcontainers` when started here. */
  source: 'env' | 'testcontainers';
  s3: S3Infra;
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
  const kafka = await resolveKafka(env);
  try {
    const s3 = await resolveS3(env);
    return {
      infra: { ...kafka.infra, s3: s3.s3 },
      stop: async () => {
        await s3.stop();
        await kafka.stop();
      },
    };
  } catch (error) {
    await kafka.stop();
    throw error;
  }
}

/** Fails unless an S3 endpoint answers HTTP (any status: an anonymous request gets 403). */
export async function checkS3(endpoint: string): Promise<void> {
  try {
    await fetch(`${endpoint.replace(/\/+$/, '')}/`, { signal: AbortSignal.timeout(3000) });
  } catch (error) {
    throw new InfraUnavailableError(
      `No S3 server answers at ${endpoint} (${error instanceof Error ? error.message : String(error)}).`,
    );
  }
}

/**
 * The S3 server: from AWS_ENDPOINT_URL (and the AWS_* credentials) when set, otherwise an S3Proxy
 * started here with scripts/infra/s3proxy.sh on a free port and its own state directory, stopped
 * at the end of the run.
 */
async function resolveS3(env: Record<string, string | undefined>): Promise<{ s3: S3Infra; stop: () => Promise<void> }> {
  const endpoint = env.AWS_ENDPOINT_URL?.trim();
  if (endpoint) {
    await checkS3(endpoint);
    return {
      s3: {
        endpoint,
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'sluice',
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'sluice-secret',
        region: env.AWS_REGION ?? 'us-east-1',
        source: 'env',
      },
      stop: async () => undefined,
    };
  }
  const { freePort } = await import('./process.js');
  const port = await freePort();
  const state = await mkdtemp(join(tmpdir(), 'sluice-s3proxy-'));
  const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/infra/s3proxy.sh');
  const run = (command: string) =>
    promisify(execFile)('bash', [script, command], {
      env: { ...process.env, SLUICE_INFRA_DIR: state, S3PROXY_PORT: String(port) },
      timeout: 300_000,
    });
  try {
    await run('up');
  } catch (error) {
    await rm(state, { recursive: true, force: true });
    throw new InfraUnavailableError(
      `Could not start S3Proxy for the tests (${error instanceof Error ? error.message : String(error)}); set AWS_ENDPOINT_URL to an S3 server, or install Java 17 and Maven.`,
    );
  }
  return {
    s3: {
      endpoint: `http://127.0.0.1:${port}`,
      accessKeyId: 'sluice',
      secretAccessKey: 'sluice-secret',
      region: 'us-east-1',
      source: 'started',
    },
    stop: async () => {
      await run('down').catch(() => undefined);
      await rm(state, { recursive: true, force: true });
    },
  };
}

async function resolveKafka(env: Record<string, string | undefined>): Promise<{
  infra: Omit<Infra, 's3'>;
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

async function startContainers(): Promise<{ infra: Omit<Infra, 's3'>; stop: () => Promise<void> }> {
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
