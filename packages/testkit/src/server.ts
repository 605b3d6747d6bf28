import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { SecretCipher, systemClock, type TimerClock } from '@herald/core';
import {
  createServer,
  ensureBootstrapAdmin,
  type EarlyListener,
  type HeraldServer,
  type ServerConfigInput,
} from '@herald/server';
import { SqliteStore, type Store } from '@herald/store';
import { AdminClient } from '@herald/sdk';
import { tempDir } from './temp.js';

export const testAdminToken = 'test-admin-token-0123456789';
/** One fixed key for test servers, so a test can close a store and open a server on it again. */
export const testSecretKey = Buffer.alloc(32, 7);

export interface TestServer {
  server: HeraldServer;
  store: Store;
  url: string;
  adminToken: string;
  admin: AdminClient;
  /** Closes server and store and removes the temp folder (when the kit made it). */
  close(): Promise<void>;
}

const silentLogs = new Writable({ write: (_chunk, _encoding, done) => done() });

/** A real server on 127.0.0.1 port 0, on a real SQLite file in a fresh temp folder unless a store is given. */
export async function startTestServer(
  options: {
    store?: Store;
    clock?: TimerClock;
    config?: ServerConfigInput;
    /** 32 bytes; pass the same one to reopen a store. */ secretKey?: Buffer;
    /** A socket bound before the server was built (listenEarly), which the server takes over. */
    listener?: EarlyListener;
  } = {},
): Promise<TestServer> {
  const dir = options.store ? undefined : await tempDir();
  const store = options.store ?? SqliteStore.open({ path: join(dir?.path ?? '', 'herald.db') });
  const clock = options.clock ?? systemClock;
  await ensureBootstrapAdmin(store, clock, testAdminToken);
  const server = createServer({
    store,
    clock,
    cipher: new SecretCipher(options.secretKey ?? testSecretKey),
    config: { port: 0, logLevel: 'silent', ...options.config },
    logStream: silentLogs,
    ...(options.listener ? { listener: options.listener } : {}),
  });
  const url = await server.listen();
  return {
    server,
    store,
    url,
    adminToken: testAdminToken,
    admin: new AdminClient({ url, token: testAdminToken }),
    close: async () => {
      await server.close();
      await store.close();
      await dir?.cleanup();
    },
  };
}

/** The CLI entry point, for tests that run real child processes. */
export const heraldBin = fileURLToPath(new URL('../../../cli/bin/herald.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Every stdout line so far. */
  output: string[];
  /** Resolves with the exit code or signal once the process has ended. */
  exited: Promise<number | NodeJS.Signals | null>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/**
 * Runs `herald server` (or any herald command that prints "listening on URL") as a child process
 * and resolves once it listens. Extra args and env are passed through.
 */
export async function startHeraldProcess(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [heraldBin, ...args], {
    env: { ...process.env, HERALD_ADMIN_TOKEN: testAdminToken, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const errors: string[] = [];
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  createInterface({ input: child.stderr }).on('line', (line) => errors.push(line));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`herald ${args.join(' ')} did not start in ${timeoutMs} ms: ${errors.join(' | ')}`)),
      timeoutMs,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line);
      const match = /listening on (http\S+)/u.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`herald ${args.join(' ')} exited (${String(code)}) before listening: ${errors.join(' | ')}`));
    });
  });
  return {
    child,
    url,
    output,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs one herald CLI command to completion; never throws for a non-zero exit. */
export function runHerald(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [heraldBin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
