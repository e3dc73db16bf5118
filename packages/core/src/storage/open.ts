import type { StorageConfig } from '../config/config.js';
import type { Logger } from '../logger.js';
import { createLocalStore } from './local.js';
import { createS3Store } from './s3.js';
import type { Store } from './types.js';

/** Opens the configured store (for S3: checks the bucket, creating it when missing). */
export async function openStore(config: StorageConfig, logger?: Logger): Promise<Store> {
  if (config.kind === 'local') return createLocalStore({ directory: config.directory });
  return createS3Store({
    bucket: config.bucket,
    prefix: config.prefix,
    endpoint: config.endpoint,
    region: config.region,
    credentials: config.credentials,
    logger,
  });
}
