import { pollUntilTerminal, type Sluice, WaitTimeoutError } from '@sluice/sdk';
import type { Command } from 'commander';
import { CliError, EXIT, parseNumber } from '../cli-errors.js';
import {
  type BatchKind,
  type BatchState,
  inspectBatch,
  printJson,
  readState,
  requireCompleted,
} from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';
import { progressReporter } from './progress.js';

export interface WaitFlags {
  timeout?: string;
  pollInterval: string;
}

export interface WaitSettings {
  timeoutMs: number;
  pollIntervalMs: number;
}

export function addWaitOptions(command: Command): Command {
  return command
    .option('--timeout <seconds>', 'give up after this long (exit 3); default: wait until the batch is final')
    .option('--poll-interval <seconds>', 'seconds between two status reads', '1');
}

export function waitSettingsFrom(flags: WaitFlags): WaitSettings {
  return {
    timeoutMs: flags.timeout === undefined ? Infinity : parseNumber('--timeout', flags.timeout, { min: 0.001 }) * 1000,
    pollIntervalMs: parseNumber('--poll-interval', flags.pollInterval, { min: 0.01, max: 3600 }) * 1000,
  };
}

/** Polls until the batch is final, showing progress on stderr; a timeout exits 3. */
export async function waitUntilFinal(
  client: Sluice,
  id: string,
  kind: BatchKind,
  settings: WaitSettings,
): Promise<BatchState> {
  const reporter = progressReporter();
  try {
    return await pollUntilTerminal(() => readState(client, id, kind), {
      ...settings,
      onProgress: (state) => reporter.update(state),
    });
  } catch (error) {
    if (error instanceof WaitTimeoutError) {
      const last = error.last as BatchState;
      throw new CliError(
        `${id}: still ${last.status} after ${settings.timeoutMs / 1000}s (${last.completed + last.failed}/${last.total} done)`,
        EXIT.timeout,
      );
    }
    throw error;
  } finally {
    reporter.stop();
  }
}

export function registerWait(program: Command) {
  const command = clientCommand(program, 'wait')
    .description(
      'Wait until a batch or job is final; print it. Exit 0 when completed, 1 when failed, expired or cancelled, 3 on --timeout.',
    )
    .argument('<id>', 'a batch or job id');
  addWaitOptions(command);
  addConnectionOptions(command).action(
    clientAction(async (id: string, flags: WaitFlags & ConnectionFlags) => {
      const settings = waitSettingsFrom(flags);
      const client = await connect(flags);
      const { kind } = await inspectBatch(client, id);
      const final = await waitUntilFinal(client, id, kind, settings);
      printJson(final.json);
      requireCompleted(final);
    }),
  );
}
