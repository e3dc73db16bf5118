import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Where the API keys come from: `SLUICE_API_KEYS` (`key=tenant,...`, fixed for the life of the
 * process) and `SLUICE_API_KEYS_FILE` (one `key=tenant` per line, `#` comments), which
 * {@link ApiKeys.reload} reads again.
 */
export interface ApiKeySources {
  inline?: string | undefined;
  file?: string | undefined;
}

interface ApiKeyEntry {
  /** SHA-256 of the key: a plain key is hashed when read, so the table holds no key at all. */
  digest: Buffer;
  tenant: string;
}

const HASHED_KEY = /^sha256:([0-9a-f]{64})$/i;
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;

/** `sha256:<hex>` of a key: what a keys file may hold instead of the key itself. */
export function hashApiKey(key: string): string {
  return `sha256:${sha256(key).toString('hex')}`;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The API key → tenant table. Every key is kept as its SHA-256, and a presented key is compared by
 * its SHA-256 against every entry with `timingSafeEqual`, so neither the answer's timing nor the
 * table reveals a key. Two keys of one tenant may be in force at once (rotation).
 */
export class ApiKeys {
  private entries: readonly ApiKeyEntry[];
  /** SHA-256 of the sources' text: a reload of unchanged text changes nothing and says nothing. */
  private fingerprint: string;

  private constructor(
    readonly sources: ApiKeySources,
    read: { entries: ApiKeyEntry[]; fingerprint: string },
  ) {
    this.entries = read.entries;
    this.fingerprint = read.fingerprint;
  }

  /** The keys of `sources`; null when neither is set (authentication off). Throws ConfigError. */
  static load(sources: ApiKeySources): ApiKeys | null {
    if (!sources.inline && !sources.file) return null;
    return new ApiKeys(sources, readEntries(sources));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The tenant of a presented key, or undefined for an unknown one. */
  tenantOf(presented: string): string | undefined {
    const digest = sha256(presented);
    let tenant: string | undefined;
    // No early exit: the time taken does not say whether, or where, a key matched.
    for (const entry of this.entries) {
      if (timingSafeEqual(digest, entry.digest)) tenant = entry.tenant;
    }
    return tenant;
  }

  /**
   * Reads the sources again. A good file replaces every key at once (a removed key is refused from
   * the next request on); a bad one throws ConfigError naming the line and the keys in force stay.
   */
  reload(): { changed: boolean; keys: number; tenants: number } {
    const read = readEntries(this.sources);
    const changed = read.fingerprint !== this.fingerprint;
    if (changed) {
      this.entries = read.entries;
      this.fingerprint = read.fingerprint;
    }
    return { changed, keys: this.entries.length, tenants: new Set(this.entries.map((e) => e.tenant)).size };
  }
}

function readEntries(sources: ApiKeySources): { entries: ApiKeyEntry[]; fingerprint: string } {
  const entries: ApiKeyEntry[] = [];
  // Where each digest was given, to name both places when one key is given to two tenants.
  const seen = new Map<string, { tenant: string; where: string }>();
  const add = (text: string, variable: string, where: string) => {
    const trimmed = text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const at = trimmed.indexOf('=');
    const key = at === -1 ? '' : trimmed.slice(0, at).trim();
    const tenant = at === -1 ? '' : trimmed.slice(at + 1).trim();
    if (!key || !tenant || !TENANT.test(tenant)) {
      throw new ConfigError(
        variable,
        `${where}: expected key=tenant (or sha256:<hex>=tenant) with a tenant of letters, digits, '.', '_' or '-'`,
      );
    }
    let digest: Buffer;
    if (key.toLowerCase().startsWith('sha256:')) {
      const hex = HASHED_KEY.exec(key)?.[1];
      if (!hex) throw new ConfigError(variable, `${where}: a hashed key is sha256: and 64 hexadecimal digits`);
      digest = Buffer.from(hex, 'hex');
    } else {
      digest = sha256(key);
    }
    const id = digest.toString('hex');
    const earlier = seen.get(id);
    if (earlier && earlier.tenant !== tenant) {
      throw new ConfigError(
        variable,
        `${where}: the same key is given to tenant ${earlier.tenant} at ${earlier.where}`,
      );
    }
    // The same key for the same tenant twice (a plain key and its hash, while moving to hashes) is one entry.
    if (earlier) return;
    seen.set(id, { tenant, where });
    entries.push({ digest, tenant });
  };
  const fingerprint = createHash('sha256');
  if (sources.inline) {
    fingerprint.update(sources.inline);
    sources.inline.split(',').forEach((entry, i) => add(entry, 'SLUICE_API_KEYS', `entry ${i + 1}`));
  }
  if (sources.file) {
    let text: string;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (error) {
      throw new ConfigError('SLUICE_API_KEYS_FILE', `cannot read ${sources.file}: ${(error as Error).message}`);
    }
    fingerprint.update('\0').update(text);
    text.split('\n').forEach((line, i) => add(line, 'SLUICE_API_KEYS_FILE', `line ${i + 1}`));
  }
  if (entries.length === 0) {
    throw new ConfigError(sources.inline ? 'SLUICE_API_KEYS' : 'SLUICE_API_KEYS_FILE', 'no keys given');
  }
  return { entries, fingerprint: fingerprint.digest('hex') };
}

/**
 * `key1=tenantA,key2=tenantB`, and/or a file with one `key=tenant` per line (`#` comments); a key
 * may be given as `sha256:<hex>` of the key. Null when neither is set: authentication off, every
 * request is tenant `default`.
 */
export function parseApiKeys(inline: string | undefined, file: string | undefined): ApiKeys | null {
  return ApiKeys.load({ inline, file });
}

export interface ApiKeysReloader {
  /** Reads the keys again now (SIGHUP); false when the new keys were refused and the old stay. */
  reload(reason: string): boolean;
  close(): void;
}

/**
 * Reads `SLUICE_API_KEYS_FILE` again whenever something changes in its directory, `debounceMs`
 * after the last change (an editor or `cp` writes a file in several steps). The whole directory
 * is watched, not the file: an editor's save and Kubernetes' Secret updates replace the file (a
 * rename, a symlink swap), after which a watch on the file itself would see nothing more. A file
 * whose target lives elsewhere (a symlink out of the directory) is not watched there: SIGHUP.
 */
export function watchApiKeysFile(
  keys: ApiKeys,
  logger: Logger,
  options: { debounceMs?: number } = {},
): ApiKeysReloader {
  const debounceMs = options.debounceMs ?? 250;
  const reload = (reason: string): boolean => {
    try {
      const { changed, keys: count, tenants } = keys.reload();
      if (changed) logger.info({ reason, keys: count, tenants }, 'API keys reloaded');
      return true;
    } catch (error) {
      // One line that says what is wrong (ConfigError names the line, never the key) and what holds.
      logger.error(
        { reason, keys: keys.size },
        `API keys not reloaded, the previous keys stay in force: ${(error as Error).message}`,
      );
      return false;
    }
  };
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  if (keys.sources.file) {
    try {
      watcher = watch(dirname(keys.sources.file), () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = null;
          reload('file changed');
        }, debounceMs);
      });
      watcher.on('error', (error) =>
        logger.warn({ err: error }, 'watching the API keys file failed: send SIGHUP to reload the keys'),
      );
      watcher.unref();
    } catch (error) {
      logger.warn({ err: error }, 'cannot watch the API keys file: send SIGHUP to reload the keys');
    }
  }
  return {
    reload,
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
