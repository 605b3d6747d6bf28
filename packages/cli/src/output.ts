import { HeraldError } from '@herald/core';
import { HeraldApiError } from '@herald/sdk';

/**
 * A failure the user caused or can fix: printed as one line, exit code 1 (2 for usage), with the
 * stable code in brackets when there is one (a server's refusal re-worded by the CLI keeps it).
 */
export class CliError extends Error {
  readonly exitCode: number;
  readonly code: string | undefined;
  constructor(message: string, exitCode = 1, code?: string) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
  }
}

/**
 * Not a failure: the namespace requires approval, and the server opened a change request instead
 * of making the change. main.ts prints it (the request as JSON with --json) and exits 0.
 */
export class ChangeRequestPending extends Error {
  readonly body: { changeRequest: { id: string }; message: string };
  readonly json: boolean;
  constructor(body: { changeRequest: { id: string }; message: string }, json: boolean) {
    super(body.message);
    this.body = body;
    this.json = json;
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`herald: ${line}\n`);
}

/** One line on stderr for any failure; the stable code in brackets so scripts can grep it. */
export function describeFailure(error: unknown): { line: string; exitCode: number } {
  if (error instanceof CliError)
    return { line: error.code ? `${error.message} [${error.code}]` : error.message, exitCode: error.exitCode };
  if (error instanceof HeraldApiError) {
    // The server's detail usually lists the violations already; add them only when it does not,
    // so that each is named once.
    const violations = Array.isArray(error.problem.violations)
      ? (error.problem.violations as Array<{ path: string; message: string }>)
      : [];
    const first = violations[0];
    // Listed already when the detail names the first violation's path and message, in whatever
    // punctuation ("a: must…" or "a must…").
    const listed =
      first === undefined || (error.message.includes(first.path || '/') && error.message.includes(first.message));
    const extra = listed
      ? ''
      : ` — ${violations
          .slice(0, 3)
          .map((v) => `${v.path || '/'} ${v.message}`)
          .join('; ')}`;
    return { line: `${error.message}${extra} [${error.code}]`, exitCode: 1 };
  }
  if (error instanceof HeraldError) return { line: `${error.message} [${error.code}]`, exitCode: 1 };
  return { line: error instanceof Error ? error.message : String(error), exitCode: 1 };
}

export function oneLine(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
