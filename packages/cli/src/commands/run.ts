import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createLogger } from '@sluice/core';
import { Sluice } from '@sluice/sdk';
import { startSimulator, type Simulator } from '@sluice/simulator';
import type { Command } from 'commander';
import { ROLES, startSluice, type RunningSluice } from '../runtime.js';
import { batchPath, parseBatchObject, requireCompleted } from './batch-target.js';
import { clientAction, clientCommand } from './connection.js';
import { stageInput } from './input-file.js';
import { type OperationFlags, operationParamsFrom } from './operation-params.js';
import { fileOutputRequest, writeOutput } from './output.js';
import { addInputOptions, checkSubmitFlags, dryRunInput, printDryRun, submitInput } from './submit.js';
import { waitUntilFinal } from './wait.js';
import { loadConfig } from './serve.js';

interface RunFlags extends OperationFlags {
  output?: string;
  format?: string;
  dryRun?: boolean;
  json?: boolean;
  dedup?: string;
  tier?: string;
}

/** Where the output goes when `-o` is not given: `<input name>.output.<csv for a CSV of items, else jsonl>`. */
export function defaultOutputPath(file: string, operation: string | undefined): string {
  const name = file === '-' ? 'stdin' : basename(file, extname(file));
  const csv = operation !== undefined && extname(file).toLowerCase() === '.csv';
  return `${name}.output.${csv ? 'csv' : 'jsonl'}`;
}

/** `out.csv` → `out.errors.jsonl`: the error file beside the output. */
export function errorPathBeside(output: string): string {
  return join(dirname(output), `${basename(output, extname(output))}.errors.jsonl`);
}

/**
 * `sluice run FILE`: a one-shot job on a fresh machine. Starts the whole pipeline in this process
 * (embedded: no Kafka), with the upstream from OPENAI_BASE_URL or, without one, the simulator
 * (said first, before anything else), submits FILE, shows progress, writes the output and the
 * error file beside it, prints a summary and exits.
 */
export function registerRun(program: Command) {
  const command = clientCommand(program, 'run')
    .description(
      'Run FILE end to end in this process (no Kafka needed) and write its output: items with --operation, or domain / OpenAI requests.',
    )
    .argument('<file>', 'a .jsonl or .csv file, or - for JSONL on stdin');
  addInputOptions(command)
    .option(
      '-o, --output <file>',
      'where to write the output (default: <input name>.output.jsonl, or .csv for a CSV of items)',
    )
    .option('--format <format>', 'json | jsonl | csv, overriding the output file name (jobs only)')
    .option('--dry-run', 'validate FILE and print an estimate (items, tokens, cost, time); process nothing')
    .option('--json', 'with --dry-run: print the estimate as JSON')
    .action(
      clientAction(async (file: string, flags: RunFlags) => {
        const outputPath = flags.output ?? defaultOutputPath(file, flags.operation);
        // --format is checked against the file the output goes to, the default one included.
        checkSubmitFlags({
          ...flags,
          output: flags.dryRun ? flags.output : outputPath,
          wait: !flags.dryRun,
          pollInterval: '1',
        });
        const params = flags.operation === undefined ? null : operationParamsFrom(flags);
        const started = performance.now();
        const env: NodeJS.ProcessEnv = { ...process.env };
        delete env.KAFKA_BROKERS; // a one-shot run is always embedded
        let simulator: Simulator | null = null;
        if (!env.OPENAI_BASE_URL && !env.SLUICE_UPSTREAMS_FILE) {
          process.stderr.write(
            'sluice: neither OPENAI_BASE_URL nor SLUICE_UPSTREAMS_FILE is set, so the answers below come from the built-in simulator: they are simulated, not from a real model.\n',
          );
          simulator = await startSimulator({ port: 0, latency: { medianMs: 40, p99Ms: 200 } });
          env.OPENAI_BASE_URL = simulator.url;
        }
        const runId = new Date().toISOString().replace(/[:.]/g, '-');
        const config = loadConfig({
          ...env,
          HOST: '127.0.0.1',
          PORT: '0',
          LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
          SLUICE_DATA_DIR: join(env.SLUICE_DATA_DIR ?? '.sluice', 'runs', runId),
          SLUICE_STATUS_INTERVAL_MS: env.SLUICE_STATUS_INTERVAL_MS ?? '200',
        });
        let running: RunningSluice | null = null;
        try {
          running = await startSluice(config, {
            roles: ROLES,
            logger: createLogger({ name: 'sluice', level: config.logLevel, destination: process.stderr }),
          });
          const client = new Sluice({ baseURL: running.url });
          const input = await stageInput(file);
          if (flags.dryRun) {
            // The estimate is the running server's: its limits and prices are this environment's.
            const estimate = await dryRunInput(client, input, params).finally(() => input.cleanup());
            printDryRun(estimate, flags.json === true);
            return;
          }
          const submitted = await submitInput(client, input, params, {
            output: outputPath,
            format: flags.format,
            dedup: flags.dedup,
            tier: flags.tier,
          }).finally(() => input.cleanup());
          const final = await waitUntilFinal(client, submitted.id, submitted.kind, {
            timeoutMs: Infinity,
            pollIntervalMs: 250,
          });
          const raw = await client.requestJSON({ method: 'GET', path: batchPath(final.id) });
          const batch = parseBatchObject(raw, `GET ${batchPath(final.id)}`);
          const tokens = (raw as { usage?: { total_tokens?: number } }).usage?.total_tokens ?? 0;
          let wrote = '';
          if (final.status !== 'failed') {
            await mkdir(dirname(outputPath), { recursive: true });
            await writeOutput(client, final.id, final.kind, outputPath, fileOutputRequest(outputPath, flags.format));
            wrote = ` → ${outputPath}`;
            if (batch.error_file_id) {
              const errorsPath = errorPathBeside(outputPath);
              const response = await client.request({
                method: 'GET',
                path: `/v1/files/${encodeURIComponent(batch.error_file_id)}/content`,
                headers: { accept: '*/*' },
                stream: true,
              });
              await pipeline(
                response.body ? Readable.fromWeb(response.body as WebReadableStream<Uint8Array>) : Readable.from([]),
                createWriteStream(errorsPath),
              );
              wrote += ` (errors: ${errorsPath})`;
            }
          }
          const seconds = (performance.now() - started) / 1000;
          process.stderr.write(
            `${final.id} ${final.status}: ${final.total} items, ${final.completed} completed, ${final.failed} failed, ` +
              `${tokens.toLocaleString('en-US')} tokens, ${seconds.toFixed(1)} s${wrote}` +
              `${simulator ? ' [simulated answers]' : ''}\n`,
          );
          requireCompleted(final);
        } finally {
          await running?.stop();
          await simulator?.close();
        }
      }),
    );
}
