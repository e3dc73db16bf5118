import type { Sluice } from '@sluice/sdk';
import type { Command } from 'commander';
import { batchPath, inspectBatch, printJson } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';

/**
 * `POST /v1/jobs/{id}/cancel` for a job, `POST /v1/batches/{id}/cancel` for a batch: the batch as
 * it now is. One that already ended is the server's 409 (`ConflictError`), as over HTTP and in the
 * SDKs: the CLI exits 1 with the server's message rather than reporting a cancel that did not happen.
 */
export async function cancel(client: Sluice, id: string): Promise<unknown> {
  const { kind } = await inspectBatch(client, id);
  if (kind === 'job') return client.batches.cancel(id);
  return client.requestJSON({ method: 'POST', path: `${batchPath(id)}/cancel` });
}

export function registerCancel(program: Command) {
  const command = clientCommand(program, 'cancel')
    .description(
      "Cancel a running batch or job: items not started are not sent; finished ones stay in the output. Prints the object. One already final: exit 1 with the server's 409.",
    )
    .argument('<id>', 'a batch or job id');
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: ConnectionFlags) => {
      printJson(await cancel(await connect(flags), id));
    }),
  );
}
