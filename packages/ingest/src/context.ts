import type {
  FileStore,
  Logger,
  Producer,
  RegistryAccess,
  DependencyHealth,
  RetentionConfig,
  Serde,
  SluiceConfig,
  Store,
  TopicNames,
  Transport,
} from '@sluice/core';
import type { Registry } from 'prom-client';
import type { BatchSubmitter } from './batches/submitter.js';
import type { SyncRunner } from './batches/sync-runner.js';
import type { UpstreamFacts } from './estimate/dry-run.js';
import type { IntakePool } from './intake/intake-pool.js';
import type { IntakeLimits } from './intake/jsonl-intake.js';
import type { ModelCatalog } from './intake/model-catalog.js';
import type { IngestMetrics } from './metrics.js';
import type { StatusView } from './view/status-view.js';

/** Ingest's limits: the configured ones plus the JSON nesting depth accepted per line. */
export type IngestLimits = SluiceConfig['limits'] & {
  /** JSON nesting depth per line. */
  maxDepth: number;
};

/** What every route module gets: the shared services of one ingest. */
export interface IngestContext {
  transport: Transport;
  producer: Producer;
  serde: Serde;
  topics: TopicNames;
  /** Where inputs, results, outputs and File records are (core's readers and writers over it). */
  store: Store;
  files: FileStore;
  retention: RetentionConfig;
  view: StatusView;
  submitter: BatchSubmitter;
  sync: SyncRunner;
  limits: IngestLimits;
  /** Worker threads that check a domain batch's lines; null: checked in the request's thread. */
  intakePool: IntakePool | null;
  /** The upstream as ingest sees it: timeouts, limits and prices for dry runs. */
  upstream: UpstreamFacts;
  /** The models the upstreams serve: a request for another is refused at submit. */
  catalog: ModelCatalog;
  logger: Logger;
  metrics: Registry;
  counters: IngestMetrics;
  readiness: {
    registryUrl: string | null;
    registryAccess?: RegistryAccess;
    /** The configured upstreams, probed by `/readyz` and named there when one does not answer. */
    upstreams: readonly { name: string; baseUrl: string }[];
    /** The dependencies this process's calls watch (`store`, `broker`, `upstream`), as `/readyz` checks. */
    dependencies?: DependencyHealth;
  };
}

export function intakeLimits(limits: IngestLimits, overrides: Partial<IntakeLimits> = {}): IntakeLimits {
  return {
    maxBytes: limits.maxBodyBytes,
    maxLineBytes: limits.maxLineBytes,
    maxItems: limits.maxBatchItems,
    maxReportedErrors: limits.maxReportedErrors,
    maxDepth: limits.maxDepth,
    ...overrides,
  };
}
