import { parseRetryAfter } from './backoff.js';
import { HeraldClientError } from './errors.js';

/**
 * What an HTTP error response said, read once whatever its body was: a problem+json document
 * (RFC 9457, docs/errors.md), some other text, or nothing. Every client of Herald's HTTP API
 * (the admin client, the watch client, the relay's upstream) turns refusals into its own error
 * from this, so all of them read the same members in the same way.
 */
export interface HttpProblem {
  readonly status: number;
  /** The server's stable `code` (docs/errors.md), when the body was problem+json with one. */
  readonly code: string | undefined;
  /** The problem's `detail`; else the body text when it was not a JSON object; else `HTTP <status>`. */
  readonly detail: string;
  /** The Retry-After header in milliseconds from `now`, when it had a valid one. */
  readonly retryAfterMs: number | undefined;
  /** The problem+json document as sent (extra members included); undefined when the body was not a JSON object. */
  readonly document: Readonly<Record<string, unknown>> | undefined;
}

/** Longer text is an error page, not a detail: it is cut here rather than carried into every message. */
const maxTextDetail = 1000;

/** Reads an error response's body (to the end, so the connection can be reused) into an HttpProblem. */
export async function readProblem(response: Response, now: number): Promise<HttpProblem> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body broke off: the status still says what happened.
  }
  let document: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      document = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's error page, say): the text is the detail.
  }
  const fallback = text.length > 0 ? text.slice(0, maxTextDetail) : `HTTP ${response.status}`;
  return {
    status: response.status,
    code: typeof document?.code === 'string' ? document.code : undefined,
    detail:
      document === undefined
        ? fallback
        : typeof document.detail === 'string'
          ? document.detail
          : `HTTP ${response.status}`,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
    document,
  };
}

/**
 * The watch client's error for a refused request: `http_error` with the status, the server's code
 * and (for a 503 shed or a 429 cap, the statuses the protocol pairs with Retry-After) how long to wait.
 * `refused` names what was refused, for the message: "the watch was refused".
 */
export function problemError(problem: HttpProblem, refused: string): HeraldClientError {
  const retryAfterMs = problem.status === 503 || problem.status === 429 ? problem.retryAfterMs : undefined;
  return new HeraldClientError('http_error', `${refused}: ${problem.detail}`, {
    status: problem.status,
    ...(problem.code === undefined ? {} : { serverCode: problem.code }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** Reads a refused response into the watch client's error: `readProblem` then `problemError`. */
export async function problemFromResponse(
  response: Response,
  refused: string,
  now: number,
): Promise<HeraldClientError> {
  return problemError(await readProblem(response, now), refused);
}
