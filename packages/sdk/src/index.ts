/**
 * The TypeScript client of Sluice's operations API: synchronous operations
 * (`client.completions`) and jobs (`client.batches`). Types come from `@sluice/core/contracts`.
 */
export { Sluice, type FromProfileOptions } from './client.js';
export type { SluiceOptions, RequestOptions, CreateOptions, CompiledClientOptions } from './options.js';
export { newIdempotencyKey } from './options.js';
export type { RequestSpec, Schema } from './http.js';
export {
  APIConnectionError,
  APIConnectionTimeoutError,
  AuthenticationError,
  BadRequestError,
  ClientClosedError,
  ConfigurationError,
  ConflictError,
  errorFromResponse,
  InternalServerError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
  ResponseValidationError,
  SluiceAPIError,
  SluiceClientError,
  WaitTimeoutError,
} from './errors.js';
export {
  configFilePath,
  profileName,
  readProfile,
  resolveProfile,
  type Profile,
  type ProfileSource,
} from './profile.js';
export { pollUntilTerminal, type WaitOptions } from './wait.js';
export type { Completions } from './resources/completions.js';
export type {
  Batches,
  DownloadOutputOptions,
  DryRunOption,
  IterOutputOptions,
  JobFields,
  JobList,
  JobOperationParams,
  OutputFormat,
  OutputPageOptions,
  OutputTextOptions,
  SubmitAndWaitParams,
  SubmitJobParams,
  UploadJobParams,
} from './resources/batches.js';
export type { Job, DryRun, OperationResponse, OperationRow, OutputPage, BatchStatus } from '@sluice/core/contracts';
