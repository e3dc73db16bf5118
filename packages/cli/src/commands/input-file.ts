import { createReadStream, createWriteStream } from 'node:fs';
import { access, constants, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { DOMAIN_OPERATIONS } from '@sluice/core';
import { CliError, EXIT } from '../cli-errors.js';

/** A file to upload, and what to do once it is uploaded. */
export interface StagedInput {
  path: string;
  /** How to name the input in messages: the file name, or `stdin`. */
  label: string;
  cleanup(): Promise<void>;
}

/**
 * The input as a file on disk: uploads are streamed from a file (`fs.openAsBlob`), so stdin is
 * first copied to a temporary one.
 */
export async function stageInput(file: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<StagedInput> {
  if (file === '-') {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-submit-'));
    const path = join(dir, 'stdin.jsonl');
    await pipeline(stdin, createWriteStream(path));
    return { path, label: 'stdin', cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  try {
    await access(file, constants.R_OK);
    if (!(await stat(file)).isFile()) throw new Error('not a file');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliError(`${file}: cannot read (${reason})`, EXIT.usage);
  }
  return { path: file, label: file, cleanup: async () => undefined };
}

/** The first line that is not blank, or undefined for an empty file. */
export async function firstLine(path: string): Promise<string | undefined> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line.trim() !== '') return line;
    return undefined;
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** What a request file without `--operation` holds, told by its first line. */
export type InputKind = { api: 'domain' } | { api: 'openai'; endpoint: string };

export function detectInputKind(line: string | undefined, label: string): InputKind {
  const hint = 'pass --operation to submit a file of items';
  if (line === undefined) throw new CliError(`${label}: empty: no request to submit`, EXIT.usage);
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    throw new CliError(`${label}: the first line is not JSON; ${hint} (JSONL or CSV)`, EXIT.usage);
  }
  const { method, url, body } = (typeof request === 'object' && request !== null ? request : {}) as Record<
    string,
    unknown
  >;
  // OpenAI lines name their endpoint; domain lines never have `method` or `url`.
  if (typeof method === 'string' && typeof url === 'string') return { api: 'openai', endpoint: url };
  const model = typeof body === 'object' && body !== null ? (body as { model?: unknown }).model : undefined;
  if ((DOMAIN_OPERATIONS as readonly unknown[]).includes(model)) return { api: 'domain' };
  throw new CliError(
    `${label}: the first line is neither a domain request ({"custom_id", "body": {"model": ${DOMAIN_OPERATIONS.join('|')}, ...}}) nor an OpenAI one ({"custom_id", "method", "url", "body"}); ${hint}`,
    EXIT.usage,
  );
}
