import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP fault proxy for the chaos tests (what Toxiproxy does, on real sockets, in the test's own
 * process: Toxiproxy's binaries cannot be downloaded here). It listens on 127.0.0.1 at a free port
 * and forwards every connection to `target`; at run time a test can take the target away or make
 * it misbehave:
 *
 * - `down()`: new connections are refused (the listener is closed: the client sees ECONNREFUSED)
 *   and the open ones are reset; `up()` listens again on the same port.
 * - `resetAll()`: every open connection is reset (TCP RST on both sides), new ones still work.
 * - `delay(ms)`: every chunk, both ways, is held `ms` before it is passed on (a slow link);
 *   `stall()`: nothing is passed on until `heal()` (a hung peer; what was held is then delivered).
 * - `cutResponses(bytes)`: from now on each connection passes `bytes` more bytes of the target's
 *   answer, then both sides are reset (an answer cut half-way).
 * - `heal()`: back to a clean link (held bytes are delivered, in order).
 */
export class FaultProxy {
  private server: Server;
  private readonly links = new Set<Link>();
  private delayMs = 0;
  private stalled = false;
  private cutAfterBytes: number | null = null;
  private listening = true;
  /** Connections accepted since the start (a test can see that its clients went through the proxy). */
  connections = 0;

  private constructor(
    readonly target: { host: string; port: number },
    readonly port: number,
    server: Server,
  ) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    // The listener exists before the proxy that handles its connections (it needs the port).
    const accepted: { proxy?: FaultProxy } = {};
    const server = createServer({ allowHalfOpen: true }, (socket) => accepted.proxy?.accept(socket));
    const port = await listen(server, 0);
    accepted.proxy = new FaultProxy(target, port, server);
    return accepted.proxy;
  }

  /** `host:port` of the proxy. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Refuses new connections and resets the open ones. */
  async down(): Promise<void> {
    if (this.listening) {
      this.listening = false;
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.resetAll();
      await closed;
    }
  }

  /** Accepts connections again, on the same port. */
  async up(): Promise<void> {
    if (this.listening) return;
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await listen(server, this.port);
    this.server = server;
    this.listening = true;
  }

  /** Resets every open connection; new ones are accepted as before. */
  resetAll(): number {
    const count = this.links.size;
    for (const link of [...this.links]) link.reset();
    return count;
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  stall(): void {
    this.stalled = true;
  }

  cutResponses(afterBytes: number): void {
    this.cutAfterBytes = afterBytes;
    for (const link of this.links) link.downstreamLeft = afterBytes;
  }

  /** A clean link again: no delay, no stall, no cut; what was held goes on. */
  heal(): void {
    this.delayMs = 0;
    this.stalled = false;
    this.cutAfterBytes = null;
    for (const link of this.links) {
      link.downstreamLeft = null;
      link.pump();
    }
  }

  /** Open connections now. */
  get open(): number {
    return this.links.size;
  }

  async close(): Promise<void> {
    this.resetAll();
    if (this.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.listening = false;
  }

  private accept(client: Socket): void {
    this.connections++;
    const upstream = connect({ port: this.target.port, host: this.target.host, allowHalfOpen: true });
    const link = new Link(this, client, upstream);
    link.downstreamLeft = this.cutAfterBytes;
    this.links.add(link);
    link.onEnd = () => this.links.delete(link);
  }

  /** When a chunk received now may be passed on: null while stalled. */
  releaseAt(receivedAt: number): number | null {
    return this.stalled ? null : receivedAt + this.delayMs;
  }

  get isStalled(): boolean {
    return this.stalled;
  }
}

interface Held {
  chunk: Buffer;
  receivedAt: number;
}

/** One proxied connection: two sockets and the bytes held between them, each way in order. */
class Link {
  onEnd: () => void = () => undefined;
  /** Bytes of the target's answer still let through before a cut; null: no cut. */
  downstreamLeft: number | null = null;
  private readonly toTarget: Held[] = [];
  private readonly toClient: Held[] = [];
  private clientEnded = false;
  private targetEnded = false;
  private ended = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly client: Socket,
    private readonly target: Socket,
  ) {
    client.setNoDelay(true);
    target.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.hold(this.toTarget, chunk));
    target.on('data', (chunk: Buffer) => this.hold(this.toClient, chunk));
    client.on('end', () => {
      this.clientEnded = true;
      this.pump();
    });
    target.on('end', () => {
      this.targetEnded = true;
      this.pump();
    });
    // Either side failing (a refused target, a reset) resets the other: the client sees what a
    // direct connection would have shown.
    client.on('error', () => this.reset());
    target.on('error', () => this.reset());
    // A clean close comes after 'end' (its bytes may still be held): the link ends once both
    // sockets are gone; a close with an error resets the other side.
    const closed = (hadError: boolean) => {
      if (hadError) this.reset();
      else if (client.destroyed && target.destroyed && !this.ended) {
        this.ended = true;
        this.onEnd();
      }
    };
    client.on('close', closed);
    target.on('close', closed);
  }

  private hold(queue: Held[], chunk: Buffer): void {
    queue.push({ chunk, receivedAt: Date.now() });
    this.pump();
  }

  /** Passes on every held chunk that is due; schedules itself for the next one. */
  pump(): void {
    if (this.ended) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const now = Date.now();
    let next = Infinity;
    for (const [queue, to] of [
      [this.toTarget, this.target],
      [this.toClient, this.client],
    ] as const) {
      while (queue.length > 0) {
        const due = this.proxy.releaseAt(queue[0]!.receivedAt);
        if (due === null) break;
        if (due > now) {
          next = Math.min(next, due);
          break;
        }
        let { chunk } = queue.shift()!;
        if (to === this.client && this.downstreamLeft !== null) {
          if (chunk.length >= this.downstreamLeft) {
            chunk = chunk.subarray(0, this.downstreamLeft);
            if (chunk.length > 0) this.client.write(chunk);
            // Let the cut bytes leave before the reset.
            setTimeout(() => this.reset(), 20);
            this.ended = true;
            return;
          }
          this.downstreamLeft -= chunk.length;
        }
        to.write(chunk);
      }
    }
    if (!this.proxy.isStalled) {
      if (this.clientEnded && this.toTarget.length === 0) this.target.end();
      if (this.targetEnded && this.toClient.length === 0) this.client.end();
    }
    if (next !== Infinity) this.timer = setTimeout(() => this.pump(), next - now);
  }

  reset(): void {
    if (this.timer) clearTimeout(this.timer);
    this.ended = true;
    this.toTarget.length = 0;
    this.toClient.length = 0;
    for (const socket of [this.client, this.target]) {
      if (!socket.destroyed) {
        // An RST, not a FIN, when the socket is connected: the peer sees ECONNRESET.
        if (typeof socket.resetAndDestroy === 'function' && socket.readyState === 'open') socket.resetAndDestroy();
        else socket.destroy();
      }
    }
    this.onEnd();
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
