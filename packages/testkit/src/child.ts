// Long-running herald commands that are not servers (watch, simulate) as child processes whose
// output lines a test can wait for.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { heraldBin } from './server.js';

export interface HeraldChild {
  child: ChildProcess;
  /** Every stdout line so far. */
  stdout: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves with the exit code or signal once the process has ended. */
  exited: Promise<number | NodeJS.Signals | null>;
  /**
   * Resolves with the first stdout line at or after index `from` that satisfies `match`; rejects
   * when none comes within `timeoutMs` or the process exits first (a liveness guard).
   */
  waitForLine(match: (line: string) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Sends `signal` (SIGTERM by default) unless it has ended, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/**
 * Runs `herald args…` with `env` added to this process's environment; `wrapper` runs it through
 * another command that execs it (e.g. `ip netns exec NS`), so the PID is still herald's.
 */
export function spawnHerald(args: string[], env: Record<string, string> = {}, wrapper: string[] = []): HeraldChild {
  const [command, ...prefix] = [...wrapper, process.execPath];
  const child = spawn(command ?? process.execPath, [...prefix, heraldBin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  const wake = (): void => {
    for (const listener of [...listeners]) listener();
  };
  let ended = false;
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = true;
      wake();
      resolve(signal ?? code);
    }),
  );
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line);
    wake();
  });
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  return {
    child,
    stdout,
    stderr,
    exited,
    waitForLine: (match, options = {}) =>
      new Promise<string>((resolve, reject) => {
        const timeoutMs = options.timeoutMs ?? 30_000;
        let index = options.from ?? 0;
        const check = (): void => {
          for (; index < stdout.length; index += 1) {
            const line = stdout[index] as string;
            if (match(line)) {
              finish();
              resolve(line);
              return;
            }
          }
          if (ended) {
            finish();
            reject(new Error(`herald ${args.join(' ')} exited before the line awaited; stderr: ${stderr.join(' | ')}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `no awaited line from herald ${args.join(' ')} within ${timeoutMs} ms; stdout: ${stdout.join(' | ')}; stderr: ${stderr.join(' | ')}`,
            ),
          );
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
