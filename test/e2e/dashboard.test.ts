import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainLines } from '../harness/fixtures.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * The dashboard in a real browser (Debian's chromium, installed by scripts/ci/browser.sh, driven by
 * playwright-core) against the real server on the real broker, with the simulator upstream.
 */
/** What the callbacks given to page.evaluate use of the browser (this program has no DOM types). */
interface InPage {
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  document: { querySelector(selector: string): { value: number; getAttribute(name: string): string | null } | null };
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: { attributes: boolean }): void };
  seen: number[];
  performance: { now(): number };
}

/** Set by `pnpm screenshots`: where the docs' images of the list and the batch page go. */
const SCREENSHOTS = process.env.SLUICE_SCREENSHOTS_DIR;

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
/** axe-core (Deque's accessibility engine), injected into the page to audit it. */
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const A = 'key-a';
const B = 'key-b';
/** The tenant with 1,000 batches. */
const C = 'key-c';

let pipeline: Pipeline;
let browser: Browser;

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'dashboard',
    // Slow enough that a job of a few hundred items is still running when the page looks at it.
    simulator: { latency: { medianMs: 40, p99Ms: 80 } },
    env: {
      SLUICE_API_KEYS: `${A}=tenant-a,${B}=tenant-b,${C}=tenant-c`,
      SLUICE_PROCESSOR_CONCURRENCY: '8',
      // Few, quick retries: the retry test's failing rows are final within seconds.
      SLUICE_MAX_ATTEMPTS: '3',
      SLUICE_RETRY_BASE_MS: '50',
    },
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

function csvOf(rows: number): string {
  return ['id,content', ...Array.from({ length: rows }, (_, i) => `r${i},"ticket number ${i}"`)].join('\n') + '\n';
}

/** A classify job uploaded as CSV through the API (the form's own test submits through the page). */
async function csvJob(key: string, rows: number | string): Promise<string> {
  const csv = typeof rows === 'number' ? csvOf(rows) : rows;
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

/** Nothing wider than the screen (wide tables scroll inside their own box): else one line saying so. */
async function overflow(page: Page): Promise<string[]> {
  const [wide, screen] = await page.evaluate(() => {
    const browser = globalThis as unknown as {
      document: { documentElement: { scrollWidth: number } };
      innerWidth: number;
    };
    return [browser.document.documentElement.scrollWidth, browser.innerWidth];
  });
  return wide > screen ? [`the page is ${wide} px wide on a ${screen} px screen`] : [];
}

/** The WCAG 2.1 A and AA rules axe-core finds broken on the page as it is now, one line each. */
async function audit(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    interface Axe {
      run(
        context: unknown,
        options: unknown,
      ): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }>;
    }
    const browser = globalThis as unknown as { axe: Axe; document: unknown };
    const result = await browser.axe.run(browser.document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map(
      (v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.length} × ${v.nodes[0]?.target.join(' ') ?? ''}`,
    );
  });
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
    expect(await page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem('sluice.api_key'))).toBe(
      A,
    );
    await page.close();
  });

  it('submits a CSV job through the form, watches it reach completed with live progress, downloads the same CSV as the API', async () => {
    const page = await signedIn(A);
    await page.click('text=Start a batch');
    await page.setInputFiles('input[name="file"]', {
      name: 'tickets.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csvOf(300)),
    });
    await page.selectOption('select[name="operation"]', 'classify');
    await page.fill('input[name="categories"]', 'billing, bug');
    // The estimate (a dry run, issue 16) first: it shows the items and creates nothing.
    const before = JSON.parse((await api('GET', '/v1/jobs?limit=100', A)).text) as { data: unknown[] };
    await page.getByRole('button', { name: 'Estimate' }).click();
    const estimate = page.getByLabel('Estimate');
    await estimate.waitFor();
    expect(await estimate.locator('dd').first().textContent()).toBe('300');
    const after = JSON.parse((await api('GET', '/v1/jobs?limit=100', A)).text) as { data: unknown[] };
    expect(after.data.length).toBe(before.data.length);
    await page.click('button[type="submit"]');
    await page.waitForURL(/#\/batches\/[A-Za-z0-9_-]+$/);
    const id = new URL(page.url()).hash.split('/').at(-1)!;
    const job = JSON.parse((await api('GET', `/v1/jobs/${id}`, A)).text) as { operation: string; total_items: number };
    expect(job).toMatchObject({ operation: 'classify', total_items: 300 });
    await page.locator('progress').waitFor();
    // Every value the progress bar shows, recorded in the page as it changes.
    await page.evaluate(() => {
      const seen: number[] = [];
      const browser = globalThis as unknown as InPage;
      browser.seen = seen;
      const bar = browser.document.querySelector('progress')!;
      seen.push(bar.value);
      new browser.MutationObserver(() => seen.push(bar.value)).observe(bar, { attributes: true });
    });
    await page
      .getByTestId('batch-status')
      .filter({ hasText: /^completed$/ })
      .waitFor({ timeout: 120_000 });
    const seen = await page.evaluate(() => (globalThis as unknown as InPage).seen);
    expect(seen.some((value) => value > 0 && value < 300)).toBe(true);
    expect(seen.at(-1)).toBe(300);
    expect(await page.locator('[data-count="completed"]').textContent()).toBe('300');
    expect(await page.locator('.chart canvas').count()).toBeGreaterThan(0);
    // The bill (docs/costs.md): every item at realtime, so a cost and no saving.
    const billed = JSON.parse((await api('GET', `/v1/jobs/${id}`, A)).text) as { cost_usd: number | null };
    expect(billed.cost_usd).toBeGreaterThan(0);
    expect(await page.locator('[data-count="cost"]').textContent()).toMatch(/^\$[\d.]+$/);

    if (SCREENSHOTS) {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-batch.png'), fullPage: true });
    }
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
    expect(
      await row
        .locator('progress')
        .evaluate((bar) => [
          (bar as unknown as { value: number; max: number }).value,
          (bar as unknown as { max: number }).max,
        ]),
    ).toEqual([300, 300]);
    await page.close();
  });

  it('shows the retries and 429s of a finished job, and retries only its failed rows from its page', async () => {
    // The simulator refuses r0 (400: not retried) and rate-limits r3 on every attempt (429: three
    // attempts, then failed). The others succeed at once.
    const directive = (i: number) => (i === 0 ? ' sim:status=400' : i === 3 ? ' sim:status=429' : '');
    const csv =
      ['id,content', ...Array.from({ length: 6 }, (_, i) => `r${i},"ticket ${i}${directive(i)}"`)].join('\n') + '\n';
    const id = await csvJob(A, csv);
    await expect
      .poll(async () => (JSON.parse((await api('GET', `/v1/jobs/${id}`, A)).text) as { status: string }).status, {
        timeout: 60_000,
      })
      .toBe('completed');
    const finished = JSON.parse((await api('GET', `/v1/jobs/${id}`, A)).text) as Record<string, number>;
    expect(finished).toMatchObject({ failed_items: 2, retries: 2, rate_limited: 3 });
    const page = await signedIn(A);
    await page.goto(`${pipeline.url}/#/batches/${id}`);
    await expect.poll(() => page.locator('[data-count="retries"]').textContent()).toBe('2');
    expect(await page.locator('[data-count="rate_limited"]').textContent()).toBe('3');
    await page.getByRole('button', { name: 'Retry failed (2)' }).click();
    await page.waitForURL((url) => /#\/batches\/[A-Za-z0-9_-]+$/.test(url.hash) && !url.hash.endsWith(id));
    const retryId = new URL(page.url()).hash.split('/').at(-1)!;
    await page.getByRole('link', { name: id }).waitFor();
    const retried = JSON.parse((await api('GET', `/v1/jobs/${retryId}`, A)).text) as {
      operation: string;
      total_items: number;
      metadata: Record<string, string>;
    };
    expect(retried).toMatchObject({ operation: 'classify', total_items: 2, metadata: { retry_of: id } });
    await page.close();
  });

  it('has no WCAG 2.1 A or AA violation axe-core finds, on a laptop and a phone', async () => {
    const finished = await csvJob(A, 3);
    await expect
      .poll(async () => (JSON.parse((await api('GET', `/v1/jobs/${finished}`, A)).text) as { status: string }).status)
      .toBe('completed');
    // The audit can fail: an image without a text alternative is found.
    const control = await browser.newPage();
    await control.setContent(
      '<!doctype html><html lang="en"><title>control</title><main><img src="data:,"></main></html>',
    );
    expect((await audit(control)).join('\n')).toMatch(/^image-alt/m);
    await control.close();
    const found: Record<string, string[]> = {};
    for (const [device, viewport] of Object.entries({
      laptop: { width: 1366, height: 768 },
      phone: { width: 390, height: 844 },
    })) {
      // The page's CSP refuses inline scripts: the audit's own script is let in (nothing else changes).
      const page = await browser.newPage({ viewport, bypassCSP: true });
      await page.goto(pipeline.url);
      await page.locator('input[name="api_key"]').waitFor();
      found[`${device} sign-in`] = [...(await audit(page)), ...(await overflow(page))];
      await page.fill('input[name="api_key"]', A);
      await page.keyboard.press('Enter');
      await page.waitForSelector('tr[data-batch-id]');
      found[`${device} list`] = [...(await audit(page)), ...(await overflow(page))];
      await page.goto(`${pipeline.url}/#/batches/${finished}`);
      await page
        .getByTestId('batch-status')
        .filter({ hasText: /^completed$/ })
        .waitFor();
      found[`${device} batch`] = [...(await audit(page)), ...(await overflow(page))];
      await page.click('text=Start a batch');
      await page.locator('input[name="file"]').waitFor();
      found[`${device} start form`] = [...(await audit(page)), ...(await overflow(page))];
      await page.close();
    }
    expect(Object.fromEntries(Object.entries(found).filter(([, violations]) => violations.length > 0))).toEqual({});
  });

  it('cancels a running job', async () => {
    const page = await signedIn(A);
    const id = await csvJob(A, 5000);
    await page.goto(`${pipeline.url}/#/batches/${id}`);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page
      .getByTestId('batch-status')
      .filter({ hasText: /^cancelled$/ })
      .waitFor({ timeout: 120_000 });
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

  it('lists 1,000 batches a page at a time: first page time, paging to the end, the API filter', async () => {
    const line = JSON.stringify(domainLines(1, 'c')[0]);
    let next = 0;
    const submitOne = async () => {
      while (next < 1000) {
        next++;
        const response = await fetch(`${pipeline.url}/v1/batches`, {
          method: 'POST',
          headers: { authorization: `Bearer ${C}`, 'content-type': 'application/jsonl' },
          body: `${line}\n`,
        });
        expect(response.status).toBe(200);
      }
    };
    await Promise.all(Array.from({ length: 8 }, submitOne));

    const page = await browser.newPage();
    await page.addInitScript(
      (key) => (globalThis as unknown as InPage).sessionStorage.setItem('sluice.api_key', key),
      C,
    );
    await page.goto(pipeline.url);
    await page.locator('tr[data-batch-id]').nth(99).waitFor();
    // From navigation start to the first 100 rows on screen.
    const loadMs = await page.evaluate(() => performance.now());
    console.log(`dashboard: first page of 1,000 batches shown ${loadMs.toFixed(0)} ms after navigation start`);
    expect(await page.locator('tr[data-batch-id]').count()).toBe(100);
    if (SCREENSHOTS) {
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-list.png') });
    }
    // Again with the assets cached, as a returning user opens it.
    await page.reload();
    await page.locator('tr[data-batch-id]').nth(99).waitFor();
    const reloadMs = await page.evaluate(() => performance.now());
    console.log(`dashboard: reloaded, first page shown ${reloadMs.toFixed(0)} ms after navigation start`);

    const seen = new Set<string>();
    for (let pageNumber = 1; ; pageNumber++) {
      const ids = await page
        .locator('tr[data-batch-id]')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-batch-id')!));
      for (const id of ids) seen.add(id);
      const nextButton = page.getByRole('button', { name: 'Next' });
      if (await nextButton.isDisabled()) break;
      expect(pageNumber).toBeLessThan(10);
      await nextButton.click();
      await page.waitForFunction(
        (first) =>
          (globalThis as unknown as InPage).document
            .querySelector('tr[data-batch-id]')
            ?.getAttribute('data-batch-id') !== first,
        ids[0],
      );
    }
    expect(seen.size).toBe(1000);

    await page.selectOption('select[name="api"]', 'operations');
    await page.getByText('No batches').waitFor();
    await page.close();
  });
});
