/**
 * What a job's parameters determine (its answer schema and JSON Schema, its system prompt, a
 * compiled validator or template) is the same for every item of the job, so it is compiled once per
 * job, not per item: every item of an operations job carries the same job-level `params`, and
 * stringifying them per item to look a cache up cost as much as compiling. Keyed by batch id, least
 * recently used out, bounded so a processor serving many jobs keeps a fixed footprint.
 */
export interface PerJob<Params, Compiled> {
  (batchId: string, params: Params): Compiled;
  /** How many times `compile` ran: once per job while the job stays in the cache. */
  readonly compilations: number;
}

export function perJob<Params, Compiled>(
  compile: (params: Params) => Compiled,
  maxJobs = 256,
): PerJob<Params, Compiled> {
  const byBatch = new Map<string, Compiled>();
  let compilations = 0;
  const get = (batchId: string, params: Params): Compiled => {
    const hit = byBatch.get(batchId);
    if (hit !== undefined) {
      // Map keeps insertion order: re-inserting marks the job most recently used.
      byBatch.delete(batchId);
      byBatch.set(batchId, hit);
      return hit;
    }
    const compiled = compile(params);
    compilations++;
    byBatch.set(batchId, compiled);
    if (byBatch.size > maxJobs) byBatch.delete(byBatch.keys().next().value as string);
    return compiled;
  };
  return Object.defineProperty(get, 'compilations', { get: () => compilations }) as PerJob<Params, Compiled>;
}
