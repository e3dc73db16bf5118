import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Secret } from '../config/secret.js';
import { SluiceError } from '../errors.js';

/** How Sluice authenticates to the schema registry and which CA it trusts for an https URL. */
export interface RegistryAccess {
  /** HTTP basic authentication (SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO); null: none. */
  basicAuth: { username: string; password: Secret } | null;
  /** PEM of the CA(s) to trust (SCHEMA_REGISTRY_SSL_CA_LOCATION); null: the system's CAs. */
  ca: { pem: string; location: string } | null;
}

export const OPEN_REGISTRY: RegistryAccess = { basicAuth: null, ca: null };

/**
 * The registry refused Sluice (401/403), or its certificate is not trusted: the message names the
 * setting and carries the registry's answer; waiting will not help.
 */
export class RegistryAccessError extends SluiceError {
  constructor(
    readonly variable: string,
    reason: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super('schema_registry_refused', `${variable}: ${reason}`, options);
  }
}

/** One agent per registry URL and CA: keep-alive connections, and the CA when one is given. */
export function registryAgent(url: string, access: RegistryAccess): HttpAgent | undefined {
  if (!url.startsWith('https:')) return undefined;
  return new HttpsAgent({ keepAlive: true, ...(access.ca ? { ca: [access.ca.pem] } : {}) });
}

export function registryAuthorization(access: RegistryAccess): string | undefined {
  if (!access.basicAuth) return undefined;
  const { username, password } = access.basicAuth;
  return `Basic ${Buffer.from(`${username}:${password.reveal()}`).toString('base64')}`;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Reads a failed registry call: a refused login or an untrusted certificate is a setting to fix
 * (RegistryAccessError, not retriable); anything else is returned as null (maybe transient).
 */
export function diagnoseRegistryError(error: unknown, url: string, access: RegistryAccess): RegistryAccessError | null {
  if (error instanceof RegistryAccessError) return error;
  let current: unknown = error;
  for (let depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    const e = current as { code?: unknown; status?: unknown; message?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && UNTRUSTED.has(e.code)) {
      const trust = access.ca
        ? `the CA in ${access.ca.location}`
        : 'the system CAs (SCHEMA_REGISTRY_SSL_CA_LOCATION is unset)';
      return new RegistryAccessError(
        'SCHEMA_REGISTRY_SSL_CA_LOCATION',
        `the certificate of the registry at ${url} is not trusted by ${trust}: ${String(e.message)}`,
        { cause: error },
      );
    }
    const status = typeof e.status === 'number' ? e.status : null;
    if (status === 401 || status === 403) {
      const who = access.basicAuth
        ? `refused the credentials of user "${access.basicAuth.username}"`
        : 'wants credentials and none are set';
      return new RegistryAccessError(
        'SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO',
        `the registry at ${url} ${who} (HTTP ${status})`,
        { cause: error },
      );
    }
    current = e.cause;
  }
  return null;
}

/**
 * `GET <url>/subjects` with the configured credentials and CA: resolves when the registry answers
 * 200; throws a RegistryAccessError for a refused login or certificate, another error otherwise.
 * The readiness probe and start-up both use it.
 */
export async function checkRegistry(url: string, access: RegistryAccess, timeoutMs = 3000): Promise<void> {
  const target = new URL(`${url.replace(/\/+$/, '')}/subjects`);
  const authorization = registryAuthorization(access);
  const agent = registryAgent(url, access);
  try {
    const status = await new Promise<number>((resolveStatus, reject) => {
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method: 'GET',
          agent,
          headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
          timeout: timeoutMs,
        },
        (response) => {
          response.resume();
          resolveStatus(response.statusCode ?? 0);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
    if (status === 200) return;
    const refused = diagnoseRegistryError({ status }, url, access);
    if (refused) throw refused;
    throw new SluiceError('schema_registry_unavailable', `the registry at ${url} answered HTTP ${status}`, {
      retriable: true,
    });
  } catch (error) {
    throw diagnoseRegistryError(error, url, access) ?? error;
  } finally {
    agent?.destroy();
  }
}
