import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../cli-errors.js';
import { detectInputKind, firstLine, stageInput } from './input-file.js';

describe('detectInputKind', () => {
  it('tells a domain line by its body.model', () => {
    expect(
      detectInputKind('{"custom_id": "a", "body": {"model": "classify", "text": "t", "labels": ["x", "y"]}}', 'f'),
    ).toEqual({
      api: 'domain',
    });
  });

  it('tells an OpenAI line by its method and url, and takes the url as the endpoint', () => {
    expect(
      detectInputKind(
        '{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "text-embedding-3-small"}}',
        'f',
      ),
    ).toEqual({ api: 'openai', endpoint: '/v1/embeddings' });
  });

  it.each([
    [undefined, 'in.jsonl: empty: no request to submit'],
    ['content,id', 'in.jsonl: the first line is not JSON; pass --operation to submit a file of items (JSONL or CSV)'],
    ['{"content": "an item"}', 'in.jsonl: the first line is neither a domain request'],
    ['{"custom_id": "a", "body": {"model": "translate"}}', 'in.jsonl: the first line is neither a domain request'],
  ])('refuses %s as a usage error', (line, message) => {
    let error: unknown;
    try {
      detectInputKind(line, 'in.jsonl');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    expect((error as CliError).message.startsWith(message)).toBe(true);
  });
});

describe('input files', () => {
  it('finds the first line that is not blank', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
    await writeFile(join(dir, 'a.jsonl'), '\n  \r\n{"a": 1}\r\n{"b": 2}\n');
    await writeFile(join(dir, 'empty.jsonl'), '\n\n');
    expect(await firstLine(join(dir, 'a.jsonl'))).toBe('{"a": 1}');
    expect(await firstLine(join(dir, 'empty.jsonl'))).toBeUndefined();
  });

  it('copies stdin to a temporary .jsonl file, removed by cleanup', async () => {
    const staged = await stageInput('-', Readable.from(['{"content": "a"}\n', '{"content": "b"}\n']));
    expect(staged.label).toBe('stdin');
    expect(staged.path.endsWith('.jsonl')).toBe(true);
    expect(await readFile(staged.path, 'utf8')).toBe('{"content": "a"}\n{"content": "b"}\n');
    await staged.cleanup();
    await expect(readFile(staged.path)).rejects.toThrow();
  });

  it('refuses a missing file or a directory as a usage error', async () => {
    await expect(stageInput('/nonexistent/items.jsonl')).rejects.toMatchObject({
      message: '/nonexistent/items.jsonl: cannot read (ENOENT)',
      exitCode: EXIT.usage,
    });
    await expect(stageInput(tmpdir())).rejects.toMatchObject({ exitCode: EXIT.usage });
  });
});
