import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { RegistryAccess } from '../serde/registry-access.js';
import type { KafkaSecurity, KafkaTls, KafkaSasl } from '../transport/kafka-connection.js';
import type { Env } from './env.js';
import { Secret } from './secret.js';

function readPem(variable: string, location: string): string {
  try {
    return readFileSync(location, 'utf8');
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${location}: ${(error as Error).message}`);
  }
}

/** Reads a PEM file of one or more certificates and checks that it holds at least one. */
function readCertificates(variable: string, location: string): string {
  const pem = readPem(variable, location);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(variable, `${location} holds no PEM certificate`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(variable, `${location}: not a valid certificate (${(error as Error).message})`);
    }
  }
  return pem;
}

function compileTls(env: Env): KafkaTls {
  const caLocation = env.KAFKA_SSL_CA_LOCATION;
  const certificateLocation = env.KAFKA_SSL_CERTIFICATE_LOCATION;
  const keyLocation = env.KAFKA_SSL_KEY_LOCATION;
  if (Boolean(certificateLocation) !== Boolean(keyLocation)) {
    const missing = certificateLocation ? 'KAFKA_SSL_KEY_LOCATION' : 'KAFKA_SSL_CERTIFICATE_LOCATION';
    throw new ConfigError(missing, 'mutual TLS needs both KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION');
  }
  let client: KafkaTls['client'] = null;
  if (certificateLocation && keyLocation) {
    const certificatePem = readCertificates('KAFKA_SSL_CERTIFICATE_LOCATION', certificateLocation);
    const keyPem = readPem('KAFKA_SSL_KEY_LOCATION', keyLocation);
    const keyPassword = env.KAFKA_SSL_KEY_PASSWORD ? new Secret(env.KAFKA_SSL_KEY_PASSWORD) : null;
    let key;
    try {
      key = createPrivateKey({ key: keyPem, passphrase: keyPassword?.reveal() });
    } catch (error) {
      const encrypted = /ENCRYPTED/.test(keyPem);
      throw new ConfigError(
        encrypted ? 'KAFKA_SSL_KEY_PASSWORD' : 'KAFKA_SSL_KEY_LOCATION',
        encrypted
          ? `cannot decrypt the key in ${keyLocation} (${(error as Error).message})`
          : `${keyLocation} holds no usable PEM private key (${(error as Error).message})`,
      );
    }
    const certificate = new X509Certificate(certificatePem);
    if (!certificate.checkPrivateKey(key)) {
      throw new ConfigError(
        'KAFKA_SSL_KEY_LOCATION',
        `the key in ${keyLocation} does not belong to the certificate in ${certificateLocation}`,
      );
    }
    client = { certificatePem, certificateLocation, key: new Secret(keyPem), keyLocation, keyPassword };
  }
  return {
    ca: caLocation ? { pem: readCertificates('KAFKA_SSL_CA_LOCATION', caLocation), location: caLocation } : null,
    client,
    verifyHostname: env.KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM !== 'none',
  };
}

function compileSasl(env: Env): KafkaSasl {
  const mechanism = env.KAFKA_SASL_MECHANISM;
  if (!mechanism) {
    throw new ConfigError(
      'KAFKA_SASL_MECHANISM',
      `required with KAFKA_SECURITY_PROTOCOL=${env.KAFKA_SECURITY_PROTOCOL}: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`,
    );
  }
  if (mechanism === 'OAUTHBEARER') {
    const module = env.KAFKA_SASL_OAUTHBEARER_PROVIDER;
    return { mechanism, providerModule: module ? (isAbsolute(module) ? module : resolve(module)) : null };
  }
  if (!env.KAFKA_SASL_USERNAME)
    throw new ConfigError('KAFKA_SASL_USERNAME', `required with KAFKA_SASL_MECHANISM=${mechanism}`);
  if (!env.KAFKA_SASL_PASSWORD) {
    throw new ConfigError(
      'KAFKA_SASL_PASSWORD',
      `required with KAFKA_SASL_MECHANISM=${mechanism} (or KAFKA_SASL_PASSWORD_FILE)`,
    );
  }
  return { mechanism, username: env.KAFKA_SASL_USERNAME, password: new Secret(env.KAFKA_SASL_PASSWORD) };
}

/**
 * Compiles the KAFKA_SECURITY_PROTOCOL family into what the Kafka clients use. Every file is read
 * and checked here (a CA file that holds no certificate, a key that does not match its certificate,
 * a wrong key password), so such mistakes stop the process at start-up with the variable's name,
 * before any connection is tried. Settings that the chosen protocol would ignore are refused: they
 * are a sign that the protocol is not the one meant.
 */
export function compileKafkaSecurity(env: Env): KafkaSecurity {
  const protocol = env.KAFKA_SECURITY_PROTOCOL;
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  const tlsVariables = [
    'KAFKA_SSL_CA_LOCATION',
    'KAFKA_SSL_CERTIFICATE_LOCATION',
    'KAFKA_SSL_KEY_LOCATION',
    'KAFKA_SSL_KEY_PASSWORD',
  ] as const;
  const saslVariables = [
    'KAFKA_SASL_MECHANISM',
    'KAFKA_SASL_USERNAME',
    'KAFKA_SASL_PASSWORD',
    'KAFKA_SASL_OAUTHBEARER_PROVIDER',
  ] as const;
  const stray = [...(usesTls ? [] : tlsVariables), ...(usesSasl ? [] : saslVariables)].find((name) => env[name]);
  if (stray) {
    throw new ConfigError(
      'KAFKA_SECURITY_PROTOCOL',
      `${protocol} does not use ${stray}, which is set: is ${protocol} the protocol you meant?`,
    );
  }
  return { protocol, tls: usesTls ? compileTls(env) : null, sasl: usesSasl ? compileSasl(env) : null };
}

/** SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO and SCHEMA_REGISTRY_SSL_CA_LOCATION, read and checked. */
export function compileRegistryAccess(env: Env): RegistryAccess {
  const userInfo = env.SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO;
  const at = userInfo ? userInfo.indexOf(':') : -1;
  const caLocation = env.SCHEMA_REGISTRY_SSL_CA_LOCATION;
  if (caLocation && env.SCHEMA_REGISTRY_URL && !env.SCHEMA_REGISTRY_URL.startsWith('https:')) {
    throw new ConfigError('SCHEMA_REGISTRY_SSL_CA_LOCATION', `set, but SCHEMA_REGISTRY_URL is not an https URL`);
  }
  return {
    basicAuth: userInfo ? { username: userInfo.slice(0, at), password: new Secret(userInfo.slice(at + 1)) } : null,
    ca: caLocation
      ? { pem: readCertificates('SCHEMA_REGISTRY_SSL_CA_LOCATION', caLocation), location: caLocation }
      : null,
  };
}
