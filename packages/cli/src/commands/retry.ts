import { newIdempotencyKey, type Sluice } from '@sluice/sdk';
import type { Command } from 'commander';
import {
  type BatchState,
  batchPath,
  inspectBatch,
  requireCompleted,
  stateOfBatch,
  stateOfJob,
} from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';
import { addWaitOptions, type WaitFlags, waitSettingsFrom, waitUntilFinal } from './wait.js';

interface RetryFlags extends WaitFlags, ConnectionFlags {
  wait?: boolean;
}

/** `POST /v1/jobs/{id}/retry` for a job, `POST /v1/batches/{id}/retry` for a batch. */
export async function retry(client: Sluice, id: string): Promise<BatchState> {
  const { kind } = await inspectBatch(client, id);
  if (kind === 'job') return stateOfJob(await client.batches.retry(id));
  const path = `${batchPath(id)}/retry`;
  return stateOfBatch(
    await client.requestJSON({ method: 'POST', path, idempotencyKey: newIdempotencyKey() }),
    `POST ${path}`,
  );
}

export function registerRetry(program: Command) {
  const command = clientCommand(program, 'retry')
    .description(
      'Submit again exactly the items of a finished batch or job that failed, expired or were cancelled (same parameters, model and window); print the new id.',
    )
    .argument('<id>', 'a finished batch or job id')
    .option('--wait', 'wait until the new batch is final, showing progress on stderr (exit 1 unless it completes)');
  addWaitOptions(command);
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: RetryFlags) => {
      const settings = flags.wait ? waitSettingsFrom(flags) : null;
      const client = await connect(flags);
      const created = await retry(client, id);
      process.stderr.write(`retrying ${created.total} items of ${id} as ${created.id} (${created.status})\n`);
      process.stdout.write(`${created.id}\n`);
      if (!settings) return;
      requireCompleted(await waitUntilFinal(client, created.id, created.kind, settings));
    }),
  );
}
