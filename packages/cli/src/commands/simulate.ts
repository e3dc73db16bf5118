import { createLogger } from '@sluice/core';
import {
  parseLatencySpec,
  startSimulator,
  STRUCTURED_DIALECTS,
  type SimulatorOptions,
  type StructuredDialect,
} from '@sluice/simulator';
import type { Command } from 'commander';
import { CliError, EXIT, parseNumber } from '../cli-errors.js';
import { untilSignal } from '../signals.js';

interface SimulateFlags {
  port: string;
  host: string;
  latency?: string;
  rpm?: string;
  tpm?: string;
  errorRate?: string;
  rate429?: string;
  timeoutRate?: string;
  malformedRate?: string;
  flexUnavailableRate?: string;
  flexModels?: string;
  seed?: string;
  burstSeconds?: string;
  structured?: string;
}

const rate = (name: string, value: string | undefined) =>
  value === undefined ? undefined : parseNumber(name, value, { min: 0, max: 1 });

export function simulatorOptionsFrom(flags: SimulateFlags): SimulatorOptions {
  let latency;
  if (flags.latency !== undefined) {
    try {
      latency = parseLatencySpec(flags.latency);
    } catch (error) {
      throw new CliError(`--latency: ${(error as Error).message}`, EXIT.usage);
    }
  }
  return {
    host: flags.host,
    port: parseNumber('--port', flags.port, { min: 0, max: 65535, integer: true }),
    latency,
    rpm: flags.rpm === undefined ? undefined : parseNumber('--rpm', flags.rpm, { min: 0, integer: true }),
    tpm: flags.tpm === undefined ? undefined : parseNumber('--tpm', flags.tpm, { min: 0, integer: true }),
    errorRate: rate('--error-rate', flags.errorRate),
    rate429: rate('--rate-429', flags.rate429),
    timeoutRate: rate('--timeout-rate', flags.timeoutRate),
    malformedRate: rate('--malformed-rate', flags.malformedRate),
    flexUnavailableRate: rate('--flex-unavailable-rate', flags.flexUnavailableRate),
    flexModels: flags.flexModels
      ?.split(',')
      .map((model) => model.trim())
      .filter(Boolean),
    seed: flags.seed === undefined ? undefined : parseNumber('--seed', flags.seed, { integer: true }),
    burstSeconds:
      flags.burstSeconds === undefined ? undefined : parseNumber('--burst-seconds', flags.burstSeconds, { min: 0.001 }),
    structured: structuredDialect(flags.structured),
  };
}

function structuredDialect(value: string | undefined): StructuredDialect | undefined {
  if (value === undefined) return undefined;
  if ((STRUCTURED_DIALECTS as readonly string[]).includes(value)) return value as StructuredDialect;
  throw new CliError(`--structured: expected one of ${STRUCTURED_DIALECTS.join(', ')}, got '${value}'`, EXIT.usage);
}

export function registerSimulate(program: Command) {
  program
    .command('simulate')
    .description('Start the OpenAI-compatible simulator (answers are simulated, never from a real model).')
    .option('--port <port>', 'port to listen on', '9999')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--latency <median[,p99]>', 'answer latency in ms, lognormal (e.g. 400,2000)')
    .option('--rpm <n>', 'requests-per-minute limit, answered with 429 + retry-after')
    .option('--tpm <n>', 'tokens-per-minute limit, answered with 429 + retry-after')
    .option('--burst-seconds <s>', 'capacity of the rpm/tpm budgets, in seconds of refill (default 1)')
    .option(
      '--structured <dialect>',
      'structured output it speaks: json_schema (default), json_object (llama-cpp-python), json (TGI), none',
    )
    .option('--error-rate <r>', 'share of requests answered with a 5xx')
    .option('--rate-429 <r>', 'share of requests answered with a 429')
    .option('--timeout-rate <r>', 'share of requests never answered')
    .option('--malformed-rate <r>', 'share of answers whose content is not valid JSON')
    .option('--flex-unavailable-rate <r>', 'share of service_tier "flex" calls refused with 429 flex_unavailable')
    .option(
      '--flex-models <names>',
      'comma-separated models served on flex; flex calls for others get a 400 (default: all)',
    )
    .option('--seed <n>', 'seed for the random faults and latencies')
    .action(async (flags: SimulateFlags) => {
      const options = simulatorOptionsFrom(flags);
      const logger = createLogger({ name: 'simulator' });
      const simulator = await startSimulator({ ...options, logger });
      logger.info({ url: simulator.url, options }, 'simulator listening (all answers are simulated)');
      await untilSignal();
      await simulator.close();
    });
}
