#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from './cli-errors.js';
import { registerCancel } from './commands/cancel.js';
import { registerCheck } from './commands/check.js';
import { registerKey } from './commands/key.js';
import { registerList } from './commands/list.js';
import { registerOutput } from './commands/output.js';
import { registerRetry } from './commands/retry.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';
import { registerSimulate } from './commands/simulate.js';
import { registerStatus } from './commands/status.js';
import { registerSubmit } from './commands/submit.js';
import { registerWait } from './commands/wait.js';

const program = new Command('sluice')
  .description('Batch LLM work through Kafka: submit items, get one result per item.')
  .showHelpAfterError('(run `sluice --help` for usage)')
  .exitOverride();

registerRun(program);
registerServe(program);
registerSimulate(program);
registerCheck(program);
registerSubmit(program);
registerStatus(program);
registerWait(program);
registerOutput(program);
registerCancel(program);
registerRetry(program);
registerList(program);
registerKey(program);

try {
  await program.parseAsync(process.argv);
  process.exit(EXIT.ok);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; argument errors were already printed by commander.
    process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  if (error instanceof CliError) {
    process.stderr.write(`sluice: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  process.stderr.write(`sluice: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(EXIT.failure);
}
