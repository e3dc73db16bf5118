import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isTerminal } from '@sluice/core';
import type { OutputFormat, Sluice } from '@sluice/sdk';
import type { Command } from 'commander';
import { CliError, EXIT, parseNumber } from '../cli-errors.js';
import { type BatchKind, batchPath, inspectBatch } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';

const FORMATS = ['json', 'jsonl', 'csv'] as const;

interface OutputFlags extends ConnectionFlags {
  format?: string;
  output?: string;
  offset?: string;
  limit?: string;
}

/** What to fetch: a format, and for `json` optionally one page instead of the whole array. */
export interface OutputRequest {
  format: OutputFormat;
  /** Set: one `output.page` object; unset: every row. */
  page?: { offset: number; limit: number | undefined };
  /** The user chose the format (rather than the default), so a batch that has only JSONL refuses it. */
  explicitFormat: boolean;
}

export function outputRequestFrom(flags: Pick<OutputFlags, 'format' | 'offset' | 'limit'>): OutputRequest {
  const format = flags.format ?? 'jsonl';
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new CliError(`--format: expected one of ${FORMATS.join(', ')}, got '${format}'`, EXIT.usage);
  }
  const paged = flags.offset !== undefined || flags.limit !== undefined;
  if (paged && format !== 'json') {
    throw new CliError(`--${flags.offset !== undefined ? 'offset' : 'limit'}: only with --format json`, EXIT.usage);
  }
  return {
    format: format as OutputFormat,
    explicitFormat: flags.format !== undefined,
    page: paged
      ? {
          offset: flags.offset === undefined ? 0 : parseNumber('--offset', flags.offset, { min: 0, integer: true }),
          limit:
            flags.limit === undefined
              ? undefined
              : parseNumber('--limit', flags.limit, { min: 1, max: 10_000, integer: true }),
        }
      : undefined,
  };
}

/** The format of an output file from its name: `.json`, `.csv`, else JSONL. */
export function formatOfPath(path: string): OutputFormat {
  const lower = path.toLowerCase();
  return lower.endsWith('.csv') ? 'csv' : lower.endsWith('.json') ? 'json' : 'jsonl';
}

/**
 * How a command that downloads a whole output into FILE (`submit --wait -o`, `run -o`) writes it:
 * `--format` when given, else the format the file's name says.
 */
export function fileOutputRequest(path: string, format: string | undefined): OutputRequest {
  if (format === undefined) return { format: formatOfPath(path), explicitFormat: false };
  return outputRequestFrom({ format });
}

/**
 * Writes a batch's output to `path` (or stdout). Jobs: JSON, JSONL or CSV through the jobs API;
 * domain and OpenAI batches: their JSONL output (every line, output and errors, in input order).
 */
export async function writeOutput(
  client: Sluice,
  id: string,
  kind: BatchKind,
  path: string | undefined,
  request: OutputRequest,
): Promise<void> {
  const destination = path ?? process.stdout;
  if (kind !== 'job') {
    if (request.explicitFormat && request.format !== 'jsonl') {
      throw new CliError(`--format: ${id} is a ${kind} batch, whose output is JSONL only`, EXIT.usage);
    }
    const response = await client.request({
      method: 'GET',
      path: `${batchPath(id)}/output`,
      headers: { accept: '*/*' },
      stream: true,
    });
    const body = response.body ? Readable.fromWeb(response.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    await writeTo(body, destination);
    return;
  }
  if (request.page) {
    const page = await client.batches.output(id, { format: 'json', ...request.page });
    await writeTo(Readable.from([`${JSON.stringify(page)}\n`]), destination);
    return;
  }
  await guardStdout(destination, () => client.batches.downloadOutput(id, destination, { format: request.format }));
}

async function writeTo(source: Readable, destination: string | Writable): Promise<void> {
  if (typeof destination !== 'string') {
    await guardStdout(destination, () => pipeline(source, destination, { end: false }));
    return;
  }
  try {
    await pipeline(source, createWriteStream(destination));
  } catch (error) {
    await unlink(destination).catch(() => undefined);
    throw error;
  }
}

/** `sluice output ID | head` closes the pipe early: that is the reader's choice, not an error. */
async function guardStdout(destination: string | Writable, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (typeof destination !== 'string' && (error as NodeJS.ErrnoException).code === 'EPIPE') return;
    throw error;
  }
}

export function registerOutput(program: Command) {
  const command = clientCommand(program, 'output')
    .description(
      "Write a batch's or job's output: a running one's holds the items finished so far. Domain and OpenAI batches: JSONL only.",
    )
    .argument('<id>', 'a batch or job id')
    .option('--format <format>', 'jobs: json (an array, or one page with --offset/--limit), jsonl (default) or csv')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--offset <n>', 'json: the page from this item index')
    .option('--limit <n>', 'json: the page size (1-10000)');
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: OutputFlags) => {
      const request = outputRequestFrom(flags);
      const client = await connect(flags);
      const { kind, batch } = await inspectBatch(client, id);
      if (!isTerminal(batch.status)) {
        process.stderr.write(`${id} is ${batch.status}: the output holds the items finished so far\n`);
      }
      await writeOutput(client, id, kind, flags.output, request);
    }),
  );
}
