import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from './errors.js';

/**
 * Profiles: named servers in a JSON file, `{"profiles": {"prod": {"baseURL": "...", "apiKey": "..."}}}`,
 * at `$SLUICE_CONFIG`, else `$XDG_CONFIG_HOME/sluice/config.json`, else `~/.config/sluice/config.json`.
 * `SLUICE_BASE_URL` and `SLUICE_API_KEY` override a profile's values; `SLUICE_PROFILE` names the
 * profile when the caller does not.
 */
export interface Profile {
  baseURL?: string;
  apiKey?: string;
}

export interface ProfileSource {
  /**
   * The environment to read `SLUICE_*` variables from.
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
  /**
   * The profiles file.
   * @defaultValue `$SLUICE_CONFIG`, else `~/.config/sluice/config.json`
   */
  configPath?: string;
}

export const DEFAULT_PROFILE = 'default';

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLUICE_CONFIG) return env.SLUICE_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'sluice', 'config.json');
}

export function profileName(name: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return name || env.SLUICE_PROFILE || DEFAULT_PROFILE;
}

/** The named profile, or undefined when the file or the profile does not exist. A malformed file throws. */
export async function readProfile(name: string, configPath: string): Promise<Profile | undefined> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigurationError(`${configPath}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(`${configPath}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const profiles = isObject(config) ? config.profiles : undefined;
  if (!isObject(profiles)) throw new ConfigurationError(`${configPath}: expected {"profiles": {"<name>": {...}}}`);
  const profile = profiles[name];
  if (profile === undefined) return undefined;
  if (!isObject(profile)) throw new ConfigurationError(`${configPath}: profiles.${name}: expected an object`);
  for (const key of ['baseURL', 'apiKey'] as const) {
    if (profile[key] !== undefined && typeof profile[key] !== 'string') {
      throw new ConfigurationError(`${configPath}: profiles.${name}.${key}: expected a string`);
    }
  }
  return { baseURL: profile.baseURL as string | undefined, apiKey: profile.apiKey as string | undefined };
}

/**
 * A profile's server and key with the environment's overrides applied. Throws when neither the
 * profile nor `SLUICE_BASE_URL` gives a server.
 */
export async function resolveProfile(
  name?: string,
  source: ProfileSource = {},
): Promise<{ baseURL: string; apiKey: string | undefined }> {
  const env = source.env ?? process.env;
  const path = source.configPath ?? configFilePath(env);
  const chosen = profileName(name, env);
  const profile = await readProfile(chosen, path);
  const baseURL = env.SLUICE_BASE_URL || profile?.baseURL;
  if (!baseURL) {
    throw new ConfigurationError(
      profile
        ? `${path}: profile "${chosen}" has no baseURL, and SLUICE_BASE_URL is not set`
        : `no profile "${chosen}" in ${path}, and SLUICE_BASE_URL is not set`,
    );
  }
  return { baseURL, apiKey: env.SLUICE_API_KEY || profile?.apiKey };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
