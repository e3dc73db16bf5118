import { compileConfig, ConfigError, createLogger, parseEnv, shorthandUpstream, type SluiceConfig } from '@sluice/core';
import { startSimulator, type Simulator } from '@sluice/simulator';
import type { Command } from 'commander';
import { CliError, EXIT } from '../cli-errors.js';
import { ROLES, startSluice, type Role } from '../runtime.js';
import { untilSignal } from '../signals.js';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SluiceConfig {
  try {
    return compileConfig(parseEnv(env), env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`configuration: ${error.message}`, EXIT.usage);
    throw error;
  }
}

interface ServeFlags {
  role: string;
  simulate?: boolean;
}

export function registerServe(program: Command) {
  program
    .command('serve')
    .description('Run Sluice: the HTTP API (ingest), the processor and the sink; or one of them with --role.')
    .option('--role <role>', `one role: ${ROLES.join(' | ')}, or all`, 'all')
    .option('--simulate', 'with no OPENAI_BASE_URL, start the simulator in this process as the upstream')
    .action(async (flags: ServeFlags) => {
      const roles: Role[] = flags.role === 'all' ? [...ROLES] : [flags.role as Role];
      if (!roles.every((role) => (ROLES as readonly string[]).includes(role))) {
        throw new CliError(`--role: expected one of ${ROLES.join(', ')} or all, got '${flags.role}'`, EXIT.usage);
      }
      const config = loadConfig();
      const logger = createLogger({ name: 'sluice', level: config.logLevel });
      if (config.mode === 'embedded') {
        logger.info(
          { mode: 'embedded', dataDir: config.dataDir },
          `embedded mode: no KAFKA_BROKERS, so the pipeline runs in this process on a file-backed log in ${config.dataDir}`,
        );
      } else {
        logger.info({ mode: 'kafka', brokers: config.kafka?.brokers }, 'kafka mode');
      }
      let simulator: Simulator | null = null;
      if (roles.includes('processor') && config.upstream.list.length === 0 && flags.simulate) {
        simulator = await startSimulator({ port: 0 });
        config.upstream.list = [shorthandUpstream(simulator.url, 'sluice-no-key', config.upstream.defaults)];
        logger.warn(
          { upstream: simulator.url },
          'upstream: the built-in simulator — answers are simulated, not from a real model',
        );
      }
      const running = await startSluice(config, { roles, logger });
      logger.info({ url: running.url, roles, mode: config.mode, topics: config.topics }, 'sluice is running');
      const signal = await untilSignal();
      logger.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error('shutdown took longer than SLUICE_SHUTDOWN_TIMEOUT_MS; exiting');
        process.exit(EXIT.failure);
      }, config.shutdownTimeoutMs + 5000);
      deadline.unref();
      await running.stop();
      await simulator?.close();
    });
}
