import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { Infra } from './infra.js';

/** The broker and registry resolved by the global setup. */
export function infra(): Infra {
  return inject('infra');
}

/**
 * The environment that puts a Sluice process's store on the test S3 server, under a key prefix
 * no other test uses (one bucket for all tests).
 */
export function s3Env(label: string): Record<string, string> {
  const { s3 } = infra();
  return {
    SLUICE_STORAGE_URL: `s3://sluice-tests/${uniquePrefix(label)}`,
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** A topic prefix no other test uses, so test files can run side by side on one broker. */
export function uniquePrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`;
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
