export {
  createProcessor,
  type Processor,
  type ProcessorOptions,
  type ProcessorStats,
  type ProcessorUpstreamOptions,
} from './processor.js';
export { HANDLERS, HandlerRouter } from './handlers/index.js';
export type { Handler, HandlerContext, HandlerOutcome } from './handlers/types.js';
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
export type { CircuitState } from './upstream/circuit.js';
