import { checkRegistry, createLogger, type SluiceConfig } from '@sluice/core';
import type { Command } from 'commander';
import { CliError, EXIT } from '../cli-errors.js';
import { createTransport } from '../runtime.js';
import { checkUpstream, formatUpstreamChecks } from '../upstream-check.js';
import { loadConfig } from './serve.js';

/**
 * `sluice check`: connects to the configured Kafka and schema registry exactly as `serve` would
 * (same protocol, TLS and SASL settings) and says whether each answers, then probes every
 * configured upstream (one line each: `name  base_url  ok|FAIL  reason`). A setting the broker or
 * the registry refuses is reported as one line naming it; that, or any upstream failing, exits 1.
 */
export function registerCheck(program: Command) {
  program
    .command('check')
    .description(
      'Check the Kafka and schema registry settings (connect as `serve` would) and probe every configured upstream.',
    )
    .action(async () => {
      const config = loadConfig();
      await checkKafka(config);
      await checkUpstreams(config);
    });
}

async function checkKafka(config: SluiceConfig): Promise<void> {
  if (!config.kafka) {
    process.stdout.write('kafka: not configured (no KAFKA_BROKERS): serve would run embedded\n');
    return;
  }
  const logger = createLogger({ name: 'sluice-check', level: config.logLevel, destination: process.stderr });
  const transport = createTransport(config, 'sluice-check', logger);
  const { brokers, security } = config.kafka;
  const login = security.sasl
    ? ` ${security.sasl.mechanism}${'username' in security.sasl ? ` as ${security.sasl.username}` : ''}`
    : '';
  const client = security.tls?.client ? ', client certificate' : '';
  try {
    await transport.connect();
    process.stdout.write(`kafka: ok (${brokers.join(',')}, ${security.protocol}${login}${client})\n`);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), EXIT.failure);
  } finally {
    await transport.close();
  }
  if (config.registryUrl) {
    try {
      await checkRegistry(config.registryUrl, config.registryAccess, 10_000);
    } catch (error) {
      throw new CliError(error instanceof Error ? error.message : String(error), EXIT.failure);
    }
    const auth = config.registryAccess.basicAuth ? ` as ${config.registryAccess.basicAuth.username}` : '';
    process.stdout.write(`schema registry: ok (${config.registryUrl}${auth})\n`);
  } else {
    process.stdout.write('schema registry: not configured (no SCHEMA_REGISTRY_URL): messages are plain JSON\n');
  }
}

async function checkUpstreams(config: SluiceConfig): Promise<void> {
  const upstreams = config.upstream.list;
  if (upstreams.length === 0) {
    process.stdout.write(
      'upstreams: none configured (no OPENAI_BASE_URL or SLUICE_UPSTREAMS_FILE): a processor would not start; an ingest accepts every model\n',
    );
    return;
  }
  const defaultModels = [...new Set(Object.values(config.upstream.models))];
  // All at once: a dead upstream costs its timeout once, not once per upstream.
  const checks = await Promise.all(upstreams.map((entry) => checkUpstream(entry, { defaultModels })));
  process.stdout.write(
    `upstreams:\n${formatUpstreamChecks(checks)
      .map((line) => `  ${line}\n`)
      .join('')}`,
  );
  const failed = checks.filter((check) => !check.ok);
  if (failed.length > 0) {
    throw new CliError(
      `${failed.length} of ${checks.length} upstreams failed the check: ${failed.map((check) => check.name).join(', ')}`,
      EXIT.failure,
    );
  }
}
