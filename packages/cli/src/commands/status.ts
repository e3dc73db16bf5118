import type { Command } from 'commander';
import { inspectBatch, printJson, stateOfBatch, stateOfJob } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';
import { formatProgressLine } from './progress.js';

export function registerStatus(program: Command) {
  const command = clientCommand(program, 'status')
    .description(
      'Print a batch or job as JSON (the job object for a job, else the batch object), and a summary line on stderr: counts, pace, cost and savings.',
    )
    .argument('<id>', 'a batch or job id');
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: ConnectionFlags) => {
      const client = await connect(flags);
      const { kind, raw } = await inspectBatch(client, id);
      const state = kind === 'job' ? stateOfJob(await client.batches.retrieve(id)) : stateOfBatch(raw, id);
      printJson(state.json);
      // For the reader; stdout stays the JSON alone, for scripts.
      process.stderr.write(`${formatProgressLine(state)}\n`);
    }),
  );
}
