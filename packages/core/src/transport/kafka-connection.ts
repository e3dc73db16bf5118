import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { SluiceError } from '../errors.js';
import type { Secret } from '../config/secret.js';
import { retrying, type RetryPolicy } from '../retry/index.js';

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';

/** An OAUTHBEARER token for kafkajs: `value` is the compact JWS the broker validates. */
export interface OauthBearerToken {
  value: string;
}
export type OauthBearerProvider = () => Promise<OauthBearerToken>;

/** TLS to the brokers. PEM texts are read (and checked) when the configuration is compiled. */
export interface KafkaTls {
  /** PEM of the CA(s) to trust, and the file it came from; null: the system's CAs. */
  ca: { pem: string; location: string } | null;
  /** Client certificate and key for mutual TLS; null: none offered. */
  client: {
    certificatePem: string;
    certificateLocation: string;
    key: Secret;
    keyLocation: string;
    keyPassword: Secret | null;
  } | null;
  /** False only when KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none (test clusters). */
  verifyHostname: boolean;
}

export type KafkaSasl =
  | { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: Secret }
  | {
      mechanism: 'OAUTHBEARER';
      /** A module whose default export is an OauthBearerProvider (KAFKA_SASL_OAUTHBEARER_PROVIDER). */
      providerModule: string | null;
      /** Given in code (createKafkaTransport's caller); wins over providerModule. */
      provider?: OauthBearerProvider;
    };

/** How to talk to the brokers: over which protocol, with which credentials. */
export interface KafkaSecurity {
  protocol: SecurityProtocol;
  /** Set exactly when the protocol is SSL or SASL_SSL. */
  tls: KafkaTls | null;
  /** Set exactly when the protocol is SASL_PLAINTEXT or SASL_SSL. */
  sasl: KafkaSasl | null;
}

/** No TLS, no login: a local broker's PLAINTEXT listener. */
export const PLAINTEXT: KafkaSecurity = { protocol: 'PLAINTEXT', tls: null, sasl: null };

/** The kafkajs settings for a connection: brokers, `ssl` and `sasl`. Every Kafka client Sluice makes goes through here. */
export function kafkajsConnectionConfig(
  brokers: string[],
  security: KafkaSecurity = PLAINTEXT,
): Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'> {
  return { brokers, ssl: tlsOptions(security.tls), sasl: saslOptions(security.sasl) };
}

function tlsOptions(tls: KafkaTls | null): ConnectionOptions | undefined {
  if (!tls) return undefined;
  return {
    rejectUnauthorized: true,
    ...(tls.ca ? { ca: [tls.ca.pem] } : {}),
    ...(tls.client
      ? {
          cert: tls.client.certificatePem,
          key: tls.client.key.reveal(),
          ...(tls.client.keyPassword ? { passphrase: tls.client.keyPassword.reveal() } : {}),
        }
      : {}),
    // The chain is still verified; only the match between the broker's name and its certificate is skipped.
    ...(tls.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
  };
}

function saslOptions(sasl: KafkaSasl | null): SASLOptions | undefined {
  if (!sasl) return undefined;
  switch (sasl.mechanism) {
    case 'PLAIN':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password.reveal() };
    case 'SCRAM-SHA-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password.reveal() };
    case 'SCRAM-SHA-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password.reveal() };
    case 'OAUTHBEARER':
      return { mechanism: 'oauthbearer', oauthBearerProvider: oauthBearerProvider(sasl) };
  }
}

function oauthBearerProvider(sasl: Extract<KafkaSasl, { mechanism: 'OAUTHBEARER' }>): OauthBearerProvider {
  if (sasl.provider) return sasl.provider;
  const module = sasl.providerModule;
  if (!module) {
    return async () => {
      throw new KafkaConnectionError(
        'KAFKA_SASL_OAUTHBEARER_PROVIDER',
        'OAUTHBEARER needs a token provider: a module path here, or `oauthBearerProvider` in code',
      );
    };
  }
  let loaded: Promise<OauthBearerProvider> | null = null;
  return async () => {
    loaded ??= import(module).then((exports: { default?: unknown }) => {
      if (typeof exports.default !== 'function') {
        throw new KafkaConnectionError('KAFKA_SASL_OAUTHBEARER_PROVIDER', `${module} has no default export function`);
      }
      return exports.default as OauthBearerProvider;
    });
    return (await loaded)();
  };
}

/**
 * The brokers refused Sluice's connection settings: a wrong password, an untrusted certificate, a
 * protocol the listener does not speak. Retrying cannot help; the message names the setting to fix
 * and carries the broker's (or the TLS layer's) answer, never a secret.
 */
export class KafkaConnectionError extends SluiceError {
  constructor(
    readonly variable: string,
    readonly reason: string,
    cause?: unknown,
    retriable = false,
  ) {
    super('kafka_connection_refused', `${variable}: ${reason}`, { retriable, cause });
  }
}

/** What went wrong on one connection attempt, and whether another attempt may go differently. */
export interface ConnectionDiagnosis {
  /** false: a setting is wrong (fail now); true: the broker may come (back) up. */
  transient: boolean;
  /** Transient failures that are also a typical sign of a wrong protocol (the broker hung up on us). */
  suspectProtocol: boolean;
  error: KafkaConnectionError;
}

const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);
/**
 * TLS alerts a broker sends when it refuses (or misses) the client certificate. OpenSSL names the
 * same alert differently by release (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE` in 3.0,
 * `ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE` in 3.2+, as Node 24 ships), so only the alert is compared.
 */
const CLIENT_CERTIFICATE_ALERTS = new Set([
  'BAD_CERTIFICATE',
  'CERTIFICATE_REQUIRED',
  'UNKNOWN_CA',
  'CERTIFICATE_UNKNOWN',
  'ACCESS_DENIED',
  'CERTIFICATE_EXPIRED',
]);
function isClientCertificateAlert(code: string): boolean {
  const alert = /^ERR_SSL_.*ALERT_([A-Z_]+)$/.exec(code);
  return alert?.[1] !== undefined && CLIENT_CERTIFICATE_ALERTS.has(alert[1]);
}
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

interface ErrorFacts {
  names: string[];
  codes: string[];
  types: string[];
  /** The innermost message: the broker's or the TLS layer's own words. */
  message: string;
}

function factsOf(error: unknown): ErrorFacts {
  const facts: ErrorFacts = { names: [], codes: [], types: [], message: '' };
  let current: unknown = error;
  for (let depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    const e = current as {
      name?: unknown;
      code?: unknown;
      type?: unknown;
      message?: unknown;
      cause?: unknown;
      originalError?: unknown;
    };
    if (typeof e.name === 'string') facts.names.push(e.name);
    if (typeof e.code === 'string') facts.codes.push(e.code);
    if (typeof e.type === 'string') facts.types.push(e.type);
    if (typeof e.message === 'string' && e.message) facts.message = e.message.split('\n')[0] as string;
    current = e.cause ?? e.originalError;
  }
  facts.message = facts.message.replace(/^Connection error: /, '');
  // OpenSSL's own text ("80AC…:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad
  // certificate:../deps/openssl/…") is cut down to the part a person can act on.
  const openssl = /error:[0-9A-F]+:SSL routines:[^:]*:([^:]+)/.exec(facts.message);
  if (openssl?.[1]) facts.message = `TLS: ${openssl[1]}`;
  return facts;
}

/**
 * Reads a failed connection attempt the way an operator would: which setting is most likely wrong,
 * and whether waiting could help. One table for every Kafka client Sluice makes.
 */
export function diagnoseKafkaError(error: unknown, brokers: string[], security: KafkaSecurity): ConnectionDiagnosis {
  if (error instanceof KafkaConnectionError) return { transient: error.retriable, suspectProtocol: false, error };
  const facts = factsOf(error);
  const at = brokers.join(',');
  const { protocol, tls, sasl } = security;
  const has = (set: Set<string>) => facts.codes.some((code) => set.has(code));
  const fatal = (variable: string, reason: string): ConnectionDiagnosis => ({
    transient: false,
    suspectProtocol: false,
    error: new KafkaConnectionError(variable, reason, error),
  });

  if (facts.names.includes('KafkaJSSASLAuthenticationError')) {
    if (/not supported by the server/i.test(facts.message)) {
      return fatal(
        'KAFKA_SASL_MECHANISM',
        `the broker at ${at} does not offer ${sasl?.mechanism} on this listener (${facts.message})`,
      );
    }
    if (sasl?.mechanism === 'OAUTHBEARER') {
      return fatal(
        'KAFKA_SASL_OAUTHBEARER_PROVIDER',
        `the broker at ${at} refused the OAUTHBEARER token: ${facts.message}`,
      );
    }
    const user = sasl ? ` of user "${sasl.username}" with ${sasl.mechanism}` : '';
    return fatal(
      'KAFKA_SASL_PASSWORD',
      `the broker at ${at} refused the SASL login${user} (check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD): ${facts.message}`,
    );
  }
  if (facts.types.includes('ILLEGAL_SASL_STATE') || facts.types.includes('UNSUPPORTED_SASL_MECHANISM')) {
    return fatal(
      'KAFKA_SECURITY_PROTOCOL',
      `${protocol}, but the listener at ${at} takes no SASL login (it answered: ${facts.message}); use ${tls ? 'SSL' : 'PLAINTEXT'} for it, or the broker's SASL listener`,
    );
  }
  if (has(UNTRUSTED_CERTIFICATE)) {
    const trust = tls?.ca ? `the CA in ${tls.ca.location}` : 'the system CAs (KAFKA_SSL_CA_LOCATION is unset)';
    return fatal(
      'KAFKA_SSL_CA_LOCATION',
      `the certificate of the broker at ${at} is not trusted by ${trust}: ${facts.message}`,
    );
  }
  if (facts.codes.includes('ERR_TLS_CERT_ALTNAME_INVALID')) {
    return fatal(
      'KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM',
      `the certificate of the broker at ${at} is not issued for that name (${facts.message}); use the name it was issued for in KAFKA_BROKERS, or set this to none on test clusters only`,
    );
  }
  if (facts.codes.some(isClientCertificateAlert)) {
    const offered = tls?.client
      ? `refused the client certificate in ${tls.client.certificateLocation}`
      : 'wants a client certificate (mutual TLS) and none is set (KAFKA_SSL_CERTIFICATE_LOCATION, KAFKA_SSL_KEY_LOCATION)';
    return fatal('KAFKA_SSL_CERTIFICATE_LOCATION', `the broker at ${at} ${offered}: ${facts.message}`);
  }
  if (
    tls &&
    (facts.codes.some((code) => code.startsWith('ERR_SSL_')) || /before secure TLS connection/i.test(facts.message))
  ) {
    return fatal(
      'KAFKA_SECURITY_PROTOCOL',
      `${protocol}, but the TLS handshake with ${at} failed (${facts.message}); is it a PLAINTEXT or SASL_PLAINTEXT listener?`,
    );
  }
  if (has(UNREACHABLE) || /Connection timeout|ECONNREFUSED/i.test(facts.message)) {
    return {
      transient: true,
      suspectProtocol: false,
      error: new KafkaConnectionError('KAFKA_BROKERS', `no broker answers at ${at}: ${facts.message}`, error, true),
    };
  }
  // kafkajs 2.2.4 takes the broker's OAUTHBEARER refusal ({"status":"invalid_token"}) for a
  // success; the broker then hangs up, and kafkajs reports an empty broker pool.
  if (
    sasl?.mechanism === 'OAUTHBEARER' &&
    (facts.names.includes('KafkaJSConnectionClosedError') ||
      /Closed connection|No brokers in the broker pool/i.test(facts.message))
  ) {
    return {
      transient: true,
      suspectProtocol: true,
      error: new KafkaConnectionError(
        'KAFKA_SASL_OAUTHBEARER_PROVIDER',
        `the broker at ${at} hung up after the OAUTHBEARER login: it most likely refused the token (expired, wrong audience or signature)`,
        error,
        true,
      ),
    };
  }
  if (
    facts.names.includes('KafkaJSConnectionClosedError') ||
    /Closed connection|ECONNRESET|socket hang up/i.test(facts.message)
  ) {
    const expects = [
      tls ? null : 'TLS (SSL, SASL_SSL)',
      sasl ? null : 'a SASL login (SASL_PLAINTEXT, SASL_SSL)',
    ].filter(Boolean);
    const hint = expects.length ? `; the listener probably expects ${expects.join(' or ')}` : '';
    return {
      transient: true,
      suspectProtocol: true,
      error: new KafkaConnectionError(
        'KAFKA_SECURITY_PROTOCOL',
        `${protocol}, but the broker at ${at} closed the connection before answering${hint}`,
        error,
        true,
      ),
    };
  }
  return {
    transient: true,
    suspectProtocol: false,
    error: new KafkaConnectionError('KAFKA_BROKERS', `${at}: ${facts.message || String(error)}`, error, true),
  };
}

export interface CheckKafkaOptions {
  brokers: string[];
  security?: KafkaSecurity;
  clientId?: string;
  /** How long a broker that is not (yet) reachable is waited for. Default 60000 ms. */
  deadlineMs?: number;
  /** Default 3000 ms. */
  connectionTimeoutMs?: number;
  /** Told about each transient failure before the next attempt. */
  onRetry?: (error: KafkaConnectionError, delayMs: number) => void;
}

/** A broker that hung up this many times in a row is taken to speak another protocol. */
const SUSPECT_LIMIT = 3;

/**
 * How long a connection attempt may take. kafkajs's own 1 s is too short for a TLS handshake to a
 * managed cluster across a region; 3 s is what Sluice's clients use everywhere.
 */
export const KAFKA_CONNECTION_TIMEOUT_MS = 3000;

/**
 * The first connect: 250 ms doubling to 5 s between tries, until the check's deadline
 * (`deadlineMs`, 60 s by default) would pass; only transient failures are retried (the
 * KafkaConnectionError's own `retriable` flag).
 */
const KAFKA_CONNECT_RETRY: RetryPolicy = {
  maxAttempts: Infinity,
  initialMs: 250,
  maxMs: 5000,
  giveUpAfterMs: 60_000,
};

/**
 * Opens one connection with the given settings and asks for the cluster's metadata. A setting the
 * broker refuses (login, certificate, protocol) fails at once with a KafkaConnectionError naming
 * it; a broker that is not reachable yet is retried, with growing pauses, until the deadline.
 * Start-up calls this before anything else, so a wrong setting stops a role in seconds instead of
 * leaving kafkajs to reconnect for a minute and fail with a bare "Closed connection".
 */
export async function checkKafkaConnection(options: CheckKafkaOptions): Promise<void> {
  const security = options.security ?? PLAINTEXT;
  let suspects = 0;
  const policy: RetryPolicy = {
    ...KAFKA_CONNECT_RETRY,
    ...(options.deadlineMs === undefined ? {} : { giveUpAfterMs: options.deadlineMs }),
    onRetry: (error, _attempt, delayMs) => options.onRetry?.(error as KafkaConnectionError, delayMs),
  };
  await retrying(policy, async () => {
    const admin = new Kafka({
      clientId: options.clientId ?? 'sluice-connection-check',
      ...kafkajsConnectionConfig(options.brokers, security),
      connectionTimeout: options.connectionTimeoutMs ?? KAFKA_CONNECTION_TIMEOUT_MS,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
    } catch (error) {
      const diagnosis = diagnoseKafkaError(error, options.brokers, security);
      suspects = diagnosis.suspectProtocol ? suspects + 1 : 0;
      // Not retriable: a hang-up that keeps happening is taken for a wrong protocol setting.
      if (suspects >= SUSPECT_LIMIT) {
        throw new KafkaConnectionError(diagnosis.error.variable, diagnosis.error.reason, error);
      }
      throw diagnosis.error;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  });
}
