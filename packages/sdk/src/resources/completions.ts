import {
  type ClassifyRequestBody,
  type EnrichRequestBody,
  type ExtractRequestBody,
  type OperationName,
  OperationResponse,
  type RunRequestBody,
  type SummarizeRequestBody,
} from '@sluice/core/contracts';
import type { HttpClient } from '../http.js';
import type { RequestOptions } from '../options.js';

/**
 * The synchronous operations API, `POST /v1/operations/{operation}`: a few items, answered in
 * the response. More items than the server's sync limit is a `BadRequestError` with code
 * `sync_limit_exceeded`: submit those as a job (`client.batches.submit`).
 */
export class Completions {
  constructor(private readonly http: HttpClient) {}

  /** The best category of each item (and, with `multi_label`, every one that applies). */
  classify(body: ClassifyRequestBody, options?: RequestOptions): Promise<OperationResponse> {
    return this.create('classify', body, options);
  }

  /** The fields the instructions ask for, from each item. */
  extract(body: ExtractRequestBody, options?: RequestOptions): Promise<OperationResponse> {
    return this.create('extract', body, options);
  }

  summarize(body: SummarizeRequestBody, options?: RequestOptions): Promise<OperationResponse> {
    return this.create('summarize', body, options);
  }

  /** New typed fields for each item. */
  enrich(body: EnrichRequestBody, options?: RequestOptions): Promise<OperationResponse> {
    return this.create('enrich', body, options);
  }

  /** A free prompt (`user_prompt_template`) over each item. */
  run(body: RunRequestBody, options?: RequestOptions): Promise<OperationResponse> {
    return this.create('run', body, options);
  }

  private create(operation: OperationName, body: object, options: RequestOptions = {}): Promise<OperationResponse> {
    return this.http.json(
      { method: 'POST', path: `/v1/operations/${operation}`, json: body, ...options },
      OperationResponse,
    );
  }
}
