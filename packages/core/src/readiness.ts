import { checkRegistry, OPEN_REGISTRY, type RegistryAccess } from './serde/registry-access.js';
import type { Transport } from './transport/types.js';

/** One dependency's state in `/readyz`. `error` says what is wrong, naming the setting when it is one. */
export interface ReadinessCheck {
  name: string;
  ok: boolean;
  error?: string;
}

/** Runs one check with a deadline; never throws. */
export async function probe(name: string, check: () => Promise<void>, timeoutMs = 3000): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name, ok: true };
  } catch (error) {
    return { name, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export interface LogDependencies {
  transport: Transport;
  registryUrl: string | null;
  registryAccess?: RegistryAccess;
}

/**
 * The checks every role's `/readyz` runs: the log (`kafka`, or `log` when embedded) and, when one
 * is configured, the schema registry, each with the same credentials and CA the role uses.
 */
export function logDependencyChecks(dependencies: LogDependencies): Promise<ReadinessCheck>[] {
  const { transport, registryUrl } = dependencies;
  return [
    probe(transport.kind === 'kafka' ? 'kafka' : 'log', () => transport.ping()),
    ...(registryUrl
      ? [probe('schema_registry', () => checkRegistry(registryUrl, dependencies.registryAccess ?? OPEN_REGISTRY))]
      : []),
  ];
}
