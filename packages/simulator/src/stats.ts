export interface SimulatorStats {
  /** POST calls to /v1/* (GET /v1/models is a probe and not counted). */
  requests: number;
  /** Answers by HTTP status ("200", "429", …); hung or abandoned requests have none. */
  byStatus: Record<string, number>;
  /** 429 answers, from the rpm/tpm limits, injected faults or directives. */
  rateLimited: number;
  /** Injected random faults: 429s, 5xx, hangs, malformed content. */
  faults: number;
  /** Chat completions by the `service_tier` they were served on (`default`, `flex`, ...), refused or not. */
  byServiceTier: Record<string, number>;
  startedAtMs: number;
  /** Seconds since `startedAtMs` with at least one answer, the last 600 at most, oldest first: achieved RPM. */
  perSecond: { second: number; ok: number; rateLimited: number }[];
}

const KEEP_SECONDS = 600;

export class StatsRecorder {
  private stats: Omit<SimulatorStats, 'perSecond'> = this.fresh();
  private seconds = new Map<number, { ok: number; rateLimited: number }>();

  begin(): void {
    this.stats.requests++;
  }

  /** A request ended; `status` is undefined when no answer was delivered. */
  end(status: number | undefined): void {
    if (status === undefined) return;
    this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1;
    if (status === 429) this.stats.rateLimited++;
    if (status !== 429 && (status < 200 || status >= 300)) return;
    const second = this.now();
    let bucket = this.seconds.get(second);
    if (bucket === undefined) {
      this.prune(second);
      bucket = { ok: 0, rateLimited: 0 };
      this.seconds.set(second, bucket);
    }
    if (status === 429) bucket.rateLimited++;
    else bucket.ok++;
  }

  serviceTier(tier: string): void {
    this.stats.byServiceTier[tier] = (this.stats.byServiceTier[tier] ?? 0) + 1;
  }

  fault(): void {
    this.stats.faults++;
  }

  reset(): void {
    this.stats = this.fresh();
    this.seconds = new Map();
  }

  snapshot(): SimulatorStats {
    this.prune(this.now());
    const perSecond = [...this.seconds.entries()].sort(([a], [b]) => a - b).map(([second, n]) => ({ second, ...n }));
    return {
      ...this.stats,
      byStatus: { ...this.stats.byStatus },
      byServiceTier: { ...this.stats.byServiceTier },
      perSecond,
    };
  }

  private fresh(): Omit<SimulatorStats, 'perSecond'> {
    return { requests: 0, byStatus: {}, rateLimited: 0, faults: 0, byServiceTier: {}, startedAtMs: Date.now() };
  }

  private now(): number {
    return Math.floor((Date.now() - this.stats.startedAtMs) / 1000);
  }

  private prune(currentSecond: number): void {
    for (const second of this.seconds.keys()) if (second <= currentSecond - KEEP_SECONDS) this.seconds.delete(second);
  }
}
