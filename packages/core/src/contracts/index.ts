/**
 * Sluice's public contracts: the zod schemas every boundary derives from. This entry point has
 * no dependency but zod, so the client SDK can import it without pulling in Kafka.
 */
export * from './common.js';
export * from './fields.js';
export * from './batch.js';
export * from './domain.js';
export * from './files.js';
export * from './messages.js';
export * from './control.js';
export * from './openai.js';
export * from './operations.js';
export * from './template.js';
export * from './dry-run.js';
export * from './domain-operations.js';
