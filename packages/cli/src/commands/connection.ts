import {
  APIConnectionError,
  ConfigurationError,
  configFilePath,
  profileName,
  readProfile,
  ResponseValidationError,
  Sluice,
  SluiceAPIError,
  type Profile,
} from '@sluice/sdk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../cli-errors.js';

/**
 * What every client command shares: which server, with which key, and how an SDK error becomes
 * the one line (and exit code) the CLI prints.
 */
export interface ConnectionFlags {
  baseUrl?: string;
  apiKey?: string;
  profile?: string;
}

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

export function addConnectionOptions(command: Command): Command {
  return command
    .option(
      '--base-url <url>',
      `the Sluice server (default: $SLUICE_BASE_URL, else the profile's, else ${DEFAULT_BASE_URL})`,
    )
    .option('--api-key <key>', "API key (default: $SLUICE_API_KEY, else the profile's)")
    .option(
      '--profile <name>',
      'a profile of ~/.config/sluice/config.json or $SLUICE_CONFIG (default: $SLUICE_PROFILE)',
    );
}

/** A client for one server, and where its URL came from (to name it when the URL is bad). */
export interface Connection {
  baseURL: string;
  apiKey: string | undefined;
  baseURLSource: string;
}

/** Flag, then environment, then profile, then the local default. */
export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  profile: Profile | undefined,
  profileSource = 'the profile',
): Connection {
  const apiKey = flags.apiKey || env.SLUICE_API_KEY || profile?.apiKey || undefined;
  if (flags.baseUrl) return { baseURL: flags.baseUrl, apiKey, baseURLSource: '--base-url' };
  if (env.SLUICE_BASE_URL) return { baseURL: env.SLUICE_BASE_URL, apiKey, baseURLSource: 'SLUICE_BASE_URL' };
  if (profile?.baseURL) return { baseURL: profile.baseURL, apiKey, baseURLSource: profileSource };
  return { baseURL: DEFAULT_BASE_URL, apiKey, baseURLSource: 'the default' };
}

/**
 * A client command: commander's own usage errors (a missing argument, an unknown option) are
 * one `sluice: ...` line too, like the CLI's.
 */
export function clientCommand(program: Command, name: string): Command {
  return program
    .command(name)
    .showHelpAfterError(false)
    .configureOutput({
      outputError: (message, write) =>
        write(
          `sluice: ${message
            .replace(/^error: /, '')
            .trimEnd()
            .replace(/\n/g, ' ')}\n`,
        ),
    });
}

/** A client for the flags; a profile named but missing, or a malformed profiles file, is a usage error. */
export async function connect(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Promise<Sluice> {
  const path = configFilePath(env);
  const name = profileName(flags.profile, env);
  let profile: Profile | undefined;
  try {
    profile = await readProfile(name, path);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
  // The implicit "default" profile may be absent; one the user named may not.
  if (!profile && (flags.profile || env.SLUICE_PROFILE)) {
    throw new CliError(
      `${flags.profile ? '--profile' : 'SLUICE_PROFILE'}: no profile "${name}" in ${path}`,
      EXIT.usage,
    );
  }
  const { baseURL, apiKey, baseURLSource } = resolveConnection(
    flags,
    env,
    profile,
    `${path}: profiles.${name}.baseURL`,
  );
  try {
    return new Sluice({ baseURL, apiKey });
  } catch (error) {
    if (error instanceof ConfigurationError) {
      throw new CliError(`${baseURLSource}: ${error.message.replace(/^baseURL: /, '')}`, EXIT.usage);
    }
    throw error;
  }
}

/** The one line the CLI prints for an SDK error, and its exit code. */
export function cliErrorFrom(error: unknown): unknown {
  if (error instanceof SluiceAPIError) {
    return new CliError(`HTTP ${error.status} ${error.code ?? error.type ?? 'error'}: ${error.message}`, EXIT.failure);
  }
  if (error instanceof APIConnectionError)
    return new CliError(`cannot reach the server: ${error.message}`, EXIT.failure);
  if (error instanceof ResponseValidationError) return new CliError(error.message, EXIT.failure);
  if (error instanceof ConfigurationError) return new CliError(error.message, EXIT.usage);
  return error;
}

/** Wraps a command's action so that SDK errors reach bin.ts as `CliError`s. */
export function clientAction<Args extends unknown[]>(
  action: (...args: Args) => Promise<void>,
): (...args: Args) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      throw cliErrorFrom(error);
    }
  };
}
