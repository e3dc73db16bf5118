import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniquePrefix } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl, readJsonl, waitForStatus } from '../harness/http.js';
import { freePort, spawnSluice, type SluiceProcess } from '../harness/process.js';
import { secureBroker } from '../harness/secure.js';

/**
 * Sluice against a real broker's secured listeners (kafka.sh up --secure): SASL_SSL with SCRAM,
 * mutual TLS, and an HTTPS registry with basic authentication. Sluice runs as its own process, as
 * deployed, with debug logs, and no log line may carry a secret.
 */
const broker = secureBroker();
let simulator: Simulator;
const dataDirs: string[] = [];
const processes: SluiceProcess[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
});
afterAll(async () => {
  for (const p of processes) p.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
  await simulator?.close();
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function expectNoSecret(lines: string[]) {
  for (const secret of broker.secrets) {
    const leaked = lines.find((line) => line.includes(secret));
    expect(leaked, 'a log line carries a secret').toBeUndefined();
  }
}

/** Runs one batch end to end through `sluice serve` with the given connection settings. */
async function batchEndToEnd(label: string, connection: Record<string, string>) {
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-${label}-`));
  dataDirs.push(dataDir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serve = spawnSluice(['serve'], {
    ...connection,
    SLUICE_TOPIC_PREFIX: uniquePrefix(label),
    SLUICE_PARTITIONS: '2',
    SLUICE_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(port),
    OPENAI_BASE_URL: simulator.url,
    SLUICE_STATUS_INTERVAL_MS: '200',
    SLUICE_COMMIT_INTERVAL_MS: '200',
    LOG_LEVEL: 'debug',
  });
  processes.push(serve);
  await serve.waitForOutput(/sluice is running/, 90_000);

  const ready = await getJson<{ status: string; checks: { name: string; ok: boolean }[] }>(`${url}/readyz`);
  expect(ready.status).toBe(200);
  expect(ready.body.checks.filter((c) => c.name === 'kafka' || c.name === 'schema_registry')).toEqual([
    { name: 'kafka', ok: true },
    { name: 'schema_registry', ok: true },
  ]);

  const lines = domainLines(12, label);
  const submitted = await postJsonl(url, lines);
  expect(submitted.status).toBe(200);
  const batch = await waitForStatus(url, submitted.body.id as string);
  expect(batch.status).toBe('completed');
  expect(batch.request_counts).toEqual({ total: 12, completed: 12, failed: 0, cancelled: 0, expired: 0 });
  const output = await readJsonl<{ custom_id: string; error: unknown }>(`${url}/v1/batches/${batch.id}/output`);
  expect(output.map((line) => line.custom_id).sort()).toEqual(lines.map((line) => line.custom_id).sort());
  expect(output.every((line) => line.error === null)).toBe(true);

  serve.kill('SIGTERM');
  expect(await serve.exited).toBe(0);
  // Debug logs include kafkajs' own connection lines: proof the check below had something to read.
  expect(serve.output.length).toBeGreaterThan(5);
  expectNoSecret(serve.output);
}

/** Runs `sluice <args>` to its end; returns the exit code, the time it took, and its output. */
async function runToExit(args: string[], env: Record<string, string>) {
  const started = Date.now();
  const child = spawnSluice(args, { LOG_LEVEL: 'debug', HOST: '127.0.0.1', PORT: '0', ...env });
  processes.push(child);
  const code = await child.exited;
  return { code, ms: Date.now() - started, output: child.output, last: child.output.filter(Boolean).at(-1) ?? '' };
}

describe('a batch end to end on a secured broker', () => {
  it('over SASL_SSL with SCRAM-SHA-512, and an HTTPS registry with basic authentication', async () => {
    await batchEndToEnd('sasl-ssl', broker.saslSsl);
  });

  it('over mutual TLS (SSL with a client certificate)', async () => {
    await batchEndToEnd('mtls', broker.mtls);
  });
});

describe('refused settings stop the role at start-up, in seconds, with one line naming the setting', () => {
  const serve = (env: Record<string, string>) =>
    runToExit(['serve', '--role', 'processor'], { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', ...env });

  it('a wrong SASL password', async () => {
    const result = await serve({
      ...broker.saslSsl,
      KAFKA_SASL_PASSWORD_FILE: '',
      KAFKA_SASL_PASSWORD: 'not-the-password',
    });
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.last).toMatch(
      /^sluice: KAFKA_SASL_PASSWORD: the broker at 127\.0\.0\.1:\d+ refused the SASL login of user "sluice" with SCRAM-SHA-512 .*invalid credentials/,
    );
    expectNoSecret(result.output);
    expect(result.output.some((line) => line.includes('not-the-password'))).toBe(false);
  });

  it('a CA that did not sign the broker certificate', async () => {
    const result = await serve({ ...broker.saslSsl, KAFKA_SSL_CA_LOCATION: broker.file('untrusted-ca.pem') });
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.last).toMatch(
      /^sluice: KAFKA_SSL_CA_LOCATION: the certificate of the broker at 127\.0\.0\.1:\d+ is not trusted by the CA in .*untrusted-ca\.pem: unable to verify/,
    );
  });

  it('no client certificate on the mutual-TLS listener', async () => {
    const withoutCertificate = { ...broker.mtls };
    delete withoutCertificate.KAFKA_SSL_CERTIFICATE_LOCATION;
    delete withoutCertificate.KAFKA_SSL_KEY_LOCATION;
    const result = await serve(withoutCertificate);
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.last).toMatch(/^sluice: KAFKA_SSL_CERTIFICATE_LOCATION: the broker at .* wants a client certificate/);
  });

  it('PLAINTEXT against the SASL_SSL listener', async () => {
    const result = await serve({ KAFKA_BROKERS: broker.saslSsl.KAFKA_BROKERS as string });
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.last).toMatch(
      /^sluice: KAFKA_SECURITY_PROTOCOL: PLAINTEXT, but the broker at .* closed the connection before answering; the listener probably expects TLS/,
    );
  });

  it('SASL_SSL against the SASL_PLAINTEXT listener', async () => {
    const result = await serve({ ...broker.saslSsl, KAFKA_BROKERS: broker.saslPlaintext.KAFKA_BROKERS as string });
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.last).toMatch(/^sluice: KAFKA_SECURITY_PROTOCOL: SASL_SSL, but the TLS handshake with .* failed/);
  });

  it('wrong registry credentials, and a registry certificate from an untrusted CA', async () => {
    const badLogin = await serve({
      ...broker.saslSsl,
      SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO_FILE: '',
      SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: 'registry-user:not-the-password',
    });
    expect(badLogin.code).toBe(1);
    expect(badLogin.ms).toBeLessThan(20_000);
    expect(badLogin.last).toMatch(
      /^sluice: SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: the registry at https:\/\/.* refused the credentials of user "registry-user" \(HTTP 401\)/,
    );
    expect(badLogin.output.some((line) => line.includes('not-the-password'))).toBe(false);

    const untrusted = await serve({
      ...broker.saslSsl,
      SCHEMA_REGISTRY_SSL_CA_LOCATION: broker.file('untrusted-ca.pem'),
    });
    expect(untrusted.code).toBe(1);
    expect(untrusted.last).toMatch(
      /^sluice: SCHEMA_REGISTRY_SSL_CA_LOCATION: the certificate of the registry .* is not trusted/,
    );
  });

  it('a client key that does not belong to the client certificate is a configuration error', async () => {
    const result = await serve({ ...broker.mtls, KAFKA_SSL_KEY_LOCATION: broker.file('broker.key') });
    expect(result.code).toBe(2);
    expect(result.last).toMatch(
      /^sluice: configuration: KAFKA_SSL_KEY_LOCATION: the key in .*broker\.key does not belong to the certificate/,
    );
  });
});

describe('sluice check', () => {
  it('logs in with SCRAM-SHA-256 and PLAIN over SASL_PLAINTEXT, and reports the HTTPS registry', async () => {
    for (const mechanism of ['SCRAM-SHA-256', 'PLAIN']) {
      const result = await runToExit(['check'], { ...broker.saslPlaintext, KAFKA_SASL_MECHANISM: mechanism });
      expect(result.code, result.output.join('\n')).toBe(0);
      expect(result.output).toContain(
        `kafka: ok (${broker.saslPlaintext.KAFKA_BROKERS}, SASL_PLAINTEXT ${mechanism} as sluice)`,
      );
    }
    const tls = await runToExit(['check'], broker.saslSsl);
    expect(tls.code, tls.output.join('\n')).toBe(0);
    expect(tls.output).toContain(`schema registry: ok (${broker.saslSsl.SCHEMA_REGISTRY_URL} as registry-user)`);
  });

  it('logs in with OAUTHBEARER through a token-provider module, and names the module when the token is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-oauth-'));
    dataDirs.push(dir);
    // Unsecured tokens ("alg": "none"), which the test broker's OAUTHBEARER validator accepts.
    const provider = (expiresAt: string) => `
      const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
      export default async function token() {
        const now = Math.floor(Date.now() / 1000);
        return { value: part({ alg: 'none' }) + '.' + part({ sub: 'sluice', iat: now - 60, exp: ${expiresAt} }) + '.' };
      }`;
    await writeFile(join(dir, 'token.mjs'), provider('now + 3600'));
    await writeFile(join(dir, 'expired.mjs'), provider('now - 30'));
    const oauth = {
      KAFKA_BROKERS: broker.saslPlaintext.KAFKA_BROKERS as string,
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
    };
    const ok = await runToExit(['check'], { ...oauth, KAFKA_SASL_OAUTHBEARER_PROVIDER: join(dir, 'token.mjs') });
    expect(ok.code, ok.output.join('\n')).toBe(0);
    expect(ok.output).toContain(`kafka: ok (${oauth.KAFKA_BROKERS}, SASL_PLAINTEXT OAUTHBEARER)`);

    const refused = await runToExit(['check'], { ...oauth, KAFKA_SASL_OAUTHBEARER_PROVIDER: join(dir, 'expired.mjs') });
    expect(refused.code).toBe(1);
    expect(refused.ms).toBeLessThan(20_000);
    expect(refused.last).toMatch(
      /^sluice: KAFKA_SASL_OAUTHBEARER_PROVIDER: the broker at .* hung up after the OAUTHBEARER login/,
    );
  });

  it('says loudly that host name verification is off when asked to skip it', async () => {
    const result = await runToExit(['check'], { ...broker.mtls, KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: 'none' });
    expect(result.code).toBe(0);
    expect(result.output.some((line) => line.includes('TLS HOSTNAME VERIFICATION IS OFF'))).toBe(true);
  });
});
