import { spawn } from 'node:child_process';

export type ExecResult = { ok: true; durationMs: number } | { ok: false; durationMs: number; reason: string };

const outputTailBytes = 4096;
const reasonOutputChars = 300;

/** The last non-empty line of what the command printed (stderr preferred), shortened. */
function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/u)
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.at(-1) ?? '';
  return line.length > reasonOutputChars ? `${line.slice(0, reasonOutputChars - 3)}...` : line;
}

function keepTail(previous: string, chunk: Buffer): string {
  const text = previous + chunk.toString('utf8');
  return text.length > outputTailBytes ? text.slice(-outputTailBytes) : text;
}

/**
 * Runs `command` through the system shell (`/bin/sh -c` on Unix) in a process group of its own,
 * with `env` added to the agent's environment and stdin closed. Resolves — never rejects — once
 * the command has exited: ok on exit code 0; otherwise the reason (exit code or signal, plus the
 * last line it printed). Past `timeoutMs`, or when `signal` aborts, the whole group is killed
 * (SIGKILL), so a hung reload cannot pile up behind the next one. Waits for the exit, not for its
 * output to close: a reload that starts a daemon which keeps the pipes open still counts as done.
 */
export function runCommand(
  command: string,
  options: { timeoutMs: number; env?: Record<string, string>; signal?: AbortSignal },
): Promise<ExecResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  return new Promise<ExecResult>((resolve) => {
    let stdout = '';
    let stderr = '';
    let why: string | undefined;
    const child = spawn(command, {
      shell: true,
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      windowsHide: true,
    });
    child.stdout.on('data', (chunk: Buffer) => (stdout = keepTail(stdout, chunk)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = keepTail(stderr, chunk)));
    const kill = (reason: string): void => {
      why ??= reason;
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => kill(`timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    const onAbort = (): void => kill('stopped: the agent is closing');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    let settled = false;
    const finish = (result: ExecResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Do not wait for pipes that a background process may hold open.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(result);
    };
    child.once('error', (error) =>
      finish({ ok: false, durationMs: elapsed(), reason: `could not run: ${error.message}` }),
    );
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (code === 0 && why === undefined) {
        finish({ ok: true, durationMs: elapsed() });
        return;
      }
      const output = lastLine(stderr) || lastLine(stdout);
      const how = why ?? (signal ? `killed by ${signal}` : `exit code ${code ?? '?'}`);
      finish({ ok: false, durationMs: elapsed(), reason: output ? `${how}: ${output}` : how });
    };
    // 'close' comes once the pipes are drained too (so the reason has the last line printed);
    // when a background process holds them open, 'exit' plus a short grace has to do.
    child.once('close', exited);
    child.once('exit', (code, signal) => {
      setTimeout(() => exited(code, signal), 250);
    });
  });
}
