import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_GZIP_BUDGET_BYTES, dashboardDirectory } from './index.js';

/** The dashboard's size budget, on the files the build wrote (`pnpm -r build` runs before the tests). */
describe('dashboard build', () => {
  it(`keeps JS and CSS within ${DASHBOARD_GZIP_BUDGET_BYTES / 1024} KiB gzipped, all served from its own files`, async () => {
    const assets = join(dashboardDirectory, 'assets');
    const names = (await readdir(assets)).filter((name) => /\.(js|css)$/.test(name));
    expect(names.some((name) => name.endsWith('.js'))).toBe(true);
    expect(names.some((name) => name.endsWith('.css'))).toBe(true);
    let gzipped = 0;
    for (const name of names) gzipped += gzipSync(await readFile(join(assets, name)), { level: 9 }).length;
    console.log(`dashboard JS+CSS: ${(gzipped / 1024).toFixed(1)} KiB gzipped`);
    expect(gzipped).toBeLessThanOrEqual(DASHBOARD_GZIP_BUDGET_BYTES);
    // Offline: the page names no other origin for scripts or styles.
    const index = await readFile(join(dashboardDirectory, 'index.html'), 'utf8');
    expect(index).not.toMatch(/(src|href)="(https?:)?\/\//);
  });
});
