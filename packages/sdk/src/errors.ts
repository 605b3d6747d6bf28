/**
 * Every failure the watch client raises or reports carries a stable `code`; the message is for
 * people. Match on `code`, never on the message or on `instanceof` (two copies of the package in
 * one process would make `instanceof` lie).
 */
export const clientErrorCodes = [
  /** An option is missing or malformed; thrown by the constructor. */
  'invalid_options',
  /** The client was closed (or destroyed) before the operation could finish. */
  'client_closed',
  /** The AbortSignal given to the client or to `ready()` fired; `cause` is its reason. */
  'aborted',
  /** `get`/`values`/`snapshot` named a view the client does not watch. */
  'unknown_view',
  /** The namespace is watched with several label stacks; pass `labels` to say which. */
  'ambiguous_view',
  /** The server answered the watch or a report with an HTTP error (see `status`, `serverCode`). */
  'http_error',
  /** The server could not be reached (DNS, refused, reset, TLS). */
  'unreachable',
  /** The server broke the protocol: wrong content type, an event too large, bad framing. */
  'protocol_error',
  /** The stream ended (the server closed it) or went silent past its heartbeat. */
  'stream_ended',
  'stream_stalled',
  /** The client dropped the stream itself to resynchronise after a delta from an unexpected base. */
  'resync',
  /** The client left a less preferred endpoint for a preferred one that has stayed ready (failback). */
  'failback',
] as const;

export type ClientErrorCode = (typeof clientErrorCodes)[number];

export interface HeraldClientErrorOptions {
  cause?: unknown;
  /** HTTP status, for `http_error`. */
  status?: number | undefined;
  /** The server's problem+json `code`, for `http_error`. */
  serverCode?: string | undefined;
  /** Milliseconds the server asked the client to wait (503 + Retry-After). */
  retryAfterMs?: number;
}

export class HeraldClientError extends Error {
  readonly code: ClientErrorCode;
  readonly status: number | undefined;
  readonly serverCode: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ClientErrorCode, message: string, options: HeraldClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeraldClientError';
    this.code = code;
    this.status = options.status;
    this.serverCode = options.serverCode;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Turns an abort reason (anything) into an Error without losing it. */
export function abortError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new HeraldClientError('aborted', 'the operation was aborted', { cause: reason });
}
