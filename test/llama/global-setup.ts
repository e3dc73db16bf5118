import type { TestProject } from 'vitest/node';
import setupInfra from '../harness/global-setup.js';

declare module 'vitest' {
  export interface ProvidedContext {
    llama: { url: string; model: string };
  }
}

/**
 * The real-model project needs the llama-cpp-python server (`bash scripts/infra/llama.sh up`, which
 * prints SLUICE_LLAMA_URL and SLUICE_LLAMA_MODEL) besides Kafka and the registry. Without it the
 * project fails at once with what to run: it never skips.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const url = process.env.SLUICE_LLAMA_URL;
  const model = process.env.SLUICE_LLAMA_MODEL ?? 'smollm2-135m-instruct';
  const hint = 'Start it with `eval "$(bash scripts/infra/llama.sh up)"` (or run `bash scripts/test-all.sh`).';
  if (!url)
    throw new Error(`SLUICE_LLAMA_URL is not set: the real-model tests need the llama-cpp-python server. ${hint}`);
  const models = await fetch(`${url}/models`).catch((error: unknown) => {
    throw new Error(`The llama-cpp-python server at ${url} does not answer (${String(error)}). ${hint}`);
  });
  if (!models.ok)
    throw new Error(`The llama-cpp-python server at ${url}/models answered HTTP ${models.status}. ${hint}`);
  project.provide('llama', { url, model });
  return setupInfra(project);
}
