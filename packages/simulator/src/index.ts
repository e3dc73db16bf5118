export { parseLatencySpec, type LatencySpec } from './latency.js';
export { SIMULATED_HEADER, startSimulator, type Simulator, type SimulatorOptions } from './server.js';
export type { SimulatorStats } from './stats.js';
export { STRUCTURED_DIALECTS, type StructuredDialect } from './chat.js';
