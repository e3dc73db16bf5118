import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Issue 11: malformed multipart uploads were never answered and each leaked a descriptor and a
 * `.partial` temporary file, so a few hundred of them exhausted the process's descriptors. Every
 * malformed body must get a prompt 4xx in the OpenAI error shape, and every descriptor and temporary
 * file must be released on every path (error, client abort, timeout). Sluice runs in this process,
 * so /proc/self/fd counts its descriptors.
 */
let pipeline: Pipeline;

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'badupload',
    env: { SLUICE_IDLE_TIMEOUT_MS: '400', SLUICE_HEADERS_TIMEOUT_MS: '2000' },
    roles: ['ingest'],
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

const BOUNDARY = 'sluiceboundary42';
const host = () => new URL(pipeline.url);

const fileHead = (name = 'in.jsonl') =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
  `Content-Type: application/jsonl\r\n\r\n`;
const field = (name: string, value: string) =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const line = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}\n';

/** Sends a raw request and resolves with the status line's code and body; `null` if the server never answered. */
function raw(
  head: string,
  body: string,
  options: { contentLength?: number; abortAfterMs?: number; halfClose?: boolean } = {},
) {
  return new Promise<{ status: number | null; body: string }>((resolve) => {
    const { hostname, port } = host();
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(received);
      resolve({ status: match ? Number(match[1]) : null, body: received.slice(received.indexOf('\r\n\r\n') + 4) });
    });
    const length = options.contentLength ?? Buffer.byteLength(body);
    socket.write(`${head}Content-Length: ${length}\r\nConnection: close\r\n\r\n${body}`);
    // Half-closing says "nothing more is coming" while the client still waits for the answer.
    if (options.halfClose) socket.end();
    if (options.abortAfterMs !== undefined) setTimeout(() => socket.destroy(), options.abortAfterMs);
    // A request the server never answers would hang the test; give up after a while and report it.
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

const post = (path: string, contentType = `multipart/form-data; boundary=${BOUNDARY}`) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: ${contentType}\r\n`;

interface BadUpload {
  name: string;
  send: (path: string) => Promise<{ status: number | null; body: string }>;
  /** The status the client must see; `null` where the client left before any answer could reach it. */
  expect: number | null;
}

const CASES: BadUpload[] = [
  {
    name: 'body ends before the closing boundary',
    send: (path) => raw(post(path), field('purpose', 'batch') + fileHead() + line.repeat(50)),
    expect: 400,
  },
  {
    name: 'body ends before the closing boundary, and the client half-closes its side',
    send: (path) => raw(post(path), field('purpose', 'batch') + fileHead() + line.repeat(50), { halfClose: true }),
    expect: 400,
  },
  {
    name: 'a declared length longer than the body, and the client half-closes its side',
    send: (path) =>
      raw(post(path), field('purpose', 'batch') + fileHead() + line.repeat(20), {
        contentLength: 1_000_000,
        halfClose: true,
      }),
    expect: 400,
  },
  {
    name: 'too many form fields',
    send: (path) =>
      raw(
        post(path),
        Array.from({ length: 40 }, (_, i) => field(`f${i}`, 'x')).join('') +
          fileHead() +
          line +
          `\r\n--${BOUNDARY}--\r\n`,
      ),
    expect: 400,
  },
  {
    name: 'too many form fields after the file',
    send: (path) =>
      raw(
        post(path),
        fileHead() +
          line +
          '\r\n' +
          Array.from({ length: 40 }, (_, i) => field(`f${i}`, 'x')).join('') +
          `--${BOUNDARY}--\r\n`,
      ),
    expect: 400,
  },
  {
    name: 'multipart without a boundary',
    send: (path) => raw(post(path, 'multipart/form-data'), fileHead() + line),
    expect: 400,
  },
  {
    name: 'a declared length longer than the body (idle timeout mid-upload)',
    send: (path) =>
      raw(post(path), field('purpose', 'batch') + fileHead() + line.repeat(20), { contentLength: 1_000_000 }),
    expect: 408,
  },
  {
    name: 'client abort mid-upload',
    send: (path) =>
      raw(post(path), field('purpose', 'batch') + fileHead() + line.repeat(20), {
        contentLength: 1_000_000,
        abortAfterMs: 50,
      }),
    expect: null,
  },
];

async function descriptors(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/** Every file below the data directory that is not a finished object: temporaries and `.partial`s. */
async function temporaries(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (/\.(tmp|partial)$/.test(entry.name) || dir.includes('.tmp')) found.push(path);
    }
  };
  await walk(pipeline.dataDir);
  return found;
}

describe('malformed multipart uploads', () => {
  for (const path of ['/v1/files', '/v1/jobs/upload']) {
    for (const c of CASES) {
      it(`${path}: ${c.name} gets a prompt ${c.expect ?? 'close'} in the OpenAI error shape`, async () => {
        const started = Date.now();
        const response = await c.send(path);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(response.status).toBe(c.expect);
        if (c.expect !== null) {
          const body = JSON.parse(response.body) as { error: { message: string; type: string; code: string } };
          expect(body.error.message).toEqual(expect.any(String));
          expect(body.error.type).toEqual(expect.any(String));
        }
      });
    }
  }

  it('hundreds of malformed uploads leave no descriptor and no temporary file behind', async () => {
    // Warm up: the first upload opens what stays open for the process's life (the store's temp dir).
    for (const c of CASES) await c.send('/v1/files');
    await eventually(
      async () => {
        expect(await temporaries()).toEqual([]);
        return true;
      },
      { timeoutMs: 5_000, what: 'no temporary files' },
    );
    const baseline = await descriptors();
    for (let round = 0; round < 40; round++) {
      await Promise.all(CASES.map((c) => c.send(round % 2 === 0 ? '/v1/files' : '/v1/jobs/upload')));
    }
    await eventually(
      async () => {
        expect(await temporaries()).toEqual([]);
        expect(await descriptors()).toBeLessThanOrEqual(baseline + 5);
        return true;
      },
      { timeoutMs: 10_000, what: 'descriptors and temporary files back to baseline' },
    );
  }, 120_000);
});
