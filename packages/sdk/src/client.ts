import { HttpClient, type RequestSpec } from './http.js';
import { compileClientOptions, type CompiledClientOptions, type SluiceOptions } from './options.js';
import { type ProfileSource, resolveProfile } from './profile.js';
import { Batches } from './resources/batches.js';
import { Completions } from './resources/completions.js';

/** Options of {@link Sluice.fromProfile}: where profiles come from, and the client options a profile does not set. */
export type FromProfileOptions = ProfileSource & Omit<SluiceOptions, 'baseURL' | 'apiKey'>;

/**
 * The Sluice client.
 *
 * ```ts
 * const client = new Sluice({ baseURL: 'http://127.0.0.1:8080', apiKey: process.env.SLUICE_API_KEY });
 * const { results } = await client.completions.classify({ items: [{ content: 'I was charged twice' }], categories: ['billing', 'bug'] });
 * const job = await client.batches.submitAndWait({ operation: 'summarize', items, summary_instructions: 'One line.' });
 * for await (const row of client.batches.iterOutput(job.id)) console.log(row.result);
 * ```
 */
export class Sluice {
  /** Synchronous operations: `POST /v1/operations/{operation}`. */
  readonly completions: Completions;
  /** Jobs of the operations API: `/v1/jobs`. */
  readonly batches: Batches;
  private readonly http: HttpClient;

  constructor(options: SluiceOptions) {
    this.http = new HttpClient(compileClientOptions(options));
    this.completions = new Completions(this.http);
    this.batches = new Batches(this.http);
  }

  /**
   * A client for a named profile of the profiles file (see `resolveProfile`); `SLUICE_BASE_URL`
   * and `SLUICE_API_KEY` override its values. Without a name: `$SLUICE_PROFILE`, else `default`.
   */
  static async fromProfile(name?: string, options: FromProfileOptions = {}): Promise<Sluice> {
    const { env, configPath, ...clientOptions } = options;
    const profile = await resolveProfile(name, { env, configPath });
    return new Sluice({ ...clientOptions, ...profile });
  }

  /**
   * Closes the client: calls in flight (a `wait` included) reject with `ClientClosedError`, and so
   * do later ones. `await using client = new Sluice(...)` closes it when the block ends.
   */
  async close(): Promise<void> {
    this.http.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Whether {@link Sluice.close} was called. */
  get closed(): boolean {
    return this.http.closed;
  }

  /** The options in force, defaults filled in. */
  get options(): Readonly<CompiledClientOptions> {
    return this.http.options;
  }

  /**
   * A raw call to any route, through the same auth, errors and retries as the resources: a 2xx
   * `Response`, or a thrown `SluiceAPIError`. For routes the resources do not cover (the domain
   * and OpenAI batch APIs).
   */
  request(spec: RequestSpec): Promise<Response> {
    return this.http.request(spec);
  }

  /** A raw call whose 2xx answer is JSON. */
  async requestJSON(spec: RequestSpec): Promise<unknown> {
    return this.http.json(spec, { parse: (value) => value });
  }
}
