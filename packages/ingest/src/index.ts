export { createIngest, DEFAULT_TENANT, type Ingest, type IngestOptions } from './ingest.js';
export type { IngestLimits } from './context.js';
export type { UpstreamFacts } from './estimate/dry-run.js';
