import type { Command } from 'commander';
import { inspectBatch, printJson } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';

export function registerStatus(program: Command) {
  const command = clientCommand(program, 'status')
    .description('Print a batch or job as JSON: the job object for a job, else the batch object.')
    .argument('<id>', 'a batch or job id');
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: ConnectionFlags) => {
      const client = await connect(flags);
      const { kind, raw } = await inspectBatch(client, id);
      printJson(kind === 'job' ? await client.batches.retrieve(id) : raw);
    }),
  );
}
