import type { ApiKind } from './contracts/common.js';
import type { ItemResultMessage } from './contracts/messages.js';
import type { BatchOutputLine } from './contracts/openai.js';
import type { OperationRow } from './contracts/operations.js';

/** A row of an operations job's output: core's `OperationRow` contract. */
export type OperationsOutputRow = OperationRow;

/**
 * The public form of one result in a batch's output, per API: OpenAI and domain batches use
 * OpenAI's output line; operations jobs a row with the item and its parsed result.
 */
export function renderOutputLine(api: ApiKind, result: ItemResultMessage): BatchOutputLine | OperationsOutputRow {
  const error = result.error ? { code: result.error.code, message: result.error.message } : null;
  if (api === 'operations') {
    return {
      index: result.index,
      custom_id: result.custom_id,
      item: result.item,
      result: result.ok ? (result.response?.body ?? null) : null,
      usage: result.usage,
      error,
    };
  }
  return {
    id: result.id,
    custom_id: result.custom_id,
    response: result.response
      ? { status_code: result.response.status_code, request_id: result.response.request_id, body: result.response.body }
      : null,
    error,
  };
}
