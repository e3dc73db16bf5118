import Fastify from 'fastify';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DashboardFiles, registerDashboardRoutes } from './dashboard.js';

const built = [
  { path: '/', contentType: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><p>hi</p>') },
  { path: '/assets/index-abc.js', contentType: 'text/javascript; charset=utf-8', body: Buffer.from('console.log(1)') },
];

async function app(files = built) {
  const server = Fastify();
  registerDashboardRoutes(server, DashboardFiles.from(files));
  await server.ready();
  return server;
}

describe('dashboard routes', () => {
  it('serves index.html at / (not cached) and hashed assets for good, gzipped when asked', async () => {
    const server = await app();
    const index = await server.inject({ url: '/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toContain('text/html');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.headers['content-security-policy']).toContain("default-src 'self'");
    const asset = await server.inject({ url: '/assets/index-abc.js', headers: { 'accept-encoding': 'gzip' } });
    expect(asset.headers['cache-control']).toContain('immutable');
    expect(asset.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(asset.rawPayload).toString()).toBe('console.log(1)');
  });

  it('answers only the built paths: anything else under /assets is a 404, never a file read', async () => {
    const server = await app();
    for (const url of ['/assets/../package.json', '/assets/%2e%2e%2fpackage.json', '/assets/other.js', '/assets/']) {
      expect((await server.inject({ url })).statusCode).toBe(404);
    }
  });

  it('says how to build the dashboard when it was not built', async () => {
    const server = await app([]);
    const response = await server.inject({ url: '/' });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('dashboard_not_built');
  });
});
