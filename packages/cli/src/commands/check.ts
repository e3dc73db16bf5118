import { checkRegistry, createLogger } from '@sluice/core';
import type { Command } from 'commander';
import { CliError, EXIT } from '../cli-errors.js';
import { createTransport } from '../runtime.js';
import { loadConfig } from './serve.js';

/**
 * `sluice check`: connects to the configured Kafka and schema registry exactly as `serve` would
 * (same protocol, TLS and SASL settings) and says whether each answers. A setting the broker or the
 * registry refuses is reported as one line naming it; the exit code is 1.
 */
export function registerCheck(program: Command) {
  program
    .command('check')
    .description('Check the Kafka and schema registry settings: connect as `serve` would and report.')
    .action(async () => {
      const config = loadConfig();
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
    });
}
