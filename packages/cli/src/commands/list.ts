import { BatchStatus } from '@sluice/core';
import type { Command } from 'commander';
import { CliError, EXIT, parseNumber } from '../cli-errors.js';
import { type BatchObject, kindOf, parseBatchObject } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';

interface ListFlags extends ConnectionFlags {
  limit: string;
  after?: string;
  status?: string;
  json?: boolean;
}

/** One row per batch, columns padded to their widest cell. */
export function formatBatchTable(batches: BatchObject[]): string {
  const rows = [
    ['ID', 'KIND', 'STATUS', 'DONE', 'FAILED', 'CREATED'],
    ...batches.map((batch) => {
      const kind = kindOf(batch);
      const { total, completed, failed } = batch.request_counts;
      return [
        batch.id,
        kind === 'openai' ? `openai ${batch.endpoint}` : kind,
        batch.status,
        `${completed + failed}/${total}`,
        String(failed),
        new Date(batch.created_at * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ];
    }),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerList(program: Command) {
  const command = clientCommand(program, 'list')
    .description('List batches and jobs, newest first.')
    .option('--limit <n>', 'how many (1-100)', '20')
    .option('--after <id>', 'start after this batch (the last id of the previous page)')
    .option('--status <status>', `only batches in this status (${BatchStatus.options.join(', ')})`)
    .option('--json', 'one JSON batch object per line instead of a table');
  addConnectionOptions(command).action(
    clientAction(async (flags: ListFlags) => {
      const limit = parseNumber('--limit', flags.limit, { min: 1, max: 100, integer: true });
      const status = flags.status === undefined ? undefined : BatchStatus.safeParse(flags.status);
      if (status && !status.success) {
        throw new CliError(
          `--status: '${flags.status}' is not a status; use one of ${BatchStatus.options.join(', ')}`,
          EXIT.usage,
        );
      }
      const client = await connect(flags);
      const page = await client.requestJSON({
        method: 'GET',
        path: '/v1/batches',
        query: { limit, after: flags.after, status: status?.data },
      });
      const data = (page as { data?: unknown }).data;
      if (!Array.isArray(data)) throw new CliError('GET /v1/batches: unexpected answer: no data array', EXIT.failure);
      if (flags.json) {
        for (const batch of data) process.stdout.write(`${JSON.stringify(batch)}\n`);
        return;
      }
      const batches = data.map((batch, index) => parseBatchObject(batch, `GET /v1/batches: data.${index}`));
      process.stdout.write(`${formatBatchTable(batches)}\n`);
      if ((page as { has_more?: unknown }).has_more === true) {
        const filter = status?.data ? ` --status ${status.data}` : '';
        process.stderr.write(`more: sluice list${filter} --after ${batches[batches.length - 1]?.id ?? ''}\n`);
      }
    }),
  );
}
