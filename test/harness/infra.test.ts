import { describe, expect, it } from 'vitest';
import { checkBroker, checkRegistry, InfraUnavailableError, resolveInfra } from './infra.js';

describe('the integration-test harness without infrastructure', () => {
  it('fails, naming `pnpm kafka:up`, when the configured broker does not answer', async () => {
    const error = await checkBroker(['127.0.0.1:1']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfraUnavailableError);
    expect((error as Error).message).toMatch(/No Kafka broker answers at 127\.0\.0\.1:1/);
    expect((error as Error).message).toContain('pnpm kafka:up');
  });

  it('fails, naming `pnpm kafka:up`, when the registry does not answer', async () => {
    await expect(checkRegistry('http://127.0.0.1:1/apis/ccompat/v7')).rejects.toThrow(/pnpm kafka:up/);
  });

  it('refuses a broker without a registry instead of skipping', async () => {
    await expect(resolveInfra({ KAFKA_BROKERS: '127.0.0.1:1' })).rejects.toThrow(/SCHEMA_REGISTRY_URL is not\./);
  });
});
