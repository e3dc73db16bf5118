import { readFile } from 'node:fs/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * The dashboard in a real browser (Debian's chromium, installed by scripts/ci/browser.sh, driven by
 * playwright-core) against the real server on the real broker, with the simulator upstream.
 */
const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const A = 'key-a';
const B = 'key-b';

let pipeline: Pipeline;
let browser: Browser;

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'dashboard',
    // Slow enough that a job of a few hundred items is still running when the page looks at it.
    simulator: { latency: { medianMs: 40, p99Ms: 80 } },
    env: { SLUICE_API_KEYS: `${A}=tenant-a,${B}=tenant-b`, SLUICE_PROCESSOR_CONCURRENCY: '8' },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
});

async function api(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${pipeline.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, text: await response.text() };
}

/** A classify job uploaded as CSV through the API (the form's own test submits through the page). */
async function csvJob(key: string, rows: number): Promise<string> {
  const csv = ['id,content', ...Array.from({ length: rows }, (_, i) => `r${i},"ticket number ${i}"`)].join('\n') + '\n';
  const form = new FormData();
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'tickets.csv');
  form.append('params', JSON.stringify({ operation: 'classify', categories: ['billing', 'bug'] }));
  const response = await fetch(`${pipeline.url}/v1/jobs/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  const job = (await response.json()) as { id: string };
  expect(response.status).toBe(200);
  return job.id;
}

async function signedIn(key: string): Promise<Page> {
  const page = await browser.newPage({ acceptDownloads: true });
  await page.goto(pipeline.url);
  await page.fill('input[name="api_key"]', key);
  await page.click('button[type="submit"]');
  await page.getByRole('heading', { name: 'Batches' }).waitFor();
  return page;
}

describe('dashboard', () => {
  it('is served by ingest at / without a key, with its assets, offline (nothing from another origin)', async () => {
    const page = await browser.newPage();
    const origins = new Set<string>();
    page.on('request', (request) => origins.add(new URL(request.url()).origin));
    await page.goto(pipeline.url);
    await page.locator('input[name="api_key"]').waitFor();
    expect([...origins]).toEqual([new URL(pipeline.url).origin]);
    // The API itself still wants the key.
    expect((await fetch(`${pipeline.url}/v1/batches`)).status).toBe(401);
    // Only the built files are served: no path reaches the file system.
    expect((await api('GET', '/assets/..%2F..%2F..%2Fpackage.json', A)).status).toBe(404);
    expect((await api('GET', '/assets/%2e%2e/index.html', A)).status).toBe(404);
    await page.close();
  });

  it('refuses a wrong key and signs in with a right one, for this tab only', async () => {
    const page = await browser.newPage();
    await page.goto(pipeline.url);
    await page.fill('input[name="api_key"]', 'not-a-key');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('refused');
    await page.fill('input[name="api_key"]', A);
    await page.click('button[type="submit"]');
    await page.getByRole('heading', { name: 'Batches' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('sluice.api_key'))).toBe(A);
    await page.close();
  });

  it('watches a CSV job to completed with live progress, and downloads the same CSV as the API', async () => {
    const page = await signedIn(A);
    const id = await csvJob(A, 300);
    await page.goto(`${pipeline.url}/#/batches/${id}`);
    await page.locator('progress').waitFor();
    // Every value the progress bar shows, recorded in the page as it changes.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      const bar = document.querySelector('progress')!;
      seen.push(bar.value);
      new MutationObserver(() => seen.push(bar.value)).observe(bar, { attributes: true });
    });
    await page.getByTestId('batch-status').filter({ hasText: /^completed$/ }).waitFor({ timeout: 120_000 });
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(seen.some((value) => value > 0 && value < 300)).toBe(true);
    expect(seen.at(-1)).toBe(300);
    expect(await page.locator('[data-count="completed"]').textContent()).toBe('300');
    expect(await page.locator('.chart canvas').count()).toBeGreaterThan(0);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download CSV')]);
    const fromPage = await readFile((await download.path())!, 'utf8');
    const fromApi = await api('GET', `/v1/jobs/${id}/output?format=csv`, A);
    expect(fromPage).toBe(fromApi.text);
    expect(fromPage.split('\n').filter(Boolean).length).toBe(301);

    // The list shows it finished, with its progress bar full and its counts.
    await page.goto(pipeline.url);
    const row = page.locator(`tr[data-batch-id="${id}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('completed');
    expect(await row.locator('progress').evaluate((bar: HTMLProgressElement) => [bar.value, bar.max])).toEqual([300, 300]);
    await page.close();
  });

  it('cancels a running job', async () => {
    const page = await signedIn(A);
    const id = await csvJob(A, 5000);
    await page.goto(`${pipeline.url}/#/batches/${id}`);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('batch-status').filter({ hasText: /^cancelled$/ }).waitFor({ timeout: 120_000 });
    const job = JSON.parse((await api('GET', `/v1/jobs/${id}`, A)).text) as { status: string; completed_items: number };
    expect(job.status).toBe('cancelled');
    expect(job.completed_items).toBeLessThan(5000);
    await page.close();
  });

  it("refuses another tenant's batch", async () => {
    const theirs = await csvJob(B, 2);
    const page = await signedIn(A);
    await page.goto(`${pipeline.url}/#/batches/${theirs}`);
    await expect.poll(() => page.getByRole('alert').textContent()).toContain(`No batch ${theirs} for this API key`);
    await page.goto(pipeline.url);
    await page.getByRole('heading', { name: 'Batches' }).waitFor();
    await page.waitForSelector('tr[data-batch-id]');
    expect(await page.locator(`tr[data-batch-id="${theirs}"]`).count()).toBe(0);
    await page.close();
  });
});
