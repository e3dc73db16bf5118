import { execFileSync } from 'node:child_process';
import { open, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainLines } from '../harness/fixtures.js';
import { postJsonl, readJsonl, waitForStatus, type BatchView } from '../harness/http.js';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * A disk that fills: the store on a 4 MiB tmpfs (mounting needs root, which CI has). Sluice must
 * answer what it cannot keep with a clear 507, keep nothing half-written, stay up, lose nothing it
 * accepted, and carry on once space is freed.
 */
const root = process.getuid?.() === 0;
let mountPoint = '';
let pipeline: Pipeline;

/** Fills the disk with one hidden file until it refuses (ENOSPC); returns the file's path. */
async function fillDisk(directory: string): Promise<string> {
  const path = join(directory, '.filler');
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) await handle.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
  return path;
}

interface UploadAnswer {
  id?: string;
  error?: { code: string; message: string };
}

function batchFile(index: number): Blob {
  const content = 'x'.repeat(480);
  const lines = Array.from({ length: 1000 }, (_, i) =>
    JSON.stringify({
      custom_id: `file-${index}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
    }),
  );
  return new Blob([lines.join('\n') + '\n']);
}

describe('a store whose disk fills (a 4 MiB tmpfs)', () => {
  beforeAll(async () => {
    // Not a silent skip: a test that cannot run fails and says why (CI runs as root).
    if (!root) throw new Error('this test mounts a 4 MiB tmpfs, which needs root: run the e2e suite as root (CI does)');
    mountPoint = await mkdtemp(join(tmpdir(), 'sluice-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
    pipeline = await startPipeline({
      label: 'diskfull',
      env: { SLUICE_STORAGE_URL: mountPoint, SLUICE_PROCESSOR_CONCURRENCY: '4' },
      simulator: { latency: { medianMs: 60, p99Ms: 120 } },
    });
  });
  afterAll(async () => {
    await pipeline?.stop();
    if (mountPoint) {
      execFileSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  it('answers uploads it cannot keep with 507 naming the full disk, keeps nothing of them, and takes them again once space is freed', async () => {
    const upload = async (index: number) => {
      const form = new FormData();
      form.set('purpose', 'batch');
      form.set('file', batchFile(index), `part-${index}.jsonl`);
      const response = await fetch(`${pipeline.url}/v1/files`, { method: 'POST', body: form });
      return { status: response.status, body: (await response.json()) as UploadAnswer };
    };
    const kept: string[] = [];
    let refused: Awaited<ReturnType<typeof upload>> | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const answer = await upload(i);
      if (answer.status === 200) kept.push(answer.body.id as string);
      else refused = answer;
    }
    expect(kept.length).toBeGreaterThan(0);
    expect(refused?.status, JSON.stringify(refused?.body)).toBe(507);
    expect(refused?.body.error?.code).toBe('insufficient_storage');
    expect(refused?.body.error?.message).toMatch(/storage is full/);
    // Nothing half-written stays behind, and the server still answers.
    expect(await readdir(join(mountPoint, '.tmp'))).toEqual([]);
    expect((await fetch(`${pipeline.url}/healthz`)).status).toBe(200);
    const listed = (await (await fetch(`${pipeline.url}/v1/files`)).json()) as { data: { id: string }[] };
    expect(listed.data.map((file) => file.id).sort()).toEqual([...kept].sort());

    for (const id of kept)
      expect((await fetch(`${pipeline.url}/v1/files/${id}`, { method: 'DELETE' })).status).toBe(200);
    const again = await upload(99);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect((await fetch(`${pipeline.url}/v1/files/${again.body.id as string}`, { method: 'DELETE' })).status).toBe(200);
  });

  it('loses nothing of a running batch while the disk is full, and finishes it once space is freed', async () => {
    const lines = domainLines(200, 'full');
    const { status, body } = await postJsonl(pipeline.url, lines);
    expect(status, JSON.stringify(body)).toBe(200);
    const id = body.id as string;
    await eventually(
      async () => {
        const view = (await (await fetch(`${pipeline.url}/v1/batches/${id}`)).json()) as BatchView;
        return view.request_counts.completed >= 20 ? true : undefined;
      },
      { timeoutMs: 60_000, what: 'the batch under way' },
    );
    const filler = await fillDisk(mountPoint);
    // The sink cannot write its results while the disk is full: it must keep them in Kafka, not
    // crash and not drop them. Give it several flushes' time.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect((await fetch(`${pipeline.url}/healthz`)).status).toBe(200);
    const during = (await (await fetch(`${pipeline.url}/v1/batches/${id}`)).json()) as BatchView;
    expect(during.status).not.toBe('completed');
    await rm(filler);

    const done = await waitForStatus(pipeline.url, id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toMatchObject({ total: 200, completed: 200, failed: 0 });
    const output = await readJsonl<{ custom_id: string }>(`${pipeline.url}/v1/batches/${id}/output`);
    expect(output).toHaveLength(200);
    expect(new Set(output.map((line) => line.custom_id)).size).toBe(200);
  });
});
