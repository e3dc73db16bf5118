import multipart from '@fastify/multipart';
import {
  ExpiresAfter,
  type FileRecord,
  FileListQuery,
  NotFoundError,
  PayloadTooLargeError,
  nowSeconds,
  publicFile,
  SluiceError,
  TEXT_LIMITS,
  atMostCharacters,
  ValidationError,
  type ValidationIssue,
} from '@sluice/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IngestContext } from '../context.js';
import { unsupportedMediaType } from '../http/errors.js';
import { attachment } from '../http/content-disposition.js';
import { fileFor } from '../http/lookups.js';
import { listPage } from '../http/views.js';
import { takesQuery } from '../http/query-parameters.js';

import { issuesFromZod } from '../intake/zod-issues.js';

/** The form limits of `registerFileRoutes`, named in the errors that enforce them. */
const FORM_LIMITS = { fields: 16, fieldSize: 64 * 1024 };

/**
 * An uploaded file's name as Sluice keeps it: without control characters (C0, DEL, C1) and
 * without bidirectional formatting characters (U+202E and kin), which would make the name shown
 * in listings, the dashboard and `Content-Disposition` read otherwise than it is
 * (`invoice\u202Egpj.exe` shows as `invoiceexe.jpg`). Stripped at upload, so every place that
 * shows a name shows it clean.
 */
export function cleanFilename(name: string): string {
  return name.replace(/[\p{Cc}\p{Bidi_Control}]/gu, '').trim();
}

/** Files a client may upload: batch input as JSONL, or operations items as CSV. `batch_output` files are Sluice's own. */
const UPLOAD_EXTENSIONS = ['.jsonl', '.ndjson', '.csv'];

/** The OpenAI Files API: upload (multipart, streamed into the store), list, retrieve, content, delete. */
export async function registerFileRoutes(app: FastifyInstance, context: IngestContext) {
  await app.register(multipart, {
    limits: { fileSize: context.limits.maxFileBytes, files: 1, ...FORM_LIMITS },
    throwFileSizeLimit: true,
  });

  app.post('/v1/files', async (request, reply) => {
    if (!request.isMultipart()) {
      throw unsupportedMediaType(
        request.headers['content-type'] ?? '',
        'Upload files as multipart/form-data with fields "file" and "purpose".',
      );
    }
    const { file } = await receiveUpload(context, request, UPLOAD_EXTENSIONS, (fields) => {
      const issues: ValidationIssue[] = [];
      if (fields.purpose === undefined) {
        issues.push({
          line: null,
          param: 'purpose',
          code: 'missing_required_parameter',
          message: "purpose is required: 'batch'",
        });
      } else if (fields.purpose !== 'batch') {
        issues.push({
          line: null,
          param: 'purpose',
          code: 'invalid_value',
          message: `purpose must be 'batch' (got '${fields.purpose}'); 'batch_output' files are created by Sluice`,
        });
      }
      return issues;
    });
    return reply.code(200).send(publicFile(file));
  });

  app.get('/v1/files', takesQuery(FileListQuery), async (request) => {
    const query = FileListQuery.safeParse(request.query);
    if (!query.success) throw new ValidationError(issuesFromZod(query.error, null));
    const now = nowSeconds();
    const { data, hasMore } = await context.files.list({ tenant: request.tenant, ...query.data });
    const live = data.filter((f) => f.expires_at === null || f.expires_at > now).map(publicFile);
    return listPage(live, hasMore);
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id', async (request) => {
    return publicFile(await fileFor(context, request.tenant, request.params.id));
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', async (request, reply) => {
    const record = await fileFor(context, request.tenant, request.params.id);
    const content = await context.files.content(record);
    if (!content) throw new NotFoundError('file', record.id);
    return reply
      .type('application/jsonl; charset=utf-8')
      .header('content-disposition', attachment(record.filename))
      .send(content);
  });

  app.delete<{ Params: { id: string } }>('/v1/files/:id', async (request) => {
    const record = await fileFor(context, request.tenant, request.params.id);
    await context.files.delete(record);
    return { id: record.id, object: 'file', deleted: true };
  });
}

/**
 * Receives a multipart upload: the `file` part is streamed into the store (over SLUICE_MAX_FILE_BYTES: 413),
 * the other parts are fields. The file becomes a File (purpose `batch`) once its name and the
 * fields pass `check`; otherwise nothing is kept.
 */
export async function receiveUpload(
  context: IngestContext,
  request: FastifyRequest,
  extensions: string[],
  check: (fields: Record<string, string>) => ValidationIssue[] = () => [],
): Promise<{ file: FileRecord; fields: Record<string, string> }> {
  const upload = context.files.beginUpload(request.tenant);
  const fields: Record<string, string> = {};
  let filename: string | null = null;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file' || filename !== null) {
          part.file.resume();
          continue;
        }
        filename = cleanFilename(part.filename ?? '') || 'upload.jsonl';
        await upload.write(part.file);
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
    const issues: ValidationIssue[] = [];
    if (filename === null)
      issues.push({ line: null, param: 'file', code: 'missing_required_parameter', message: 'file is required' });
    else if (filename.length > TEXT_LIMITS.filename) {
      issues.push({
        line: null,
        param: 'file',
        code: 'invalid_file_name',
        message: `the file name is ${filename.length} characters; it ${atMostCharacters(TEXT_LIMITS.filename)}`,
      });
    } else if (!extensions.some((ext) => filename?.toLowerCase().endsWith(ext))) {
      issues.push({
        line: null,
        param: 'file',
        code: 'invalid_file_format',
        message: `the file must be ${extensions.join(' or ')}, got '${filename}'`,
      });
    }
    issues.push(...check(fields));
    const expiresAfter = parseExpiresAfter(fields);
    if ('issue' in expiresAfter) issues.push(expiresAfter.issue);
    if (issues.length > 0) throw new ValidationError(issues);
    const file = await upload.commit({
      filename: filename as string,
      purpose: 'batch',
      expiresAt:
        'seconds' in expiresAfter && expiresAfter.seconds !== null ? nowSeconds() + expiresAfter.seconds : null,
    });
    return { file, fields };
  } catch (error) {
    await upload.abort();
    throw multipartFailure(error, context.limits.maxFileBytes);
  }
}

/**
 * What the client did wrong, for every way the multipart parser can refuse a body: a truncated body
 * (no closing boundary), a missing boundary, too many fields or parts, a field too large. The parser
 * throws plain errors (busboy's `Unexpected end of form`, stream `Premature close`) that the error
 * table cannot tell from a server fault, so each is named here, at the one place uploads are read.
 * Our own errors (validation, storage) pass through unchanged.
 */
function multipartFailure(error: unknown, maxFileBytes: number): unknown {
  if (error instanceof SluiceError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  const issue = (param: string | null, issueCode: string, text: string) =>
    new ValidationError([{ line: null, param, code: issueCode, message: text }]);
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new PayloadTooLargeError(maxFileBytes, 'file (SLUICE_MAX_FILE_BYTES)');
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return issue(null, 'too_many_fields', `The form has more than ${FORM_LIMITS.fields} fields.`);
    case 'FST_FILES_LIMIT':
      return issue('file', 'too_many_files', 'The form may carry one file, in the "file" field.');
    case 'FST_PROTO_VIOLATION':
      return issue(null, 'invalid_field_name', message);
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return issue(null, 'invalid_multipart', 'The multipart body ended before its closing boundary.');
  }
  if (/boundary not found/i.test(message)) {
    return issue(null, 'invalid_multipart', 'The multipart/form-data content type has no boundary parameter.');
  }
  if (/unexpected end of (form|multipart)|malformed|part terminated early/i.test(message)) {
    return issue(null, 'invalid_multipart', 'The multipart body ended before its closing boundary.');
  }
  return error;
}

/** OpenAI's optional `expires_after[anchor]=created_at`, `expires_after[seconds]=3600..2592000` (form fields). */
function parseExpiresAfter(fields: Record<string, string>): { seconds: number | null } | { issue: ValidationIssue } {
  const anchor = fields['expires_after[anchor]'];
  const seconds = fields['expires_after[seconds]'];
  if (anchor === undefined && seconds === undefined) return { seconds: null };
  const parsed = ExpiresAfter.safeParse({ anchor, seconds });
  if (parsed.success) return { seconds: parsed.data.seconds };
  const issue = parsed.error.issues[0];
  return {
    issue: {
      line: null,
      param: `expires_after.${String(issue?.path[0] ?? 'seconds')}`,
      code: 'invalid_value',
      message: `expires_after.${issue?.message ?? 'invalid'}`,
    },
  };
}
