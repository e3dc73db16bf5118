export { parseLatencySpec, type LatencySpec } from './latency.js';
export { SIMULATED_HEADER, startSimulator, type Simulator, type SimulatorOptions } from './server.js';
export type { SimulatorStats } from './stats.js';
export { SERVICE_TIERS, STRUCTURED_DIALECTS, type ServedTier, type StructuredDialect } from './chat.js';
