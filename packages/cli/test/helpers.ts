// Shared by the CLI tests: run `herald` against a server and check the CLI's output contract
// (a success prints nothing on stderr; a failure prints exactly one `herald: …` line and exits
// non-zero).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { runHerald } from '@herald/testkit';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// The tests choose the URL and token of each command themselves: values inherited from the shell
// that runs them would change what is tested.
delete process.env.HERALD_URL;
delete process.env.HERALD_TOKEN;

/** Runs `herald args…` with HERALD_URL/HERALD_TOKEN for the given server and token. */
export function heraldAt(url: string, token: string) {
  return (args: string[], env: Record<string, string> = {}): Promise<RunResult> =>
    runHerald(args, { HERALD_URL: url, HERALD_TOKEN: token, ...env });
}

/** Asserts exit 0 and an empty stderr; returns stdout. */
export function ok(result: RunResult, what = 'command'): string {
  assert.equal(result.code, 0, `${what} failed (${String(result.code)}): ${result.stderr}`);
  assert.equal(result.stderr, '', `${what} wrote to stderr`);
  return result.stdout;
}

/**
 * Asserts the failure contract: a non-zero exit (the given one, when given), exactly one line on
 * stderr that starts with "herald:", and nothing on stdout (unless `stdout: 'any'`: apply prints
 * its diff before the server refuses the commit). Returns the stderr line.
 */
export function fails(
  result: RunResult,
  expect: { exitCode?: number; line?: RegExp; stdout?: 'empty' | 'any' } = {},
): string {
  assert.notEqual(result.code, 0, `expected a failure, got exit 0 with ${result.stdout}`);
  if (expect.exitCode !== undefined) assert.equal(result.code, expect.exitCode, `exit code; stderr: ${result.stderr}`);
  assert.match(result.stderr, /^herald: [^\n]+\n$/u, 'exactly one line on stderr, starting with "herald:"');
  if (expect.stdout !== 'any') assert.equal(result.stdout, '', 'nothing on stdout');
  const line = result.stderr.trimEnd();
  if (expect.line) assert.match(line, expect.line);
  return line;
}

export function parseJson<T = Record<string, unknown>>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    assert.fail(`not JSON: ${text}`);
  }
}

/** A loopback port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  return address.port;
}
