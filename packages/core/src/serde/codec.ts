import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { z } from 'zod';
import { BatchRecord } from '../contracts/batch.js';
import { ControlMessage } from '../contracts/control.js';
import { RequestMessage, ResultMessage } from '../contracts/messages.js';
import { MessageDecodeError, SluiceError } from '../errors.js';
import { retrying, type RetryPolicy } from '../retry/index.js';
import type { TopicNames } from '../topics.js';
import type { IncomingMessage } from '../transport/types.js';
import {
  checkRegistry,
  diagnoseRegistryError,
  OPEN_REGISTRY,
  registryAgent,
  type RegistryAccess,
  RegistryAccessError,
} from './registry-access.js';

/** Encodes and decodes one topic's values. Decoding never returns an unvalidated value. */
export interface Codec<Schema extends z.ZodType> {
  readonly topic: string;
  readonly schema: Schema;
  /** Validates `value` against the topic schema (a failure is a bug in the caller) and encodes it. */
  encode(value: z.input<Schema>): Promise<Buffer>;
  /**
   * Frames JSON text that the caller built from already-validated parts, without parsing it again:
   * the hot path of producing a million items. Anything else goes through `encode`.
   */
  frameTrusted(json: string): Buffer;
  /** @throws MessageDecodeError naming the topic, partition, offset and reason. */
  decode(message: IncomingMessage): Promise<z.output<Schema>>;
}

export interface Serde {
  /** `registry`: Confluent wire format against registered JSON Schemas; `json`: plain JSON. */
  readonly mode: 'registry' | 'json';
  readonly requests: Codec<typeof RequestMessage>;
  /** Request messages of synchronous calls, on their own topic (and registry subject). */
  readonly interactive: Codec<typeof RequestMessage>;
  readonly results: Codec<typeof ResultMessage>;
  readonly status: Codec<typeof BatchRecord>;
  /** Control facts about batches (a cancel); see ControlView. */
  readonly control: Codec<typeof ControlMessage>;
}

export interface SerdeOptions {
  topics: TopicNames;
  /** Confluent-compatible registry base URL (e.g. Apicurio's `/apis/ccompat/v7`); null for plain JSON. */
  registryUrl: string | null;
  /** Credentials and CA for the registry. Default: none (an open registry, system CAs). */
  registryAccess?: RegistryAccess;
}

const REGISTER_TIMEOUT_MS = 10_000;

/**
 * Registering a schema: six tries, 0.5 s doubling to 8 s between them, for anything but a refused
 * login or certificate (that stops start-up at once, naming the setting).
 */
const REGISTRY_RETRY: RetryPolicy = { maxAttempts: 6, initialMs: 500, maxMs: 8000 };

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The JSON Schema registered for a topic's values: the zod schema's input form, draft-07. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/**
 * Registers each topic's value schema under `<topic>-value` (TopicNameStrategy) and returns
 * codecs that write the Confluent wire format (magic byte, schema id, JSON). Without a registry
 * the codecs write plain JSON. Either way decoding accepts both forms (outside producers may not
 * use the registry) and validates with the same zod schema.
 */
export async function createSerde(options: SerdeOptions): Promise<Serde> {
  const { topics, registryUrl } = options;
  if (!registryUrl) {
    return {
      mode: 'json',
      requests: jsonCodec(topics.requests, RequestMessage),
      interactive: jsonCodec(topics.interactive, RequestMessage),
      results: jsonCodec(topics.results, ResultMessage),
      status: jsonCodec(topics.status, BatchRecord),
      control: jsonCodec(topics.control, ControlMessage),
    };
  }
  const access = options.registryAccess ?? OPEN_REGISTRY;
  // A refused login or an untrusted certificate stops start-up here, naming the setting; an
  // unreachable registry is left to the retries below.
  await checkRegistry(registryUrl, access, REGISTER_TIMEOUT_MS).catch((error: unknown) => {
    const refused = diagnoseRegistryError(error, registryUrl, access);
    if (refused) throw refused;
  });
  const agent = registryAgent(registryUrl, access);
  const registry = new SchemaRegistry(
    {
      host: registryUrl.replace(/\/+$/, ''),
      ...(access.basicAuth
        ? { auth: { username: access.basicAuth.username, password: access.basicAuth.password.reveal() } }
        : {}),
      ...(agent ? { agent } : {}),
    },
    { [SchemaType.JSON]: { strict: false, allErrors: false } },
  );
  const register = async <S extends z.ZodType>(topic: string, schema: S): Promise<Codec<S>> => {
    const subject = `${topic}-value`;
    const body = { type: SchemaType.JSON, schema: JSON.stringify(jsonSchemaOf(schema)) } as const;
    // Several processes start at once and register the same schemas; a registry under concurrent
    // writes may leave a request hanging (seen with Apicurio on H2), so each try has a deadline.
    const retriable = (error: unknown) => !(error instanceof RegistryAccessError);
    let registered: { id: number };
    try {
      registered = await retrying({ ...REGISTRY_RETRY, retriable }, async () => {
        try {
          return await withDeadline(registry.register(body, { subject }), REGISTER_TIMEOUT_MS);
        } catch (error) {
          throw diagnoseRegistryError(error, registryUrl, access) ?? error;
        }
      });
    } catch (error) {
      if (!retriable(error)) throw error;
      throw new SluiceError(
        'schema_registry_unavailable',
        `could not register the schema of ${topic} in the registry at ${registryUrl}: ${errorText(error)}`,
        { retriable: true, cause: error },
      );
    }
    return registryCodec(topic, schema, registry, registered.id);
  };
  // One subject at a time: fewer concurrent writes for the registry.
  const requests = await register(topics.requests, RequestMessage);
  const interactive = await register(topics.interactive, RequestMessage);
  const results = await register(topics.results, ResultMessage);
  const status = await register(topics.status, BatchRecord);
  const control = await register(topics.control, ControlMessage);
  return { mode: 'registry', requests, interactive, results, status, control };
}

function jsonCodec<S extends z.ZodType>(topic: string, schema: S): Codec<S> {
  return {
    topic,
    schema,
    async encode(value) {
      return Buffer.from(JSON.stringify(schema.parse(value)));
    },
    frameTrusted(json) {
      return Buffer.from(json);
    },
    async decode(message) {
      return validate(schema, message, parsePlainJson(message));
    },
  };
}

/**
 * The Confluent wire format (magic byte 0, 4-byte schema id, JSON), written and read here rather
 * than through the registry client's encode/decode: those validate every message with ajv against
 * the writer's schema, and the zod schema validates it again anyway. A message written with a
 * schema id this process does not know is looked up once; an id the registry does not know is a
 * decode error.
 */
function registryCodec<S extends z.ZodType>(topic: string, schema: S, registry: SchemaRegistry, id: number): Codec<S> {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  const knownIds = new Set<number>([id]);
  return {
    topic,
    schema,
    async encode(value) {
      return Buffer.concat([header, Buffer.from(JSON.stringify(schema.parse(value)))]);
    },
    frameTrusted(json) {
      const framed = Buffer.allocUnsafe(5 + Buffer.byteLength(json));
      header.copy(framed, 0);
      framed.write(json, 5);
      return framed;
    },
    async decode(message) {
      const value = message.value;
      if (value && value.length > 0 && value[0] === 0) {
        if (value.length < 5) throw new MessageDecodeError(message, 'registry decode failed: the header is cut short');
        const writerId = value.readInt32BE(1);
        if (!knownIds.has(writerId)) {
          try {
            await registry.getSchema(writerId);
          } catch (error) {
            throw new MessageDecodeError(
              message,
              `registry decode failed: schema id ${writerId}: ${errorText(error)}`,
              error,
            );
          }
          knownIds.add(writerId);
        }
        let decoded: unknown;
        try {
          decoded = JSON.parse(value.toString('utf8', 5));
        } catch (error) {
          throw new MessageDecodeError(
            message,
            `registry decode failed: the payload is not JSON: ${errorText(error)}`,
            error,
          );
        }
        return validate(schema, message, decoded);
      }
      return validate(schema, message, parsePlainJson(message));
    },
  };
}

function parsePlainJson(message: IncomingMessage): unknown {
  if (!message.value || message.value.length === 0) throw new MessageDecodeError(message, 'empty message value');
  try {
    return JSON.parse(message.value.toString('utf8'));
  } catch (error) {
    throw new MessageDecodeError(message, `value is neither registry-encoded nor JSON: ${errorText(error)}`, error);
  }
}

function validate<S extends z.ZodType>(schema: S, message: IncomingMessage, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(value)'}: ${issue.message}`)
    .join('; ');
  throw new MessageDecodeError(message, `does not match the ${message.topic} schema: ${problems}`, result.error);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
