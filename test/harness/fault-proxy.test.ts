import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.js';

const ANSWER = 'x'.repeat(1000);
let target: Server;
let proxy: FaultProxy;

beforeAll(async () => {
  target = createServer((_request, response) => response.end(ANSWER));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  proxy = await FaultProxy.start({ host: '127.0.0.1', port: (target.address() as AddressInfo).port });
});
afterAll(async () => {
  await proxy.close();
  await new Promise((resolve) => target.close(resolve));
});
beforeEach(async () => {
  proxy.heal();
  await proxy.up();
});

/** A GET through the proxy on a fresh connection: the body, or the error's code. */
async function get(timeoutMs = 2000): Promise<{ body?: string; code?: string; ms: number }> {
  const started = performance.now();
  try {
    const response = await fetch(`http://${proxy.address}/`, {
      headers: { connection: 'close' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { body: await response.text(), ms: performance.now() - started };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { code: cause?.code ?? (error as Error).name, ms: performance.now() - started };
  }
}

describe('the fault proxy', () => {
  it('forwards to its target', async () => {
    expect((await get()).body).toBe(ANSWER);
  });

  it('refuses connections while down, and forwards again once up', async () => {
    await proxy.down();
    expect((await get()).code).toBe('ECONNREFUSED');
    await proxy.up();
    expect((await get()).body).toBe(ANSWER);
  });

  it('holds every chunk for the delay', async () => {
    proxy.delay(300);
    const { body, ms } = await get();
    expect(body).toBe(ANSWER);
    // The request and the answer are each held once.
    expect(ms).toBeGreaterThanOrEqual(550);
  });

  it('holds everything while stalled and delivers it once healed', async () => {
    proxy.stall();
    const pending = get(5000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(proxy.open).toBeGreaterThanOrEqual(1);
    proxy.heal();
    const { body, ms } = await pending;
    expect(body).toBe(ANSWER);
    expect(ms).toBeGreaterThanOrEqual(450);
  });

  it('resets open connections', async () => {
    proxy.stall();
    const pending = get(5000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(proxy.resetAll()).toBeGreaterThanOrEqual(1);
    expect((await pending).code).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
  });

  it('cuts an answer after the given bytes', async () => {
    proxy.cutResponses(300);
    const { body, code } = await get();
    expect(body).toBeUndefined();
    // Node 24's fetch (undici 7) says the body fell short of its content-length; Node 20's, the socket closed.
    expect(code).toMatch(/ECONNRESET|UND_ERR_SOCKET|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|TypeError/);
  });
});
