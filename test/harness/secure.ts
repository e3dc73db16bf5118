import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The secured listeners of `kafka.sh up --secure` and the files it made (CA, client certificate, passwords). */
export interface SecureBroker {
  dir: string;
  /** SASL_SSL + SCRAM-SHA-512, with the HTTPS registry and its basic-auth credentials. */
  saslSsl: Record<string, string>;
  /** SSL with a client certificate (mutual TLS), with the HTTPS registry. */
  mtls: Record<string, string>;
  /** SASL_PLAINTEXT + SCRAM-SHA-256. */
  saslPlaintext: Record<string, string>;
  /** Secrets that must never appear in a log line. */
  secrets: string[];
  file(name: string): string;
}

const HINT =
  'The secured-broker tests need the broker started with its secured listeners: ' +
  '`bash scripts/infra/kafka.sh up --secure` prints SLUICE_KAFKA_SECURE_DIR (export it), ' +
  'or run `bash scripts/test-all.sh`, which does both.';

/** `export NAME=value` lines, as kafka.sh writes them, into an environment object. */
function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1]) env[match[1]] = match[2] ?? '';
  }
  return env;
}

export function secureBroker(env: Record<string, string | undefined> = process.env): SecureBroker {
  const dir = env.SLUICE_KAFKA_SECURE_DIR;
  if (!dir) throw new Error(`SLUICE_KAFKA_SECURE_DIR is not set. ${HINT}`);
  const file = (name: string) => join(dir, name);
  for (const name of ['sasl-ssl.env', 'mtls.env', 'sasl-plaintext.env', 'ca.pem', 'untrusted-ca.pem']) {
    if (!existsSync(file(name))) throw new Error(`${file(name)} is missing. ${HINT}`);
  }
  const registryUserInfo = readFileSync(file('registry-user-info'), 'utf8');
  return {
    dir,
    saslSsl: readEnvFile(file('sasl-ssl.env')),
    mtls: readEnvFile(file('mtls.env')),
    saslPlaintext: readEnvFile(file('sasl-plaintext.env')),
    secrets: [
      readFileSync(file('sasl-password'), 'utf8'),
      registryUserInfo.slice(registryUserInfo.indexOf(':') + 1),
      // The client key's body: one of its base64 lines.
      readFileSync(file('client.key'), 'utf8').split('\n')[3] ?? 'client-key',
    ],
    file,
  };
}
