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
