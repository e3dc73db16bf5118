export {
  createProcessor,
  type Processor,
  type ProcessorOptions,
  type ProcessorStats,
  type ProcessorUpstreamOptions,
} from './processor.js';
export { HANDLERS, HandlerRouter } from './handlers/index.js';
export type { Handler, HandlerContext, HandlerOutcome } from './handlers/types.js';
export type { CircuitState } from './upstream/circuit.js';
