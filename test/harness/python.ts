import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The repository's virtualenv with the official `openai` Python package (pinned in
 * test/python/requirements.txt), made or brought up to date by scripts/python-venv.sh: the one
 * place that builds it, shared with the Python SDK's tests. Returns its python.
 */
export async function ensurePythonOpenAI(): Promise<string> {
  const { stdout } = await run('bash', [join(root, 'scripts/python-venv.sh')], { timeout: 600_000 });
  return stdout.trim();
}
