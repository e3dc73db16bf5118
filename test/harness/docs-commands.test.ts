import { describe, expect, it } from 'vitest';
import { extractShellBlocks, logicalCommands, scriptOf } from './docs-commands.js';

describe('extractShellBlocks', () => {
  const markdown = [
    '# Doc',
    '```sh',
    "pnpm sluice list   # it's here",
    "curl -s localhost:8080/x -d '{",
    '  "a": 1',
    "}'",
    '```',
    '```json',
    '{"not": "shell"}',
    '```',
    '<!-- not-run: needs a machine of its own -->',
    '```bash',
    'rm -rf /',
    '```',
    '```console',
    '$ pnpm sluice status "$ID"',
    '{"id": "batch_1"}',
    '```',
  ].join('\n');

  it('finds sh, bash and console blocks with their line, logical commands and not-run reason', () => {
    expect(extractShellBlocks(markdown, 'doc.md')).toEqual([
      {
        where: 'doc.md:2',
        commands: ["pnpm sluice list   # it's here", 'curl -s localhost:8080/x -d \'{\n  "a": 1\n}\''],
        notRun: undefined,
      },
      { where: 'doc.md:12', commands: ['rm -rf /'], notRun: 'needs a machine of its own' },
      { where: 'doc.md:15', commands: ['pnpm sluice status "$ID"'], notRun: undefined },
    ]);
  });

  it('joins backslash continuations', () => {
    expect(logicalCommands(['A=1 \\', '  pnpm x', 'pnpm y'])).toEqual(['A=1 \\\n  pnpm x', 'pnpm y']);
  });

  it('builds a script that skips what SKIPPED names, leaves not-run blocks out and points :8080 at the server', () => {
    const script = scriptOf(extractShellBlocks(markdown, 'doc.md'), 'http://127.0.0.1:4321');
    expect(script).toContain('curl -s 127.0.0.1:4321/x');
    expect(script).not.toContain('rm -rf /\n');
    expect(script).toContain('not run (needs a machine of its own)');
    const skipped = scriptOf([{ where: 'd:1', commands: ['pnpm infra:up'] }], 'http://h:1');
    expect(skipped).toMatch(/skipped: pnpm infra:up \(the test harness already started/);
    expect(skipped.split('\n')).not.toContain('pnpm infra:up');
  });
});
