import type { OutgoingMessage, Producer } from './types.js';

export interface BatchingSenderOptions {
  /** How long a message may wait for others to share its produce request. Default 5 ms. */
  lingerMs?: number;
  /** Messages per produce request at most. Default 1000. */
  maxBatch?: number;
}

interface Pending {
  message: OutgoingMessage;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Collects messages sent one at a time into batched produce requests, like the Java producer's
 * `linger.ms`. Each `send` resolves when its message is acknowledged, so callers can still make
 * "produced" a precondition (e.g. before committing the input offset).
 */
export class BatchingSender {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly lingerMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    options: BatchingSenderOptions = {},
  ) {
    this.lingerMs = options.lingerMs ?? 5;
    this.maxBatch = options.maxBatch ?? 1000;
  }

  send(message: OutgoingMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  /** Sends what is queued now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.producer
      .send(
        this.topic,
        batch.map((p) => p.message),
      )
      .then(
        () => {
          for (const p of batch) p.resolve();
        },
        (error: unknown) => {
          for (const p of batch) p.reject(error);
        },
      );
  }
}
