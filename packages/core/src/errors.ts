/**
 * The one catalogue of Herald's error codes. Every failure a client can see carries one of these
 * codes; HTTP status and title come from this table and nowhere else, and a test keeps
 * docs/errors.md in step with it. Clients must match on `code`, never on the message.
 */
export const errorCatalogue = {
  // Malformed requests
  invalid_json: { status: 400, title: 'The body is not valid JSON' },
  invalid_utf8: { status: 400, title: 'The body is not valid UTF-8' },
  json_too_deep: { status: 400, title: 'A JSON value is nested too deeply' },
  invalid_request: { status: 400, title: 'The request does not match the API schema' },
  invalid_http: { status: 400, title: 'The request is not valid HTTP' },
  invalid_path: { status: 400, title: 'The path is not valid (malformed percent-encoding)' },
  request_timeout: { status: 408, title: 'The request was not received in time' },
  headers_too_large: { status: 431, title: 'The request headers are too large' },
  unsupported_media_type: { status: 415, title: 'The content type is not supported' },
  body_too_large: { status: 413, title: 'The request body is too large' },
  value_too_large: { status: 413, title: 'A value is larger than the limit' },
  invalid_namespace_name: { status: 400, title: 'The namespace name is not valid' },
  invalid_key: { status: 400, title: 'The key is not valid' },
  invalid_label: { status: 400, title: 'The label is not valid' },
  invalid_tags: { status: 400, title: 'The tags are not valid' },
  invalid_value: { status: 400, title: 'The value does not match its content type' },
  invalid_cursor: { status: 400, title: 'The pagination cursor is not valid' },
  invalid_revision: { status: 400, title: 'The revision is not valid' },
  invalid_schema: { status: 400, title: 'The JSON Schema is not valid' },
  too_many_changes: { status: 400, title: 'The commit has more changes than allowed' },
  too_many_labels: { status: 400, title: 'More labels were given than allowed' },
  duplicate_change: { status: 400, title: 'The commit changes the same entry twice' },
  invalid_policy: { status: 400, title: 'The rollout policy is not valid' },
  // Authentication and authorisation
  unauthenticated: { status: 401, title: 'A valid token is required' },
  token_expired: { status: 401, title: 'The token has expired' },
  certificate_untrusted: { status: 401, title: 'The client certificate is not signed by a trusted CA' },
  certificate_unmapped: { status: 401, title: 'The client certificate matches no configured identity' },
  forbidden: { status: 403, title: 'The token does not allow this' },
  // Missing things
  route_not_found: { status: 404, title: 'No such route' },
  namespace_not_found: { status: 404, title: 'The namespace does not exist' },
  entry_not_found: { status: 404, title: 'The entry does not exist' },
  token_not_found: { status: 404, title: 'The token does not exist' },
  revision_not_found: { status: 404, title: 'The revision does not exist yet' },
  commit_not_found: { status: 404, title: 'No commit of the namespace has that revision' },
  snapshot_not_found: { status: 404, title: 'The snapshot does not exist' },
  method_not_allowed: { status: 405, title: 'The method is not allowed on this route' },
  // Conflicts with the current state
  namespace_exists: { status: 409, title: 'The namespace already exists' },
  namespace_not_empty: { status: 409, title: 'The namespace still has entries' },
  namespace_full: { status: 409, title: 'The namespace holds as many entries as allowed' },
  entry_locked: { status: 409, title: 'The entry is locked' },
  revert_conflict: { status: 409, title: 'A later commit changed an entry the reverted commit changed' },
  invalid_transition: { status: 409, title: 'The rollout cannot make that transition from its current state' },
  revision_compacted: { status: 410, title: 'That revision has been compacted away' },
  rollout_active: { status: 409, title: 'A rollout of the namespace is already running' },
  release_rolled_back: { status: 409, title: 'The namespace holds the content of a release that was rolled back' },
  change_request_not_found: { status: 404, title: 'The change request does not exist' },
  change_request_closed: { status: 409, title: 'The change request is no longer open' },
  change_request_stale: { status: 409, title: 'The namespace moved on since the change request was made' },
  rebase_conflict: { status: 409, title: 'The change request conflicts with the current state' },
  approval_refused: { status: 403, title: 'This token may not approve the change request' },
  change_window: { status: 409, title: 'A change window blocks the release' },
  schedule_not_found: { status: 404, title: 'The schedule does not exist' },
  token_not_rotatable: { status: 409, title: 'A revoked or expired token cannot be rotated' },
  snapshot_exists: { status: 409, title: 'A snapshot with this name already exists' },
  instance_conflict: { status: 409, title: 'The instance id belongs to another credential' },
  instance_limit: { status: 409, title: 'The namespace holds as many instance records as allowed' },
  precondition_failed: { status: 412, title: 'A precondition failed; nothing was changed' },
  precondition_required: { status: 428, title: 'The request must be conditional' },
  too_many_streams: { status: 429, title: 'The credential holds as many watch streams as allowed' },
  report_rate_limited: { status: 429, title: 'The credential sends reports faster than allowed' },
  schema_violation: { status: 422, title: 'The change violates the namespace schema' },
  invalid_flag: { status: 422, title: 'A feature flag in the change is not valid' },
  // The server itself
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'The service is unavailable; retry later' },
  deadline_exceeded: { status: 503, title: 'The request did not finish within its deadline' },
  shutting_down: { status: 503, title: 'The server is shutting down' },
  too_many_connections: { status: 503, title: 'The server holds as many connections as allowed' },
  starting: { status: 503, title: 'The server is starting' },
  watch_deferred: { status: 503, title: 'The node is admitting other watchers first' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export const errorCodes = Object.keys(errorCatalogue) as ErrorCode[];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCatalogue, value);
}

/** One problem found in an input, e.g. a JSON Schema violation: where, and what is wrong. */
export interface Violation {
  path: string;
  message: string;
}

export interface HeraldErrorOptions {
  /** Extra members rendered into the problem+json body (e.g. `violations`, `conflicts`). */
  extensions?: Record<string, unknown>;
  /** Seconds, for 503s that should be retried. */
  retryAfter?: number;
  cause?: unknown;
}

/** The error type of every deliberate failure in Herald. */
export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly extensions: Record<string, unknown>;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, detail?: string, options: HeraldErrorOptions = {}) {
    super(detail ?? errorCatalogue[code].title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeraldError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.extensions = options.extensions ?? {};
    this.retryAfter = options.retryAfter;
  }
}

export function isHeraldError(error: unknown): error is HeraldError {
  return error instanceof HeraldError;
}

/** One entry that failed a commit precondition, so a client knows which one to re-read. */
export interface Conflict {
  key: string;
  label: string;
  /** What the caller expected, in words. */
  expected: string;
  /** The entry's current revision, or null when it does not exist. */
  actualRevision: number | null;
}
