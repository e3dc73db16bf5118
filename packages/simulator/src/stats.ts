export interface SimulatorStats {
  /** POST calls to /v1/* (the model API; GET /v1/models is a probe and not counted). */
  requests: number;
  /** Answers by HTTP status ("200", "429", …); hung or abandoned requests have no status. */
  byStatus: Record<string, number>;
  /** 429 answers, from the rpm/tpm limits, injected faults or directives. */
  rateLimited: number;
  /** Injected random faults: 429s, 5xx, hangs, malformed content. */
  faults: number;
  inFlight: number;
  peakInFlight: number;
  /** Token estimates of successful answers. */
  promptTokens: number;
  completionTokens: number;
  startedAtMs: number;
  /** Do not keep every timestamp (memory): see perSecond. */
  okTimestampsMs?: never;
  /** Seconds since start with at least one answer, the last 600 seconds at most, oldest first. */
  perSecond: { second: number; ok: number; rateLimited: number }[];
}

const KEEP_SECONDS = 600;

export class StatsRecorder {
  private requests = 0;
  private byStatus: Record<string, number> = {};
  private rateLimited = 0;
  private faults = 0;
  private inFlight = 0;
  private peakInFlight = 0;
  private promptTokens = 0;
  private completionTokens = 0;
  private startedAtMs = Date.now();
  private seconds = new Map<number, { ok: number; rateLimited: number }>();

  begin(): void {
    this.requests++;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
  }

  /** A request ended; `status` is undefined when no answer was delivered. */
  end(status: number | undefined): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (status === undefined) return;
    this.byStatus[String(status)] = (this.byStatus[String(status)] ?? 0) + 1;
    const ok = status >= 200 && status < 300;
    if (status === 429) this.rateLimited++;
    if (!ok && status !== 429) return;
    const bucket = this.bucket(Math.floor((Date.now() - this.startedAtMs) / 1000));
    if (ok) bucket.ok++;
    else bucket.rateLimited++;
  }

  fault(): void {
    this.faults++;
  }

  tokens(prompt: number, completion: number): void {
    this.promptTokens += prompt;
    this.completionTokens += completion;
  }

  /** Counters restart; requests still in flight stay counted as in flight. */
  reset(): void {
    this.requests = 0;
    this.byStatus = {};
    this.rateLimited = 0;
    this.faults = 0;
    this.peakInFlight = this.inFlight;
    this.promptTokens = 0;
    this.completionTokens = 0;
    this.startedAtMs = Date.now();
    this.seconds = new Map();
  }

  snapshot(): SimulatorStats {
    this.prune(Math.floor((Date.now() - this.startedAtMs) / 1000));
    return {
      requests: this.requests,
      byStatus: { ...this.byStatus },
      rateLimited: this.rateLimited,
      faults: this.faults,
      inFlight: this.inFlight,
      peakInFlight: this.peakInFlight,
      promptTokens: this.promptTokens,
      completionTokens: this.completionTokens,
      startedAtMs: this.startedAtMs,
      perSecond: [...this.seconds.entries()]
        .sort(([a], [b]) => a - b)
        .map(([second, counts]) => ({ second, ok: counts.ok, rateLimited: counts.rateLimited })),
    };
  }

  private bucket(second: number): { ok: number; rateLimited: number } {
    let bucket = this.seconds.get(second);
    if (bucket === undefined) {
      this.prune(second);
      bucket = { ok: 0, rateLimited: 0 };
      this.seconds.set(second, bucket);
    }
    return bucket;
  }

  private prune(currentSecond: number): void {
    for (const second of this.seconds.keys()) {
      if (second <= currentSecond - KEEP_SECONDS) this.seconds.delete(second);
    }
  }
}
