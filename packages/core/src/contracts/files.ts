import { z } from 'zod';
import { FileId, UnixSeconds } from './common.js';

export const FilePurpose = z.enum(['batch', 'batch_output']);
export type FilePurpose = z.infer<typeof FilePurpose>;

/** The OpenAI File object, as the Files API returns it. */
export const FileObject = z.object({
  id: FileId,
  object: z.literal('file'),
  bytes: z.number().int().nonnegative(),
  created_at: UnixSeconds,
  filename: z.string(),
  purpose: FilePurpose,
  expires_at: UnixSeconds.nullable(),
  status: z.literal('processed'),
  status_details: z.null(),
});
export type FileObject = z.infer<typeof FileObject>;

/** What Sluice stores about a file: the public object plus its owner and where its bytes are. */
export const FileRecord = FileObject.extend({
  tenant: z.string(),
  /** The store key of the content. */
  path: z.string(),
  /** Output files: the batch that produced them. */
  batch_id: z.string().nullable(),
  /** Creation time in milliseconds: orders listings within a second. */
  created_ms: z.number().int().nonnegative().default(0),
  /** Other store keys (or prefixes ending in `/`) that hold copies of this file's bytes, deleted with it. */
  copies: z.array(z.string()).default([]),
});
export type FileRecord = z.infer<typeof FileRecord>;
