import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { compileConfig, parseEnv, type KafkaSecurity, type RegistryAccess } from '@sluice/core';
import { until } from './processes.js';

export interface BenchInfra {
  brokers: string;
  registryUrl: string;
  /** The connection settings (KAFKA_SECURITY_PROTOCOL and its family), as the roles compile them. */
  security: KafkaSecurity;
  registryAccess: RegistryAccess;
  /** Every KAFKA_* and SCHEMA_REGISTRY_* variable, passed on to the Sluice processes a benchmark starts. */
  connectionEnv: Record<string, string>;
}

export function infraFromEnv(): BenchInfra {
  const brokers = process.env.KAFKA_BROKERS;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL;
  if (!brokers || !registryUrl) {
    throw new Error(
      'pnpm bench needs the real broker and registry: run `pnpm kafka:up` and export KAFKA_BROKERS and SCHEMA_REGISTRY_URL (eval "$(bash scripts/infra/kafka.sh up)").',
    );
  }
  const config = compileConfig(parseEnv(process.env));
  const connectionEnv = Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => /^(KAFKA|SCHEMA_REGISTRY)_/.test(entry[0]) && entry[1] !== undefined,
    ),
  );
  return {
    brokers,
    registryUrl,
    security: config.kafka?.security ?? { protocol: 'PLAINTEXT', tls: null, sasl: null },
    registryAccess: config.registryAccess,
    connectionEnv,
  };
}

/** The environment of one benchmark's Sluice processes: its own topics and data directory. */
export async function sluiceEnv(infra: BenchInfra, label: string, extra: Record<string, string> = {}) {
  return {
    ...infra.connectionEnv,
    KAFKA_BROKERS: infra.brokers,
    SCHEMA_REGISTRY_URL: infra.registryUrl,
    SLUICE_TOPIC_PREFIX: `bench-${label}-${randomBytes(3).toString('hex')}`,
    SLUICE_DATA_DIR: await mkdtemp(join(tmpdir(), `sluice-bench-${label}-`)),
    SLUICE_PARTITIONS: '8',
    // info: the bench waits for each role's "sluice is running" line (nothing is logged per item).
    LOG_LEVEL: 'info',
    SLUICE_METRICS: 'true',
    ...extra,
  };
}

/** A small classify item, as a domain batch line. */
export function domainLine(batch: string, index: number): string {
  return JSON.stringify({
    custom_id: `${batch}-${index}`,
    body: {
      model: 'classify',
      text: `Ticket ${index}: I was charged twice for my subscription.`,
      labels: ['billing', 'bug', 'other'],
    },
  });
}

/** A domain batch's JSONL body, generated as it is sent (never all in memory). */
export function domainBody(batch: string, count: number): Readable {
  return Readable.from(
    (function* () {
      for (let start = 0; start < count; start += 1000) {
        const lines: string[] = [];
        for (let i = start; i < Math.min(count, start + 1000); i++) lines.push(domainLine(batch, i));
        yield `${lines.join('\n')}\n`;
      }
    })(),
  );
}

export async function submitDomain(url: string, batch: string, count: number): Promise<string> {
  const response = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/jsonl' },
    body: Readable.toWeb(domainBody(batch, count)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const body = (await response.json()) as { id?: string };
  if (response.status !== 200 || !body.id)
    throw new Error(`submit failed: HTTP ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.id;
}

export interface BatchStatusView {
  status: string;
  request_counts: { total: number; completed: number; failed: number };
}

export async function batchStatus(url: string, id: string): Promise<BatchStatusView> {
  return (await (await fetch(`${url}/v1/batches/${id}`)).json()) as BatchStatusView;
}

export async function waitCompleted(url: string, ids: string[], timeoutMs: number): Promise<void> {
  for (const id of ids) {
    await until(
      async () => {
        const batch = await batchStatus(url, id);
        if (batch.status === 'failed' || batch.status === 'expired') throw new Error(`${id} ${batch.status}`);
        return batch.status === 'completed' ? true : undefined;
      },
      timeoutMs,
      `batch ${id}`,
      100,
    );
  }
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
