export { AdminClient, HeraldApiError } from './admin-client.js';
export type { AdminClientOptions, RequestOptions } from './admin-client.js';
export { HeraldClient } from './client.js';
export type { ClientStatus, ClientStatusType, ViewChange, ViewSelector, ViewSnapshot } from './client-types.js';
export type {
  HealthStatus,
  HeraldClientOptions,
  ValidateContext,
  ValidateHook,
  ValidateResult,
  WatchedView,
} from './options.js';
export { clientErrorCodes, HeraldClientError } from './errors.js';
export type { ClientErrorCode, HeraldClientErrorOptions } from './errors.js';
export { rejectionCodes } from './verify.js';
export type { RejectionCode } from './verify.js';
export { systemClientClock } from './clock.js';
export type { FailoverOptions } from './endpoints.js';
export { nodeFetch, tlsFetch } from './node-fetch.js';
export { tokenFromFile } from './token-file.js';
export type { ClientTlsOptions } from './node-fetch.js';
export type { ClientClock } from './clock.js';
export { Backoff, parseRetryAfter } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { SseError, SseParser } from './sse.js';
export type { SseEvent, SseParserOptions } from './sse.js';
