import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkajsConnectionConfig } from '../transport/kafka-connection.js';
import { compileConfig } from './config.js';
import { parseEnv } from './env.js';

const compile = (env: Record<string, string>) => compileConfig(parseEnv({ KAFKA_BROKERS: 'b1:9093', ...env }));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-security-'));
  await writeFile(join(dir, 'password'), 'from-a-file\n');
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'not-a-certificate.pem'), 'hello\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Kafka connection security settings', () => {
  it('defaults to PLAINTEXT and accepts the protocol and mechanism in any case', () => {
    expect(compile({}).kafka?.security).toEqual({ protocol: 'PLAINTEXT', tls: null, sasl: null });
    const security = compile({
      KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'alice',
      KAFKA_SASL_PASSWORD: 'p4ss',
    }).kafka?.security;
    expect(security?.protocol).toBe('SASL_SSL');
    expect(security?.tls).toEqual({ ca: null, client: null, verifyHostname: true });
    expect(security?.sasl?.mechanism).toBe('SCRAM-SHA-512');
    const kafkajs = kafkajsConnectionConfig(['b1:9093'], security);
    expect(kafkajs.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'alice', password: 'p4ss' });
    expect(kafkajs.ssl).toEqual({ rejectUnauthorized: true });
  });

  it('names the missing setting of a SASL protocol', () => {
    expect(() => compile({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' })).toThrow(/^KAFKA_SASL_MECHANISM: required/);
    expect(() => compile({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN' })).toThrow(
      /^KAFKA_SASL_USERNAME: required/,
    );
    expect(() =>
      compile({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'a' }),
    ).toThrow(/^KAFKA_SASL_PASSWORD: required/);
    expect(() => compile({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'GSSAPI' })).toThrow(
      /^KAFKA_SASL_MECHANISM: /,
    );
  });

  it('refuses settings the chosen protocol would ignore', () => {
    expect(() => compile({ KAFKA_SSL_CA_LOCATION: '/ca.pem' })).toThrow(
      /^KAFKA_SECURITY_PROTOCOL: PLAINTEXT does not use KAFKA_SSL_CA_LOCATION/,
    );
    expect(() => compile({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SASL_USERNAME: 'alice' })).toThrow(
      /^KAFKA_SECURITY_PROTOCOL: SSL does not use KAFKA_SASL_USERNAME/,
    );
  });

  it('reads and checks certificate files at start-up, naming the variable', () => {
    expect(() => compile({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_LOCATION: join(dir, 'missing.pem') })).toThrow(
      /^KAFKA_SSL_CA_LOCATION: cannot read .*missing\.pem/,
    );
    expect(() =>
      compile({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_LOCATION: join(dir, 'not-a-certificate.pem') }),
    ).toThrow(/^KAFKA_SSL_CA_LOCATION: .* holds no PEM certificate/);
    expect(() => compile({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERTIFICATE_LOCATION: '/c.pem' })).toThrow(
      /^KAFKA_SSL_KEY_LOCATION: mutual TLS needs both/,
    );
  });

  it('takes a secret from <NAME>_FILE, refuses both forms at once, and never echoes a secret', () => {
    const base = { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice' };
    const config = compile({ ...base, KAFKA_SASL_PASSWORD_FILE: join(dir, 'password') });
    const sasl = config.kafka?.security.sasl;
    expect(sasl && 'password' in sasl ? sasl.password.reveal() : null).toBe('from-a-file');
    expect(JSON.stringify(config)).not.toContain('from-a-file');
    expect(inspect(config, { depth: 10 })).not.toContain('from-a-file');
    expect(String(sasl && 'password' in sasl ? sasl.password : '')).toBe('[secret]');

    expect(() =>
      compile({ ...base, KAFKA_SASL_PASSWORD: 'x', KAFKA_SASL_PASSWORD_FILE: join(dir, 'password') }),
    ).toThrow(/^KAFKA_SASL_PASSWORD_FILE: set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both/);
    expect(() => compile({ ...base, KAFKA_SASL_PASSWORD_FILE: join(dir, 'empty') })).toThrow(
      /^KAFKA_SASL_PASSWORD_FILE: .* is empty/,
    );
    expect(() => parseEnv({ SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: 'no-colon-secret' })).toThrow(
      /^SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: expected user:password \(got \[secret\]\)$/,
    );
  });

  it('splits the registry user info at the first colon and keeps the password secret', () => {
    const config = compile({ SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: 'svc:pa:ss' });
    expect(config.registryAccess.basicAuth?.username).toBe('svc');
    expect(config.registryAccess.basicAuth?.password.reveal()).toBe('pa:ss');
    expect(JSON.stringify(config)).not.toContain('pa:ss');
    expect(() =>
      compile({ SCHEMA_REGISTRY_URL: 'http://r:8081', SCHEMA_REGISTRY_SSL_CA_LOCATION: join(dir, 'x.pem') }),
    ).toThrow(/^SCHEMA_REGISTRY_SSL_CA_LOCATION: set, but SCHEMA_REGISTRY_URL is not an https URL/);
  });

  it('skips only the host name check when endpoint identification is none', () => {
    const security = compile({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: 'NONE' })
      .kafka?.security;
    expect(security?.tls?.verifyHostname).toBe(false);
    const ssl = kafkajsConnectionConfig(['b1:9093'], security).ssl as {
      rejectUnauthorized: boolean;
      checkServerIdentity: () => unknown;
    };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.checkServerIdentity()).toBeUndefined();
  });
});
