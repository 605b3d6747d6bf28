/**
 * Every failure the agent raises carries a stable `code`; the message is for people. Match on
 * `code`, not on the message or on `instanceof`.
 */
export const agentErrorCodes = [
  /** The configuration is missing something or malformed; `problems` lists every finding. */
  'invalid_config',
  /** A view could not be rendered in a subscription's format (a template key missing, two keys with one env name). */
  'render_failed',
  /** The agent was closed before the operation could finish. */
  'agent_closed',
] as const;

export type AgentErrorCode = (typeof agentErrorCodes)[number];

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  /** For `invalid_config`: each finding, with the path of the setting it is about. */
  readonly problems: readonly string[];

  constructor(code: AgentErrorCode, message: string, options: { problems?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.problems = Object.freeze([...(options.problems ?? [])]);
  }
}

/**
 * The codes of the problem+json answers of the agent's local HTTP endpoint, with their status:
 * the one table http.ts answers from and docs/errors.md documents.
 */
export const agentHttpErrors = Object.freeze({
  /** The Host header is not a loopback name: a DNS-rebinding attempt from a browser. */
  forbidden_host: 403,
  /** The endpoint serves GET and HEAD only. */
  method_not_allowed: 405,
  /** No such path. */
  not_found: 404,
  /** The request is malformed (a namespace that is not valid percent-encoding). */
  invalid_request: 400,
  /** The namespace is followed with several label stacks and the request names none. */
  ambiguous_view: 400,
  /** The agent does not follow this namespace and label stack. */
  unknown_view: 404,
  /** The agent has no values for the view yet (Retry-After: 1). */
  not_ready: 503,
  /** The view carries secrets and `http.serveSecrets` is off. */
  secrets_not_served: 403,
} as const);

export type AgentHttpErrorCode = keyof typeof agentHttpErrors;
