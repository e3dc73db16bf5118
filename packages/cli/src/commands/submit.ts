import { openAsBlob } from 'node:fs';
import { basename, extname } from 'node:path';
import {
  DedupQuery,
  type DedupSetting,
  DryRun,
  FileObject,
  JOB_OPERATIONS,
  JOB_TIERS,
  type JobTier,
} from '@sluice/core';
import { newIdempotencyKey, type Sluice, type UploadJobParams } from '@sluice/sdk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../cli-errors.js';
import { type BatchState, requireCompleted, stateOfBatch, stateOfJob } from './batch-target.js';
import { addConnectionOptions, clientAction, clientCommand, connect, type ConnectionFlags } from './connection.js';
import { detectInputKind, firstLine, type InputKind, stageInput, type StagedInput } from './input-file.js';
import { type OperationFlags, operationFlagsGiven, operationParamsFrom } from './operation-params.js';
import { fileOutputRequest, writeOutput } from './output.js';
import { formatDuration } from './progress.js';
import { addWaitOptions, type WaitFlags, waitSettingsFrom, waitUntilFinal } from './wait.js';

interface SubmitFlags extends OperationFlags, WaitFlags, ConnectionFlags {
  wait?: boolean;
  output?: string;
  format?: string;
  dryRun?: boolean;
  json?: boolean;
  dedup?: string;
  tier?: string;
}

/** The server answers an upload once it has read and checked the whole file: allow it time. */
const UPLOAD_TIMEOUT_MS = 60 * 60_000;
const ITEM_FILE_EXTENSIONS = ['.jsonl', '.ndjson', '.csv'];

const usage = (message: string) => new CliError(message, EXIT.usage);

/** Flag combinations that make no sense, refused before anything is read or sent. */
export function checkSubmitFlags(flags: SubmitFlags): void {
  if (flags.operation === undefined) {
    const stray = operationFlagsGiven(flags)[0];
    if (stray) throw usage(`${stray}: only with --operation (a file of items)`);
  }
  tierFrom(flags.tier);
  if (flags.json && !flags.dryRun) throw usage('--json: only with --dry-run');
  if (flags.dryRun && flags.wait) throw usage('--dry-run: nothing is submitted, so there is nothing to --wait for');
  if (!flags.wait) {
    if (flags.output !== undefined) throw usage('--output: only with --wait');
    if (flags.timeout !== undefined) throw usage('--timeout: only with --wait');
  }
  if (flags.format !== undefined && flags.output === undefined) throw usage('--format: only with --output');
  if (flags.output !== undefined) fileOutputRequest(flags.output, flags.format);
}

/** `--dedup true|false|all`, checked as the server checks `?dedup=` (docs/deduplication.md). */
export function dedupFrom(flag: string | undefined): Exclude<DedupSetting, null> | undefined {
  if (flag === undefined) return undefined;
  const parsed = DedupQuery.safeParse({ dedup: flag });
  if (!parsed.success) throw usage(`--dedup: expected true, false or all; got ${JSON.stringify(flag)}`);
  return parsed.data.dedup;
}

/** `--tier auto|realtime|flex|batch`, checked as the server checks `tier` (docs/upstreams.md, Tiers). */
export function tierFrom(flag: string | undefined): JobTier | undefined {
  if (flag === undefined) return undefined;
  if (!(JOB_TIERS as readonly string[]).includes(flag))
    throw usage(`--tier: expected ${JOB_TIERS.join(', ')}; got ${JSON.stringify(flag)}`);
  return flag as JobTier;
}

/** What a submit asks of every item besides its own content: `--dedup` and `--tier`. */
interface BatchSettings {
  dedup: Exclude<DedupSetting, null> | undefined;
  tier: JobTier | undefined;
}

/** A file of items with `--operation`: one multipart upload to `/v1/jobs/upload`. */
async function submitItems(client: Sluice, input: StagedInput, params: UploadJobParams): Promise<BatchState> {
  if (!ITEM_FILE_EXTENSIONS.includes(extname(input.path).toLowerCase())) {
    throw usage(`${input.label}: expected a file of items ending in ${ITEM_FILE_EXTENSIONS.join(', ')}`);
  }
  const job = await client.batches.uploadFile(input.path, params, { timeoutMs: UPLOAD_TIMEOUT_MS });
  process.stderr.write(
    `submitted job ${job.id}: ${job.operation}, ${job.total_items} items from ${input.label} (${job.status})\n`,
  );
  return stateOfJob(job);
}

/** A domain batch: the JSONL file, streamed as the body of `POST /v1/batches`. */
async function submitDomain(client: Sluice, input: StagedInput, { dedup, tier }: BatchSettings): Promise<BatchState> {
  const query = new URLSearchParams();
  if (dedup !== undefined) query.set('dedup', String(dedup));
  if (tier !== undefined) query.set('tier', tier);
  const raw = await client.requestJSON({
    method: 'POST',
    path: query.size === 0 ? '/v1/batches' : `/v1/batches?${query.toString()}`,
    body: await openAsBlob(input.path, { type: 'application/jsonl' }),
    headers: { 'content-type': 'application/jsonl' },
    timeoutMs: UPLOAD_TIMEOUT_MS,
    maxRetries: 0,
    // Raw creates carry a key as the SDK's own creates do: a repeated one is answered, not done twice.
    idempotencyKey: newIdempotencyKey(),
  });
  const state = stateOfBatch(raw, 'POST /v1/batches');
  process.stderr.write(
    `submitted domain batch ${state.id}: ${state.total} requests from ${input.label} (${state.status})\n`,
  );
  return state;
}

/** An OpenAI batch: upload the file (`purpose=batch`), then create the batch for the lines' endpoint. */
async function submitOpenAI(
  client: Sluice,
  input: StagedInput,
  endpoint: string,
  { dedup, tier }: BatchSettings,
): Promise<BatchState> {
  const file = await uploadBatchFile(client, input);
  const raw = await client.requestJSON({
    method: 'POST',
    path: '/v1/batches',
    json: {
      input_file_id: file.id,
      endpoint,
      completion_window: '24h',
      ...(dedup === undefined ? {} : { dedup }),
      ...(tier === undefined ? {} : { tier }),
    },
    // The same key on the SDK's retries of this create: a lost answer cannot make a second batch.
    idempotencyKey: newIdempotencyKey(),
  });
  const state = stateOfBatch(raw, 'POST /v1/batches');
  process.stderr.write(
    `uploaded ${input.label} as ${file.id}; submitted OpenAI batch ${state.id} for ${endpoint} (${state.status})\n`,
  );
  return state;
}

/** Uploads an OpenAI batch input file (`purpose=batch`). */
async function uploadBatchFile(client: Sluice, input: StagedInput): Promise<FileObject> {
  const form = new FormData();
  form.append('purpose', 'batch');
  // The Files API takes .jsonl (or .ndjson) names only.
  const name = basename(input.path);
  const filename = ['.jsonl', '.ndjson'].includes(extname(name).toLowerCase()) ? name : `${name}.jsonl`;
  form.append('file', await openAsBlob(input.path, { type: 'application/jsonl' }), filename);
  const fileAnswer = await client.requestJSON({
    method: 'POST',
    path: '/v1/files',
    body: form,
    timeoutMs: UPLOAD_TIMEOUT_MS,
    maxRetries: 0,
    idempotencyKey: newIdempotencyKey(),
  });
  const file = FileObject.safeParse(fileAnswer);
  if (!file.success) throw new CliError(`POST /v1/files: unexpected answer: ${JSON.stringify(fileAnswer)}`);
  return file.data;
}

/** Submits a staged input: items as a job with `params`, else a domain or OpenAI batch by its first line. */
export async function submitInput(
  client: Sluice,
  input: StagedInput,
  params: UploadJobParams | null,
  flags: Pick<SubmitFlags, 'output' | 'format' | 'dedup' | 'tier'>,
): Promise<BatchState> {
  const settings: BatchSettings = { dedup: dedupFrom(flags.dedup), tier: tierFrom(flags.tier) };
  if (params) {
    const { dedup, tier } = settings;
    return submitItems(client, input, {
      ...params,
      ...(dedup === undefined ? {} : { dedup }),
      ...(tier === undefined ? {} : { tier }),
    });
  }
  const kind: InputKind = detectInputKind(await firstLine(input.path), input.label);
  if (flags.output !== undefined && fileOutputRequest(flags.output, flags.format).format !== 'jsonl') {
    throw usage(
      flags.format === undefined
        ? `--output: a ${kind.api} batch's output is JSONL; name the file .jsonl`
        : `--format: a ${kind.api} batch's output is JSONL only`,
    );
  }
  return kind.api === 'domain'
    ? submitDomain(client, input, settings)
    : submitOpenAI(client, input, kind.endpoint, settings);
}

/**
 * `--dry-run`: the same requests a submit makes, with `?dry_run=true`; the server validates them
 * the same way and answers an estimate. An OpenAI batch's file must be uploaded to be checked: it
 * is deleted again, so nothing is left behind.
 */
export async function dryRunInput(client: Sluice, input: StagedInput, params: UploadJobParams | null): Promise<DryRun> {
  if (params) {
    if (!ITEM_FILE_EXTENSIONS.includes(extname(input.path).toLowerCase())) {
      throw usage(`${input.label}: expected a file of items ending in ${ITEM_FILE_EXTENSIONS.join(', ')}`);
    }
    return client.batches.uploadFile(input.path, params, { timeoutMs: UPLOAD_TIMEOUT_MS, dryRun: true });
  }
  const kind: InputKind = detectInputKind(await firstLine(input.path), input.label);
  if (kind.api === 'domain') {
    return parseDryRun(
      await client.requestJSON({
        method: 'POST',
        path: '/v1/batches',
        query: { dry_run: true },
        body: await openAsBlob(input.path, { type: 'application/jsonl' }),
        headers: { 'content-type': 'application/jsonl' },
        timeoutMs: UPLOAD_TIMEOUT_MS,
        maxRetries: 0,
      }),
    );
  }
  const file = await uploadBatchFile(client, input);
  try {
    return parseDryRun(
      await client.requestJSON({
        method: 'POST',
        path: '/v1/batches',
        query: { dry_run: true },
        json: { input_file_id: file.id, endpoint: kind.endpoint, completion_window: '24h' },
        timeoutMs: UPLOAD_TIMEOUT_MS,
      }),
    );
  } finally {
    await client
      .requestJSON({ method: 'DELETE', path: `/v1/files/${encodeURIComponent(file.id)}` })
      .catch(() => undefined);
  }
}

function parseDryRun(raw: unknown): DryRun {
  const parsed = DryRun.safeParse(raw);
  if (!parsed.success) throw new CliError(`dry run: unexpected answer: ${JSON.stringify(raw)}`);
  return parsed.data;
}

/** A dry run for people: what the batch holds and what it would cost, on stdout. */
export function printDryRun(estimate: DryRun, asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${JSON.stringify(estimate, null, 2)}\n`);
    return;
  }
  const number = (n: number) => n.toLocaleString('en-US');
  const cost =
    estimate.estimated_cost_usd === null
      ? `unknown (no price for ${estimate.model ?? 'the model'}; see SLUICE_PRICES_FILE)`
      : `$${estimate.estimated_cost_usd.toFixed(4)} at most`;
  process.stdout.write(
    [
      `valid: ${number(estimate.items)} items for ${estimate.model ?? 'the default model'} (nothing was submitted)`,
      `input tokens: ${number(estimate.input_tokens)} (${estimate.input_tokens_method})`,
      `output tokens: at most ${number(estimate.max_output_tokens)}`,
      `cost: ${cost}`,
      `time: about ${formatDuration(estimate.estimated_seconds)} at the configured limits`,
      '',
    ].join('\n'),
  );
}

/** How FILE is read: `--operation` and its parameters for a file of items. Shared by `submit` and `run`. */
export function addInputOptions(command: Command): Command {
  return command
    .option('--operation <name>', `submit FILE's items as a job: ${JOB_OPERATIONS.join(' | ')}`)
    .option('--categories <a,b,c>', 'classify: the categories, comma-separated')
    .option('--multi-label', 'classify: also return every category that applies')
    .option('--system-prompt <text>', 'classify, run: the system prompt')
    .option('--extraction-instructions <text>', 'extract: what to extract')
    .option('--fields-json <json>', 'extract, enrich: the fields, as a JSON array')
    .option('--summary-instructions <text>', 'summarize: how to summarize')
    .option('--max-words <n>', 'summarize: at most this many words')
    .option('--include-context', 'enrich: also return the evidence behind each field')
    .option('--user-prompt-template <text>', 'run: the prompt; {content} and {any_item_field} are filled in')
    .option('--response-format <type>', 'run: text | json_object')
    .option('--name <name>', 'a free name for the job')
    .option('--model <model>', "the upstream model (default: the server's)")
    .option('--params-json <json>', 'any other parameters, as a JSON object (the flags above win)')
    .option(
      '--dedup <mode>',
      'identical requests sent upstream once: true (the default for items and domain batches), false, or all (sampling requests too; OpenAI batches default to false)',
    )
    .option(
      '--tier <tier>',
      'how items are sent: auto (the default: flex when an upstream offers it and the window leaves room), realtime, flex, or batch (not available yet)',
    );
}

export function registerSubmit(program: Command) {
  const command = clientCommand(program, 'submit')
    .description(
      'Submit a batch and print its id. With --operation, FILE holds items (a job); without, domain or OpenAI requests (told by the first line).',
    )
    .argument('<file>', 'a .jsonl or .csv file, or - for JSONL on stdin');
  addInputOptions(command)
    .option('--wait', 'wait until the batch is final, showing progress on stderr (exit 1 unless it completes)')
    .option(
      '-o, --output <file>',
      'with --wait: download the output into this file (jobs: .json, .csv or JSONL by the name; batches: JSONL)',
    )
    .option('--format <format>', 'with --output: json | jsonl | csv, overriding the file name (jobs only)')
    .option(
      '--dry-run',
      'validate FILE exactly as a submit would and print an estimate (items, tokens, cost, time); submit nothing',
    )
    .option('--json', 'with --dry-run: print the estimate as JSON');
  addWaitOptions(command);
  addConnectionOptions(command).action(
    clientAction(async (file: string, flags: SubmitFlags) => {
      checkSubmitFlags(flags);
      const settings = flags.wait ? waitSettingsFrom(flags) : null;
      const params = flags.operation === undefined ? null : operationParamsFrom(flags);
      const client = await connect(flags);
      const input = await stageInput(file);
      if (flags.dryRun) {
        try {
          printDryRun(await dryRunInput(client, input, params), flags.json === true);
        } finally {
          await input.cleanup();
        }
        return;
      }
      let submitted: BatchState;
      try {
        submitted = await submitInput(client, input, params, flags);
      } finally {
        await input.cleanup();
      }
      process.stdout.write(`${submitted.id}\n`);
      if (!settings) return;
      const final = await waitUntilFinal(client, submitted.id, submitted.kind, settings);
      // A failed batch (bad input) has no output; a cancelled or expired one keeps its finished items.
      if (flags.output !== undefined && final.status !== 'failed') {
        await writeOutput(client, final.id, final.kind, flags.output, fileOutputRequest(flags.output, flags.format));
        process.stderr.write(`wrote the output of ${final.id} to ${flags.output}\n`);
      }
      requireCompleted(final);
    }),
  );
}
