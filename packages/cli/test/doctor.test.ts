// `herald doctor` (issue 16) on real setups: a server process and its data folder, a real agent's
// config and the cache it wrote, a PostgreSQL database, certificates from the test PKI. A healthy
// setup exits 0; each broken one exits non-zero and names the problem on its line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migratePostgres } from '@herald/store';
import {
  createTestDatabase,
  eventually,
  heraldBin,
  makeTestPki,
  runHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type ServerProcess,
} from '@herald/testkit';
import { closedPort, parseJson, type RunResult } from './helpers.js';

interface Finding {
  check: string;
  status: 'ok' | 'warning' | 'problem';
  detail: string;
  next?: string;
}

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let data: string;
let agentConfig: string;
let cacheDir: string;

async function api(path: string, method = 'GET', body?: unknown): Promise<unknown> {
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
  return response.json();
}

async function doctor(args: string[]): Promise<{ result: RunResult; findings: Finding[] }> {
  const result = await runHerald(['doctor', ...args, '--streams', '100', '--json']);
  const report = parseJson<{ findings: Finding[] }>(result.stdout);
  return { result, findings: report.findings };
}

/** Asserts a non-zero exit with the one-line summary, and a problem on the named check matching `detail`. */
function assertProblem(run: { result: RunResult; findings: Finding[] }, check: RegExp, detail: RegExp): Finding {
  assert.notEqual(run.result.code, 0, JSON.stringify(run.findings));
  assert.match(run.result.stderr, /^herald: \d+ problem\(s\) found/u);
  const found = run.findings.find((f) => f.status === 'problem' && check.test(f.check) && detail.test(f.detail));
  assert.ok(found, `a problem ${check} ${detail} in ${JSON.stringify(run.findings, null, 1)}`);
  assert.ok((found.next ?? '').length > 0, 'a problem says the next step');
  return found;
}

function assertHealthy(run: { result: RunResult; findings: Finding[] }): void {
  const problems = run.findings.filter((f) => f.status === 'problem');
  assert.deepEqual(problems, [], 'no problem');
  assert.equal(run.result.code, 0, run.result.stderr);
}

before(async () => {
  dir = await tempDir();
  data = join(dir.path, 'data');
  server = await startHeraldProcess(['server', '--data', data, '--listen', '127.0.0.1:0', '--log-level', 'error']);
  await api('/v1/namespaces', 'POST', { name: 'app' });
  await api('/v1/namespaces/app/entries/greeting', 'PUT', { value: 'hello' });
  const { token } = (await api('/v1/tokens', 'POST', { scopes: [{ namespaces: 'app', role: 'client' }] })) as {
    token: string;
  };
  writeFileSync(join(dir.path, 'keys.json'), JSON.stringify(await api('/v1/keys')));
  cacheDir = join(dir.path, 'agent-cache');
  agentConfig = join(dir.path, 'agent.yaml');
  const out = join(dir.path, 'app.json');
  writeFileSync(
    agentConfig,
    [
      `url: ${server.url}`,
      `token: ${token}`,
      'trust: keys.json',
      'cacheDir: agent-cache',
      'subscriptions:',
      '  - namespace: app',
      '    out: app.json',
    ].join('\n'),
  );
  // A real agent fills its cache, then stops.
  const agent = spawn(process.execPath, [heraldBin, 'agent', '--config', agentConfig], { stdio: 'ignore' });
  try {
    await eventually(() => existsSync(out) && readdirSync(cacheDir).some((f) => f.startsWith('view-')), {
      message: 'the agent wrote its file and cache',
      timeoutMs: 60_000,
    });
  } finally {
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
  }
});

after(async () => {
  await server.kill();
  await dir.cleanup();
});

void describe('herald doctor', () => {
  void it('finds nothing wrong with a healthy server, its data folder and an agent', async () => {
    const run = await doctor(['--data', data, '--url', server.url, '--agent', agentConfig]);
    assertHealthy(run);
    const checks = run.findings.map((f) => f.check);
    for (const check of [
      'data folder',
      'free space',
      'open files',
      'secret key',
      'signing keys',
      'reachable',
      'clock skew',
      'ready',
      'upstream',
      'trust',
      'cache',
    ])
      assert.ok(checks.includes(check), `checks ${check}: ${checks.join(', ')}`);
    // The human form: one line per check.
    const human = await runHerald(['doctor', '--data', data, '--streams', '100']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^ok +data folder: .* is 0700$/mu);
  });

  void it('names a data folder other users can read', async () => {
    chmodSync(data, 0o755);
    try {
      const found = assertProblem(await doctor(['--data', data]), /^data folder$/u, /is 0755/u);
      assert.match(found.next ?? '', /chmod 700/u);
    } finally {
      chmodSync(data, 0o700);
    }
  });

  void it('names a missing secret key, and a wrong one', async () => {
    const key = join(data, 'secret.key');
    const moved = join(dir.path, 'secret.key.moved');
    renameSync(key, moved);
    try {
      assertProblem(await doctor(['--data', data]), /^secret key$/u, /missing/u);
    } finally {
      renameSync(moved, key);
    }
    const wrong = join(dir.path, 'wrong.key');
    writeFileSync(wrong, `${Buffer.alloc(32, 9).toString('base64')}\n`);
    assertProblem(
      await doctor(['--data', data, '--secret-key-file', wrong]),
      /^secret key$/u,
      /is not the key of this store/u,
    );
  });

  void it('names a certificate about to expire', async () => {
    mkdirSync(join(dir.path, 'pki'));
    const pki = await makeTestPki(join(dir.path, 'pki'));
    assertProblem(await doctor(['--cert', pki.server.certFile]), /^certificate /u, /expires .* in [01] days/u);
    assertProblem(await doctor(['--cert', pki.expiredClient.certFile]), /^certificate /u, /expired/u);
  });

  void it('names an unreachable upstream', async () => {
    const config = join(dir.path, 'agent-down.yaml');
    writeFileSync(
      config,
      readFileSync(agentConfig, 'utf8').replace(server.url, `http://127.0.0.1:${await closedPort()}`),
    );
    assertProblem(await doctor(['--agent', config]), /^upstream$/u, /is not reachable/u);
    assertProblem(await doctor(['--url', `http://127.0.0.1:${await closedPort()}`]), /^reachable$/u, /ECONNREFUSED/u);
  });

  void it('names an agent cache file that does not verify', async () => {
    const file = readdirSync(cacheDir).find((f) => f.startsWith('view-'));
    assert.ok(file);
    const path = join(cacheDir, file);
    const original = readFileSync(path, 'utf8');
    writeFileSync(path, original.replace('"hello"', '"tampered"'));
    try {
      assertProblem(await doctor(['--agent', agentConfig]), /^cache$/u, /does not verify: .*\[digest_mismatch\]/u);
    } finally {
      writeFileSync(path, original);
    }
  });

  void it('names PostgreSQL migrations that are behind, and says when they are current', async () => {
    const db = await createTestDatabase();
    try {
      await migratePostgres(db.url);
      const current = await doctor(['--postgres', db.url]);
      assertHealthy(current);
      assert.ok(current.findings.some((f) => f.check === 'PostgreSQL migrations' && f.status === 'ok'));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query(
          'DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)',
        );
      } finally {
        await client.end();
      }
      const found = assertProblem(await doctor(['--postgres', db.url]), /^PostgreSQL migrations$/u, /behind/u);
      assert.match(found.next ?? '', /herald migrate/u);
    } finally {
      await db.drop();
    }
  });
});
