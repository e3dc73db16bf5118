import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DependencyHealth, isUnreachableError } from './dependency-health.js';
import { createLogger } from './logger.js';

function recorder() {
  const lines: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'test', level: 'debug', destination }) };
}

async function gauge(registry: Registry, dependency: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric('sluice_dependency_up')?.get();
  return metric?.values.find((v) => v.labels.dependency === dependency)?.value;
}

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });

describe('DependencyHealth', () => {
  it('reports an outage once, whatever the number of failed calls, and its end once', async () => {
    const { lines, logger } = recorder();
    const registry = new Registry();
    const health = new DependencyHealth({ logger, registry });
    health.watch('store');
    expect(await gauge(registry, 'store')).toBe(1);
    for (let i = 0; i < 500; i++) health.unreachable('store', refused);
    expect(await gauge(registry, 'store')).toBe(0);
    expect(health.checks()).toEqual([
      {
        name: 'store',
        ok: false,
        error: expect.stringMatching(/^unreachable for 0 s: connect ECONNREFUSED/) as string,
      },
    ]);
    health.answered('store');
    expect(await gauge(registry, 'store')).toBe(1);
    expect(lines.filter((l) => l.level >= 30).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^store unreachable: connect ECONNREFUSED .*waits and resumes/) as string,
      expect.stringMatching(/^store answers again after/) as string,
    ]);
  });

  it('ignores a failure of a call that began before the dependency came back', () => {
    const { logger } = recorder();
    const health = new DependencyHealth({ logger, registry: null });
    const startedMs = Date.now() - 1000;
    health.unreachable('upstream', refused);
    health.answered('upstream');
    health.unreachable('upstream', refused, startedMs);
    expect(health.isDown('upstream')).toBe(false);
  });

  it('probes a dependency that is down until it answers, and lets waiting calls go', async () => {
    const { logger } = recorder();
    let answers = false;
    const health = new DependencyHealth({ logger, registry: null, probeIntervalMs: 20 });
    health.watch('upstream', async () => {
      if (!answers) throw refused;
    });
    health.unreachable('upstream', refused);
    const waiting = health.untilAnswering('upstream');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(health.isDown('upstream')).toBe(true);
    answers = true;
    await waiting;
    expect(health.isDown('upstream')).toBe(false);
    health.close();
  });

  it('warns once a minute about a link that keeps dropping; the gauge follows every drop', () => {
    const { lines, logger } = recorder();
    const health = new DependencyHealth({ logger, registry: null });
    for (let i = 0; i < 5; i++) {
      health.unreachable('broker', refused, Date.now() + 1);
      expect(health.isDown('broker')).toBe(true);
      health.answered('broker');
    }
    expect(lines.filter((l) => l.level >= 40)).toHaveLength(1);
  });
});

describe('isUnreachableError', () => {
  it('tells a lost service from an answer about the request', () => {
    expect(isUnreachableError(refused)).toBe(true);
    expect(isUnreachableError({ name: 'TimeoutError' })).toBe(true);
    expect(isUnreachableError({ $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isUnreachableError(new Error('wrapped', { cause: refused }))).toBe(true);
    expect(isUnreachableError({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isUnreachableError(new Error('bad input'))).toBe(false);
  });
});
