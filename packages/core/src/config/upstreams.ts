import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseStructuredOutputSetting, type StructuredOutputSetting } from './structured-output.js';
import { Tier, TierFactors } from './tiers.js';

/**
 * One model rule of an upstream: the name clients use (`match`, a prefix when `prefix`) and the
 * name the upstream knows it by (`upstreamModel`; null: the client's name as it is).
 */
export interface ModelRoute {
  match: string;
  prefix: boolean;
  upstreamModel: string | null;
}

/** One upstream Sluice may call: an OpenAI-compatible endpoint and the limits it is called under. */
export interface UpstreamEntry {
  /** Unique, `[a-z0-9-]`: the only upstream value a metric label, a log line or a result shows. */
  name: string;
  /** OpenAI-compatible base URL, ending in /v1. */
  baseUrl: string;
  apiKey: string;
  /** Extra request headers (Azure's `api-key`, a gateway's tenant header), variables resolved. */
  headers: Record<string, string>;
  /** The models it serves, in the file's order. */
  models: ModelRoute[];
  /** 0 = no limit. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Most calls in flight to it, adapted down when it queues. */
  concurrency: number;
  structuredOutput: StructuredOutputSetting;
  /**
   * How it may be called, in the file's order (issue 24): `realtime`, `flex`, `batch`.
   * @defaultValue `['realtime']`
   */
  tiers: Tier[];
  /** What its flex and batch tiers cost as a share of realtime, over the price file's; absent: none given. */
  tierFactors?: TierFactors;
}

/** What an entry falls back to for a setting it does not give: today's single variables. */
export interface UpstreamDefaults {
  requestsPerMinute: number;
  tokensPerMinute: number;
  concurrency: number;
  structuredOutput: StructuredOutputSetting;
}

const NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_UPSTREAMS = 64;

const ModelName = z
  .string()
  .min(1, 'a model name is empty')
  .max(256, 'a model name is longer than 256 characters')
  .refine((name) => !name.slice(0, -1).includes('*'), 'a `*` may only end a name (a prefix)');

const EntrySchema = z.strictObject({
  name: z
    .string()
    .regex(NAME, 'expected 1-32 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit'),
  base_url: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. https://api.openai.com/v1' })
    .transform((url) => url.replace(/\/+$/, '')),
  api_key_env: z.string().regex(VARIABLE, 'expected the name of an environment variable').optional(),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), z.string()).optional(),
  models: z.union([
    z.array(ModelName).min(1, 'lists no model'),
    z.record(ModelName, z.string().min(1).nullable()).refine((map) => Object.keys(map).length > 0, 'lists no model'),
  ]),
  rpm: z.number().int().min(0).optional(),
  tpm: z.number().int().min(0).optional(),
  concurrency: z.number().int().min(0).max(100_000).optional(),
  structured_output: z.string().optional(),
  tiers: z
    .array(Tier, { error: `expected a list of ${Tier.options.join(', ')}` })
    .min(1, 'lists no tier')
    .refine((tiers) => new Set(tiers).size === tiers.length, 'lists a tier twice')
    // Until items are sent by the provider's batch API, an upstream with batch alone would never be called.
    .refine(
      (tiers) => tiers.includes('realtime') || tiers.includes('flex'),
      'must include realtime or flex: items are not sent by the batch tier yet, so this upstream would never be called',
    )
    .optional(),
  tier_factors: TierFactors.optional(),
});

const FileSchema = z.union([
  z.array(z.unknown()),
  z.strictObject({ upstreams: z.array(z.unknown()) }).transform((file) => file.upstreams),
]);

const VARIABLE_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * The upstreams Sluice calls: the entries of `SLUICE_UPSTREAMS_FILE` (JSON or YAML), or, as the
 * shorthand for a file of one entry, `OPENAI_BASE_URL` + `OPENAI_API_KEY` as upstream `default`
 * serving every model. Neither: none (the CLI may start the simulator). A bad file stops start-up
 * with a message naming the entry and the field; secrets are named by variable, never written in it.
 */
export function compileUpstreams(
  source: { file: string | undefined; baseUrl: string | undefined; apiKey: string | undefined },
  defaults: UpstreamDefaults,
  variables: Readonly<Record<string, string | undefined>>,
): UpstreamEntry[] {
  if (source.file && source.baseUrl) {
    throw new ConfigError(
      'SLUICE_UPSTREAMS_FILE',
      'OPENAI_BASE_URL is set too: it is the shorthand for a file of one upstream; list that upstream in the file instead',
    );
  }
  if (source.file) return loadUpstreamsFile(source.file, defaults, variables);
  if (!source.baseUrl) return [];
  return [shorthandUpstream(source.baseUrl, source.apiKey ?? 'sluice-no-key', defaults)];
}

/** `OPENAI_BASE_URL` as an upstream of its own: `default`, serving every model. */
export function shorthandUpstream(baseUrl: string, apiKey: string, defaults: UpstreamDefaults): UpstreamEntry {
  return upstreamEntry({ name: 'default', baseUrl, apiKey, models: ['*'], ...defaults });
}

/**
 * An upstream entry from code (the CLI's simulator, tests): `models` as a file names them (`*`
 * ends a prefix); what is not given is what a file entry gets by default, without limits.
 */
export function upstreamEntry(
  fields: Pick<UpstreamEntry, 'name' | 'baseUrl'> & { models: string[] } & Partial<Omit<UpstreamEntry, 'models'>>,
): UpstreamEntry {
  const { models, ...rest } = fields;
  return {
    apiKey: 'sluice-no-key',
    headers: {},
    requestsPerMinute: 0,
    tokensPerMinute: 0,
    concurrency: 256,
    structuredOutput: { default: 'auto', perModel: {} },
    tiers: ['realtime'],
    ...rest,
    baseUrl: rest.baseUrl.replace(/\/+$/, ''),
    models: models.map((name) =>
      name.endsWith('*')
        ? { match: name.slice(0, -1), prefix: true, upstreamModel: null }
        : { match: name, prefix: false, upstreamModel: null },
    ),
  };
}

function loadUpstreamsFile(
  path: string,
  defaults: UpstreamDefaults,
  variables: Readonly<Record<string, string | undefined>>,
): UpstreamEntry[] {
  const fail = (reason: string): never => {
    throw new ConfigError('SLUICE_UPSTREAMS_FILE', `${path}: ${reason}`);
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return fail(`cannot read it: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    // YAML is a superset of JSON: one parser reads both, and names the line of a syntax error.
    raw = parseYaml(text, { maxAliasCount: 0 });
  } catch (error) {
    return fail(`not JSON or YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const file = FileSchema.safeParse(raw);
  if (!file.success) return fail('expected a list of upstreams, or an object with an `upstreams` list');
  if (file.data.length === 0) return fail('lists no upstream');
  if (file.data.length > MAX_UPSTREAMS) return fail(`lists ${file.data.length} upstreams; at most ${MAX_UPSTREAMS}`);
  const names = new Set<string>();
  return file.data.map((value, index) => {
    const named =
      typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string'
        ? ` (${JSON.stringify((value as { name: string }).name).slice(0, 40)})`
        : '';
    const where = `upstreams[${index}]${named}`;
    const parsed = EntrySchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.length ? `.${issue.path.map(String).join('.')}` : '';
      return fail(`${where}${field}: ${issue?.message ?? 'invalid'}`);
    }
    const entry = parsed.data;
    if (names.has(entry.name)) fail(`${where}.name: ${entry.name} is used by an earlier entry`);
    names.add(entry.name);
    const variable = (name: string, field: string): string => {
      const found = variables[name];
      if (found === undefined || found === '') return fail(`${where}.${field}: the variable ${name} is not set`);
      return found;
    };
    let structuredOutput = defaults.structuredOutput;
    if (entry.structured_output !== undefined) {
      try {
        structuredOutput = parseStructuredOutputSetting(entry.structured_output);
      } catch (error) {
        fail(`${where}.structured_output: ${(error as Error).message}`);
      }
    }
    return {
      name: entry.name,
      baseUrl: entry.base_url,
      apiKey: entry.api_key_env ? variable(entry.api_key_env, 'api_key_env') : 'sluice-no-key',
      headers: Object.fromEntries(
        Object.entries(entry.headers ?? {}).map(([header, template]) => [
          header,
          template.replace(VARIABLE_REFERENCE, (_, name: string) => variable(name, `headers.${header}`)),
        ]),
      ),
      models: modelRoutes(entry.models, `${where}.models`, fail),
      requestsPerMinute: entry.rpm ?? defaults.requestsPerMinute,
      tokensPerMinute: entry.tpm ?? defaults.tokensPerMinute,
      concurrency: entry.concurrency || defaults.concurrency,
      structuredOutput,
      tiers: entry.tiers ?? ['realtime'],
      ...(entry.tier_factors ? { tierFactors: entry.tier_factors } : {}),
    };
  });
}

function modelRoutes(
  models: string[] | Record<string, string | null>,
  where: string,
  fail: (reason: string) => never,
): ModelRoute[] {
  const pairs: [string, string | null][] = Array.isArray(models)
    ? models.map((name) => [name, null])
    : Object.entries(models);
  return pairs.map(([name, upstreamModel]) => {
    const prefix = name.endsWith('*');
    if (prefix && upstreamModel !== null && upstreamModel !== name) {
      fail(`${where}.${name}: a prefix cannot be renamed (name each model the upstream knows differently)`);
    }
    return {
      match: prefix ? name.slice(0, -1) : name,
      prefix,
      upstreamModel: upstreamModel === name ? null : upstreamModel,
    };
  });
}

/** The upstream's own name for `model` when `upstream` serves it, else undefined. */
export function upstreamModelFor(upstream: UpstreamEntry, model: string): string | undefined {
  for (const route of upstream.models) {
    if (route.prefix ? model.startsWith(route.match) : model === route.match) return route.upstreamModel ?? model;
  }
  return undefined;
}

/** The upstreams that serve `model`, in the file's order. */
export function upstreamsServing(upstreams: readonly UpstreamEntry[], model: string): UpstreamEntry[] {
  return upstreams.filter((upstream) => upstreamModelFor(upstream, model) !== undefined);
}

/** The models served, as a client would name them (`gpt-4.1*` for a prefix; `*` for every model). */
export function servedModels(upstreams: readonly UpstreamEntry[]): string[] {
  const names = new Set<string>();
  for (const upstream of upstreams) {
    for (const route of upstream.models) names.add(route.prefix ? `${route.match}*` : route.match);
  }
  return [...names];
}
