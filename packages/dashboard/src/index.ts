import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of the built dashboard (`index.html` and `assets/`), which ingest serves at `/`.
 * Resolved from the package root, so it is the same from src/ (tests) and dist/. Vite writes it when
 * the package builds (`pnpm -r build`); until then it may not exist.
 */
export const dashboardDirectory: string = fileURLToPath(new URL('../dist/web/', import.meta.url));

/** The gzip budget of the dashboard's JS and CSS together, checked by a unit test on the built files. */
export const DASHBOARD_GZIP_BUDGET_BYTES = 60 * 1024;

/** One built file of the dashboard, by the URL path it is served at. */
export interface DashboardFile {
  /** `/` for index.html, `/assets/<hashed name>` for the rest. */
  path: string;
  contentType: string;
  body: Buffer;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/**
 * Every built file of the dashboard, read once: ingest answers only these paths, from memory, so no
 * request path ever reaches the file system. Empty when the dashboard was not built.
 */
export async function loadDashboardFiles(directory: string = dashboardDirectory): Promise<DashboardFile[]> {
  let entries;
  try {
    entries = await readdir(directory, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: DashboardFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const name = relative(directory, full).split(sep).join('/');
    files.push({
      path: name === 'index.html' ? '/' : `/${name}`,
      contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
      body: await readFile(full),
    });
  }
  return files;
}
