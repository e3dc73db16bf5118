import type { TestProject } from 'vitest/node';
import { resolveInfra, type Infra } from './infra.js';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: Infra;
  }
}

/** Resolves Kafka and the registry once for the whole e2e run and hands them to every test file. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { infra, stop } = await resolveInfra();
  project.provide('infra', infra);
  return stop;
}
