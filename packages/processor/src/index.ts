export { createProcessor, type Processor, type ProcessorOptions, type ProcessorStats } from './processor.js';
export { HANDLERS, HandlerRouter } from './handlers/index.js';
export type { Handler, HandlerContext, HandlerOutcome } from './handlers/types.js';
export type { UpstreamOptions } from './upstream/upstream.js';
export {
  PROVIDER_CALL_RETRY,
  ProviderBatches,
  type ProviderBatch,
  type ProviderBatchesOptions,
  type ProviderBatchItem,
  type ProviderBatchLine,
  type ProviderBatchOutcome,
  type ProviderBatchRecord,
  type ProviderBatchStatus,
} from './tiers/provider-batches.js';
