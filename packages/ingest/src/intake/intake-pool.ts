import { Worker } from 'node:worker_threads';
import { type RawLine, splitLines, type ValidationIssue } from '@sluice/core';
import {
  type CheckedChunk,
  type ChunkRequest,
  type ChunkValidatorName,
  LINE_FIELDS,
  LINE_KIND,
} from './chunk-check.js';
import {
  bodyTooLarge,
  type IntakeDestination,
  type IntakeOptions,
  type IntakeResult,
  IntakeRun,
  type StoredItem,
} from './jsonl-intake.js';
import { blankLineIssue } from './jsonl-lines.js';

/**
 * Worker threads that check chunks of JSONL lines (chunk-check.ts) while the request's thread
 * reads the body, keeps the intake's order-dependent state and writes the stored input: a big
 * submit is CPU-bound, and this puts its parsing and validation on the other cores
 * (SLUICE_INGEST_WORKERS, docs/configuration.md). Chunks go to the workers in turn; the intake
 * takes their answers back in the order it sent them.
 *
 * A few dozen lines of node:worker_threads rather than a pool library (piscina, workerpool): the
 * intake needs its answers in order and its own bound on chunks in flight, which a pool's task
 * queue does not give, and nothing else here would use one.
 */
export class IntakePool {
  private readonly workers: (IntakeWorker | null)[];
  private next = 0;

  /**
   * @param size workers (started on first use)
   * @param workerUrl the worker's module; the built `intake-worker.js` beside this one by default
   * @param oldGenerationMb each worker's heap cap (MB); default 96, room for a few 4 MB lines parsed
   */
  constructor(
    readonly size: number,
    private readonly workerUrl: URL = new URL('./intake-worker.js', import.meta.url),
    private readonly oldGenerationMb = 96,
  ) {
    if (!(size >= 1)) throw new Error(`an intake pool needs at least one worker (got ${size})`);
    this.workers = Array.from({ length: size }, () => null);
  }

  check(request: ChunkRequest): Promise<CheckedChunk> {
    const slot = this.next;
    this.next = (this.next + 1) % this.size;
    let worker = this.workers[slot];
    if (!worker || worker.dead) this.workers[slot] = worker = new IntakeWorker(this.workerUrl, this.oldGenerationMb);
    return worker.check(request);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker?.terminate() ?? Promise.resolve()));
  }
}

/** One worker thread and the chunks it was sent; a worker that fails fails them all and is replaced. */
class IntakeWorker {
  dead = false;
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (checked: CheckedChunk) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor(url: URL, oldGenerationMb: number) {
    // A worker's live data is a chunk or two of lines (up to SLUICE_MAX_LINE_BYTES each, parsed),
    // but V8 sizes its heap by the process's (NODE_OPTIONS) and lets garbage grow towards it. Caps
    // of its own keep it near what it holds: with V8's default young generation a worker added
    // 60 MB to ingest's peak RSS in a 300,000-line intake, with 8 MB about 27 MB.
    this.worker = new Worker(url, {
      resourceLimits: { maxOldGenerationSizeMb: oldGenerationMb, maxYoungGenerationSizeMb: 8 },
    });
    // An idle worker does not keep the process alive; one with chunks to answer does.
    this.worker.unref();
    this.worker.on('message', (message: { id: number; checked?: CheckedChunk; error?: string }) => {
      const task = this.pending.get(message.id);
      if (!task) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0) this.worker.unref();
      if (message.checked) task.resolve(message.checked);
      else task.reject(new Error(`intake worker: ${message.error}`));
    });
    const fail = (error: Error) => {
      this.dead = true;
      for (const task of this.pending.values()) task.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`intake worker exited (code ${code})`)));
  }

  check(request: ChunkRequest): Promise<CheckedChunk> {
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, request }, [request.bytes.buffer as ArrayBuffer]);
    });
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

/** What of a domain batch is checked off the request's thread, and what after, in order. */
export interface OffThreadCheck {
  /** The validator the workers run on each record (one without state across lines). */
  validator: ChunkValidatorName;
  /** Then, in the request's thread and in input order, a valid item's checks against the ones before it: its problems, or null. */
  after?: (item: Pick<StoredItem, 'discriminator'>, line: number) => ValidationIssue[] | null;
}

const CHUNK_LINES = 1024;
const CHUNK_BYTES = 256 * 1024;

/** A chunk sent to the pool, with what the intake needs to take its answer back; or where the input ended early. */
type Sent = { lines: Float64Array; checked: Promise<CheckedChunk> } | { end: unknown };

/**
 * `intakeJsonl` with the lines checked by `pool`: the same problems, in the same order, the same
 * stored items and the same result. The body is read at most 2 chunks per worker ahead of what
 * the intake has taken back (and nothing past the point where it stops taking records).
 */
export async function intakeJsonlOffThread(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  destination: IntakeDestination,
  check: OffThreadCheck,
  options: IntakeOptions,
  pool: IntakePool,
): Promise<IntakeResult> {
  const { limits } = options;
  const lineLimits = { maxLineBytes: limits.maxLineBytes, maxDepth: limits.maxDepth };
  const run = new IntakeRun(destination, options);
  const inFlight: Sent[] = [];
  const maxInFlight = Math.max(2, 2 * pool.size);
  let chunk = new ChunkBuilder();
  let pendingBlank: number[] = [];

  const send = () => {
    const { request, lines } = chunk.request(check.validator, lineLimits);
    const checked = pool.check(request);
    checked.catch(() => undefined); // taken (and its failure thrown) in order, or dropped once the intake stops
    inFlight.push({ lines, checked });
    chunk = new ChunkBuilder();
  };

  /** One record, as `intake` takes it; false once the intake takes no more. */
  const undecodable = (issue: ValidationIssue): boolean => {
    if (!run.admits(issue.line as number)) return false;
    run.undecodable(issue);
    return true;
  };

  /** Takes one chunk's answer back, in order; false once the intake takes no more records. */
  const take = async (sent: Sent): Promise<boolean> => {
    if ('end' in sent) throw sent.end;
    const checked = await sent.checked;
    const { kinds, fingerprints, discriminators, stored, storedEnds } = checked;
    const first = new Map(checked.first);
    const problems = new Map(checked.problems);
    let items = 0;
    let written = 0;
    const taking = ((): boolean => {
      for (let i = 0; i < kinds.length; i++) {
        const line = sent.lines[i] as number;
        for (const issue of first.get(i) ?? []) if (!undecodable(issue)) return false;
        const kind = kinds[i];
        if (kind === LINE_KIND.none) continue;
        if (kind === LINE_KIND.blank) {
          pendingBlank.push(line);
          continue;
        }
        for (const blank of pendingBlank) if (!undecodable(blankLineIssue(blank))) return false;
        pendingBlank = [];
        if (!run.admits(line)) return false;
        if (kind === LINE_KIND.undecodable) {
          run.undecodable((problems.get(i) as ValidationIssue[])[0] as ValidationIssue);
          continue;
        }
        const index = run.items++;
        if (kind === LINE_KIND.refused) {
          run.refuse(problems.get(i) as ValidationIssue[]);
          continue;
        }
        const item = items++;
        const refused = check.after?.({ discriminator: discriminators[item] as string }, line) ?? null;
        if (refused) {
          run.refuse(refused);
          continue;
        }
        run.remember(fingerprints[item] as number, index, line, () => {
          const start = item === 0 ? 0 : (storedEnds[item - 1] as number);
          const json = Buffer.from(stored.buffer, stored.byteOffset + start, (storedEnds[item] as number) - start);
          return (JSON.parse(json.toString('utf8')) as StoredItem).custom_id;
        });
        // Items are written up to the first problem: the chunk's written ones are its first few.
        if (run.writing) written = item + 1;
      }
      return true;
    })();
    if (written > 0) {
      const bytes = Buffer.from(stored.buffer, stored.byteOffset, storedEnds[written - 1] as number);
      await run.out.writeStored(bytes);
    }
    return taking;
  };

  try {
    /** Whether the intake still takes records: once it stops, nothing more is read, sent or taken. */
    let taking = true;
    // Reading stops early where the plain intake would throw: the body over its limit, or failing.
    // That is thrown once the chunks before it are taken, unless the intake stopped first.
    let end: { error: unknown } | null = null;
    const lines = splitLines(source, { maxLineBytes: limits.maxLineBytes });
    try {
      while (taking) {
        let next: IteratorResult<RawLine>;
        try {
          next = await lines.next();
        } catch (error) {
          end = { error };
          break;
        }
        if (next.done) break;
        const raw = next.value;
        if (raw.offset + raw.length > limits.maxBytes) {
          end = { error: bodyTooLarge(limits) };
          break;
        }
        chunk.add(raw);
        if (!chunk.full) continue;
        send();
        while (taking && inFlight.length >= maxInFlight) taking = await take(inFlight.shift() as Sent);
      }
    } finally {
      // As a for-await loop left early would: the body is not read further.
      await lines.return(undefined);
    }
    if (taking && chunk.lines > 0) send();
    if (end) inFlight.push({ end: end.error });
    while (taking && inFlight.length > 0) taking = await take(inFlight.shift() as Sent);
  } catch (error) {
    await run.abort();
    throw error;
  }
  return run.finish();
}

/** The lines of the next chunk, copied one after another into one transferable buffer. */
class ChunkBuilder {
  private bytes = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private used = 0;
  private readonly layout = new Float64Array(CHUNK_LINES * LINE_FIELDS);
  lines = 0;

  get full(): boolean {
    return this.lines >= CHUNK_LINES || this.used >= CHUNK_BYTES;
  }

  add(raw: RawLine): void {
    const length = raw.bytes.length;
    if (this.used + length > this.bytes.length) {
      // A long line: a buffer of its own size (its own, not Buffer's shared pool, to be transferred).
      const bigger = Buffer.allocUnsafeSlow(this.used + length);
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
    raw.bytes.copy(this.bytes, this.used);
    this.used += length;
    const at = this.lines * LINE_FIELDS;
    this.layout[at] = raw.number;
    this.layout[at + 1] = this.used;
    this.layout[at + 2] = raw.length;
    this.layout[at + 3] = raw.tooLong ? 1 : 0;
    this.lines++;
  }

  /** The request to a worker, and each line's number (kept here: the request's bytes are transferred). */
  request(
    validator: ChunkValidatorName,
    limits: ChunkRequest['limits'],
  ): { request: ChunkRequest; lines: Float64Array } {
    const layout = this.layout.slice(0, this.lines * LINE_FIELDS);
    const lines = new Float64Array(this.lines);
    for (let i = 0; i < this.lines; i++) lines[i] = layout[i * LINE_FIELDS] as number;
    const bytes = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.used);
    return { request: { validator, limits, bytes, layout, lines: this.lines }, lines };
  }
}
