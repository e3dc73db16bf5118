export * from './contracts/index.js';
export * from './errors.js';
export * from './topics.js';
export * from './logger.js';
export * from './serde/codec.js';
export * from './transport/types.js';
export * from './transport/kafka.js';
