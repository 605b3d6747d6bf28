// `herald server` as an operator starts it: a real child process, spawned here rather than with
// the testkit launcher because these tests need HERALD_ADMIN_TOKEN absent from the environment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { eventually, heraldBin, runHerald, tempDir } from '@herald/testkit';
import { fails, ok, parseJson, type RunResult } from './helpers.js';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Launched {
  url: string;
  /** Every line the process wrote so far, on stdout and on stderr. */
  stdout: string[];
  stderr: string[];
  exited: Promise<Exit>;
  stop(signal: NodeJS.Signals): Promise<Exit>;
}

/** The environment of the test process without HERALD_ADMIN_TOKEN (and without client settings). */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('HERALD_ADMIN_TOKEN' in extra)) delete env.HERALD_ADMIN_TOKEN;
  delete env.HERALD_URL;
  delete env.HERALD_TOKEN;
  return env;
}

const running = new Set<Launched>();

/** Runs `herald server …`; resolves once it prints where it listens (rejects if it exits first). */
async function launch(args: string[], env: Record<string, string> = {}): Promise<Launched> {
  const child = spawn(process.execPath, [heraldBin, 'server', ...args], {
    env: baseEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  // 'close', not 'exit': it comes after stdout and stderr have been read to the end.
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      const match = /control plane listening on (http\S+)/u.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
    void exited.then((exit) =>
      reject(new Error(`herald server exited (${JSON.stringify(exit)}) before listening: ${stderr.join(' | ')}`)),
    );
  });
  const launched: Launched = {
    url,
    stdout,
    stderr,
    exited,
    stop: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const exit = await exited;
      running.delete(launched);
      return exit;
    },
  };
  running.add(launched);
  return launched;
}

/** The first stdout line matching `pattern`, waiting for it (it may follow the "listening" line). */
async function lineMatching(server: Launched, pattern: RegExp): Promise<string> {
  let ended = false;
  void server.exited.then(() => (ended = true));
  try {
    return await eventually(
      () => {
        const line = server.stdout.find((l) => pattern.test(l));
        if (line === undefined && ended) throw new Error('the server ended');
        return line;
      },
      { timeoutMs: 30_000, intervalMs: 10, fatal: () => true },
    );
  } catch {
    assert.fail(`no line matching ${String(pattern)} in: ${server.stdout.join(' | ')}`);
  }
}

/** All the process wrote, once it has ended. */
async function allOutput(server: Launched): Promise<string> {
  await server.exited;
  return [...server.stdout, ...server.stderr].join('\n');
}

/** Runs `herald server …` that is expected to fail before listening. */
function runServer(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [heraldBin, 'server', ...args], {
      env: baseEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

async function status(url: string, path: string, token?: string): Promise<number> {
  const response = await fetch(new URL(path, url), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

const adminTokenLine = /admin token/iu;
let dir: { path: string; cleanup: () => Promise<void> };

before(async () => {
  dir = await tempDir('herald-cli-server-');
});

after(async () => {
  for (const server of running) await server.stop('SIGKILL');
  await dir?.cleanup();
});

void test('first start without HERALD_ADMIN_TOKEN prints an admin token once; it works, and later starts print none', async () => {
  const data = join(dir.path, 'generated');
  const first = await launch(['--data', data, '--listen', '127.0.0.1:0']);
  const tokenLine = await lineMatching(first, adminTokenLine);
  const token = /(\S+)\s*$/u.exec(tokenLine)?.[1] ?? '';
  assert.ok(token.length >= 20, `a token at the end of "${tokenLine}"`);
  // Also kept in the data folder, readable by the owner only, and the line says where.
  const tokenFile = join(data, 'admin-token');
  assert.ok(tokenLine.includes(tokenFile), `"${tokenLine}" names ${tokenFile}`);
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), token);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  // And how to get in again if it is lost.
  assert.ok(
    first.stdout.some((l) => /lost it\?.*HERALD_ADMIN_TOKEN=/u.test(l)),
    `a recovery hint in: ${first.stdout.join(' | ')}`,
  );

  assert.equal(await status(first.url, '/v1/tokens', token), 200);
  assert.equal(await status(first.url, '/v1/tokens', `${token}x`), 401);
  assert.equal(await status(first.url, '/v1/tokens'), 401);
  ok(await runHerald(['ns', 'create', 'demo', '--url', first.url, '--token', token]));
  ok(await runHerald(['set', 'demo', 'k', '1', '--url', first.url, '--token', token]));

  assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null });
  // Shown once: one such line, and the token not repeated, not even in the logs of the requests
  // that carried it.
  assert.equal(first.stdout.filter((l) => adminTokenLine.test(l)).length, 1);
  assert.equal((await allOutput(first)).split(token).length - 1, 1, 'the token appears exactly once in all the output');

  const second = await launch(['--data', data, '--listen', '127.0.0.1:0']);
  assert.equal(await status(second.url, '/v1/tokens', token), 200, 'the first token still works');
  assert.equal(ok(await runHerald(['get', 'demo', 'k', '--url', second.url, '--token', token])).trim(), '1');
  assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null });
  // Checked once it has ended, so that a line printed after the "listening" line is not missed.
  assert.deepEqual(
    second.stdout.filter((l) => adminTokenLine.test(l)),
    [],
    'no admin token on a later start',
  );
  assert.equal((await allOutput(second)).includes(token), false);

  // Lost: a restart with HERALD_ADMIN_TOKEN registers a new admin, and says so.
  const recovery = `recovery-${randomBytes(8).toString('hex')}`;
  const third = await launch(['--data', data, '--listen', '127.0.0.1:0'], { HERALD_ADMIN_TOKEN: recovery });
  await lineMatching(third, /registered the token in HERALD_ADMIN_TOKEN/u);
  assert.equal(await status(third.url, '/v1/tokens', recovery), 200);
  assert.deepEqual(await third.stop('SIGTERM'), { code: 0, signal: null });
});

void test('HERALD_ADMIN_TOKEN sets the bootstrap admin token: it works, it says it registered it, and never prints it', async () => {
  const data = join(dir.path, 'from-env');
  const adminToken = `operator-${randomBytes(12).toString('hex')}`;
  const server = await launch(['--data', data, '--listen', '127.0.0.1:0'], { HERALD_ADMIN_TOKEN: adminToken });
  assert.equal(await status(server.url, '/v1/tokens', adminToken), 200);
  assert.equal(await status(server.url, '/v1/tokens', 'operator-not-the-token'), 401);
  const created = parseJson<{ name: string }>(
    ok(await runHerald(['ns', 'create', 'env-made', '--json'], { HERALD_URL: server.url, HERALD_TOKEN: adminToken })),
  );
  assert.equal(created.name, 'env-made');
  assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
  assert.deepEqual(
    server.stdout.filter((l) => adminTokenLine.test(l)),
    [],
    'no generated admin token',
  );
  assert.equal(
    server.stdout.filter((l) => /registered the token in HERALD_ADMIN_TOKEN/u.test(l)).length,
    1,
    'it says it registered the token from the environment',
  );
  assert.equal(existsSync(join(data, 'admin-token')), false, 'no token file: the operator chose the token');
  assert.equal(
    (await allOutput(server)).includes(adminToken),
    false,
    'the token from the environment is never printed',
  );

  // Started again without it: the folder already has an admin, so no token is generated, and the
  // one from the environment still works.
  const again = await launch(['--data', data, '--listen', '127.0.0.1:0']);
  assert.equal(await status(again.url, '/v1/namespaces/env-made', adminToken), 200);
  assert.deepEqual(await again.stop('SIGINT'), { code: 0, signal: null });
  assert.deepEqual(
    again.stdout.filter((l) => adminTokenLine.test(l) || /registered/u.test(l)),
    [],
  );
});

void test('a HERALD_ADMIN_TOKEN that is too short is refused with one line', async () => {
  const result = await runServer(['--data', join(dir.path, 'short-token'), '--listen', '127.0.0.1:0'], {
    HERALD_ADMIN_TOKEN: 'short',
    HERALD_SECRET_KEY: randomBytes(32).toString('base64'),
  });
  fails(result, { line: /HERALD_ADMIN_TOKEN/u });
});

void test('/healthz and /readyz answer 200 once it listens', async () => {
  const server = await launch(['--data', join(dir.path, 'health'), '--listen', '127.0.0.1:0']);
  const response = await fetch(new URL('/healthz', server.url), { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: 'ok' });
  assert.equal(await status(server.url, '/readyz'), 200);
  assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
});

void test('SIGTERM and SIGINT shut it down gracefully: exit code 0, the port closed, the data kept', async () => {
  const data = join(dir.path, 'graceful');
  const adminToken = `graceful-${randomBytes(8).toString('hex')}`;
  const env = { HERALD_ADMIN_TOKEN: adminToken };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const server = await launch(['--data', data, '--listen', '127.0.0.1:0'], env);
    const client = { HERALD_URL: server.url, HERALD_TOKEN: adminToken };
    if (signal === 'SIGTERM') {
      ok(await runHerald(['ns', 'create', 'kept'], client));
    }
    ok(await runHerald(['set', 'kept', signal, '"written before the signal"'], client));
    assert.deepEqual(await server.stop(signal), { code: 0, signal: null }, `${signal} exit`);
    assert.ok(
      server.stderr.some((l) => l.includes(signal)),
      `it says it is shutting down on ${signal}`,
    );
    await assert.rejects(
      fetch(new URL('/healthz', server.url), { signal: AbortSignal.timeout(5_000) }),
      'nothing listens after exit',
    );
  }
  const after = await launch(['--data', data, '--listen', '127.0.0.1:0'], env);
  const client = { HERALD_URL: after.url, HERALD_TOKEN: adminToken };
  assert.equal(ok(await runHerald(['get', 'kept', 'SIGTERM'], client)).trim(), 'written before the signal');
  assert.equal(ok(await runHerald(['get', 'kept', 'SIGINT'], client)).trim(), 'written before the signal');
  assert.deepEqual(await after.stop('SIGTERM'), { code: 0, signal: null });
});

void test('--listen with a bad value exits 2 with one line, before touching the data folder', async () => {
  for (const listen of [
    'nonsense',
    '127.0.0.1',
    '127.0.0.1:',
    ':8420',
    '127.0.0.1:99999',
    '127.0.0.1:80x',
    'localhost:-1',
  ]) {
    const data = join(dir.path, `bad-listen-${listen.replace(/[^a-z0-9]/giu, '_')}`);
    const result = await runServer(['--data', data, '--listen', listen]);
    fails(result, { exitCode: 2, line: /--listen/u });
    assert.equal(existsSync(data), false, `${listen}: no data folder made`);
  }
});

void test('--listen on an address in use fails with one line', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const address = blocker.address();
    assert.ok(address && typeof address === 'object');
    const result = await runServer(['--data', join(dir.path, 'in-use'), '--listen', `127.0.0.1:${address.port}`], {
      HERALD_SECRET_KEY: randomBytes(32).toString('base64'),
    });
    fails(result, { line: /EADDRINUSE|in use/u });
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
