import { BoundedCache } from '@sluice/core';

/** What one operation compiled its parameters to, for one job. */
export interface CompiledFor<Params, Compiled> {
  (job: string, params: Params): Compiled;
  /** How many times this operation's `compile` ran: once per job while the job stays cached. */
  readonly compilations: number;
}

/**
 * What a job's parameters determine (its answer schema and JSON Schema, its system prompt, a
 * compiled validator) is the same for every item of the job, so it is compiled once per job, not
 * per item: building a zod schema, its JSON Schema or an Ajv validator costs more than the rest of
 * a handler. Every operation keeps it here, in one bounded cache (least recently used out), so a
 * processor serving many jobs keeps a fixed footprint.
 *
 * A job is named by the router (index.ts): an operations job's batch id (every item carries the
 * same parameters, and stringifying them per item to look them up cost as much as compiling), or
 * for a domain batch, whose lines each carry their own, the batch id and the parameters' text.
 */
export class CompiledParams {
  private readonly cache: BoundedCache<{ compiled: unknown }>;

  /**
   * @param maxJobs Jobs kept compiled at once: more than a processor works on at one time (a job
   * evicted while still running is compiled again, which costs CPU, never a result). A compiled
   * classify job holds a few dozen zod objects (about 30 KB): at 512 jobs the cache alone took
   * 15 MB and five minutes of a steady load to fill, which a soak could not tell from a leak.
   */
  constructor(maxJobs = 128) {
    this.cache = new BoundedCache({ maxEntries: maxJobs });
  }

  /** One operation's compiler, `compiledFor(job, params)`. */
  of<Params, Compiled>(operation: string, compile: (params: Params) => Compiled): CompiledFor<Params, Compiled> {
    let compilations = 0;
    const compiledFor = (job: string, params: Params): Compiled =>
      this.cache.getOrSet(`${operation}\n${job}`, () => {
        compilations++;
        return { compiled: compile(params) };
      }).compiled as Compiled;
    return Object.defineProperty(compiledFor, 'compilations', { get: () => compilations }) as CompiledFor<
      Params,
      Compiled
    >;
  }
}

/** The one cache of compiled parameters, for every operation. */
export const COMPILED = new CompiledParams();
