import { fileURLToPath } from 'node:url';

/**
 * The directory of the built dashboard (`index.html` and `assets/`), which ingest serves at `/`.
 * Resolved from the package root, so it is the same from src/ (tests) and dist/. Vite writes it when the package builds (`pnpm -r build`); until then it may not exist.
 */
export const dashboardDirectory: string = fileURLToPath(new URL('../dist/web/', import.meta.url));

/** The gzip budget of the dashboard's JS and CSS together, checked by a unit test on the built files. */
export const DASHBOARD_GZIP_BUDGET_BYTES = 60 * 1024;
