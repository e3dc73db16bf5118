import { text } from 'node:stream/consumers';
import { hashApiKey } from '@sluice/core';
import type { Command } from 'commander';
import { CliError, EXIT } from '../cli-errors.js';

/**
 * `sluice key hash`: prints `sha256:<hex>` of the key on stdin, the form SLUICE_API_KEYS_FILE may
 * hold instead of the key. The key is read from stdin, not an argument, so that it stays out of the
 * shell history and the process list.
 */
export function registerKey(program: Command) {
  const key = program.command('key').description('API key helpers.');
  key
    .command('hash')
    .description('Print sha256:<hex> of the API key on stdin (one line), for SLUICE_API_KEYS_FILE.')
    .action(async () => {
      // One trailing line break is the terminator `echo` or a file adds, not part of the key.
      const presented = (await text(process.stdin)).replace(/\r?\n$/, '');
      if (presented === '' || /[\r\n]/.test(presented)) {
        throw new CliError('key hash: expected one API key on stdin', EXIT.usage);
      }
      process.stdout.write(`${hashApiKey(presented)}\n`);
    });
}
