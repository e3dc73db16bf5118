import { isTerminal } from '@sluice/core';
import type { Command } from 'commander';
import { batchPath, inspectBatch, printJson } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';

export function registerCancel(program: Command) {
  const command = clientCommand(program, 'cancel')
    .description(
      'Cancel a batch or job: items not started are not sent; finished ones stay in the output. Prints the object.',
    )
    .argument('<id>', 'a batch or job id');
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: ConnectionFlags) => {
      const client = await connect(flags);
      const { kind, batch } = await inspectBatch(client, id);
      // Cancelling is asking for a batch that no longer runs: one that already ended is left as it
      // is and printed, not an error (the server's 409), so `wait ID; cancel ID` in a script is safe.
      if (isTerminal(batch.status)) {
        process.stderr.write(`${id} is already ${batch.status}: nothing to cancel\n`);
        printJson(batch);
        return;
      }
      printJson(
        kind === 'job'
          ? await client.batches.cancel(id)
          : await client.requestJSON({ method: 'POST', path: `${batchPath(id)}/cancel` }),
      );
    }),
  );
}
