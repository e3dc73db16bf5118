import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const venv = join(root, '.cache', 'venv');
export const venvPython = join(venv, 'bin', 'python');

/**
 * A virtualenv with the official `openai` Python package (pinned in test/python/requirements.txt),
 * created on first use with the machine's python3 and pip from PyPI.
 */
export async function ensurePythonOpenAI(): Promise<string> {
  try {
    await access(venvPython);
    await run(venvPython, ['-c', 'import openai'], { timeout: 30_000 });
    return venvPython;
  } catch {
    await run('python3', ['-m', 'venv', venv], { timeout: 120_000 });
    await run(venvPython, ['-m', 'pip', 'install', '--quiet', '-r', join(root, 'test/python/requirements.txt')], {
      timeout: 600_000,
    });
    return venvPython;
  }
}
