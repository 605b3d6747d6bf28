// `herald agent` as real processes against a real `herald server` process on loopback: the fixed
// flag form and the config file, every output format, atomic replacement under a reader, the
// reload command and its health, the local HTTP endpoint, and a control plane killed with SIGKILL.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { AdminClient } from '@herald/sdk';
import {
  eventually,
  heraldBin,
  runHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type ServerProcess,
} from '@herald/testkit';
import { fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

interface AgentProcess {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<number | NodeJS.Signals | null>;
  /** The first stderr line from index `from` on that matches (bounded wait). */
  line(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

interface FleetItem {
  instanceId: string;
  seq: number;
  status: string;
  health: string;
  healthDetail?: string;
}

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let herald: (args: string[], env?: Record<string, string>) => Promise<RunResult>;
let admin: AdminClient;
let clientToken: string;
const running = new Set<AgentProcess>();
const servers = new Set<ServerProcess>();

function spawnAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [heraldBin, 'agent', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  child.stdout.resume();
  const agent: AgentProcess = {
    child,
    stderr,
    exited,
    line: (pattern, from = 0, timeoutMs = 30_000) =>
      eventually(
        () => {
          const found = stderr.slice(from).find((l) => pattern.test(l));
          if (found !== undefined) return found;
          if (child.exitCode !== null || child.signalCode !== null)
            throw new Error(`herald agent exited; stderr: ${stderr.join(' | ')}`);
          return undefined;
        },
        { message: `a line ${pattern} from herald agent ${args.join(' ')}`, timeoutMs, fatal: agentExited },
      ),
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  running.add(agent);
  void exited.then(() => running.delete(agent));
  return agent;
}

/** A probe that saw the agent process end fails the wait at once. */
const agentExited = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('herald agent exited');

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The file parsed as JSON once `accept` likes it. */
async function jsonFile(
  path: string,
  accept: (value: Record<string, unknown>) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const text = await readOr(path);
      if (text === undefined) return undefined;
      const value = JSON.parse(text) as Record<string, unknown>;
      return accept(value) ? value : undefined;
    },
    { message: `${path} as wanted`, timeoutMs, fatal: agentExited },
  );
}

async function fleet(ns: string, url = server.url): Promise<FleetItem[]> {
  return parseJson<{ instances: FleetItem[] }>(
    ok(await runHerald(['fleet', ns, '--json'], { HERALD_URL: url, HERALD_TOKEN: testAdminToken })),
  ).instances;
}

const agentEnv = (): Record<string, string> => ({ HERALD_URL: server.url, HERALD_TOKEN: clientToken });

before(async () => {
  dir = await tempDir('herald-cli-agent-');
  server = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'warn',
  ]);
  servers.add(server);
  herald = heraldAt(server.url, testAdminToken);
  admin = new AdminClient({ url: server.url, token: testAdminToken });
  ok(await herald(['ns', 'create', 'web']));
  ok(await herald(['set', 'web', 'port', '8080']));
  ok(await herald(['set', 'web', 'name', '"web"']));
  ok(await herald(['set', 'web', 'port', '9090', '--label', 'prod']));
  ok(await herald(['release', 'web']));
  // Agents normally hold a client token; this one may not read secrets, so its files are 0644.
  clientToken = ok(await herald(['token', 'create', '--role', 'client', '--ns', '*'])).trim();
});

after(async () => {
  await Promise.all([...running].map((agent) => agent.stop('SIGKILL')));
  await Promise.all([...servers].map((s) => s.kill()));
  await dir?.cleanup();
});

void describe('herald agent --format json', () => {
  void test('writes the view as ONE JSON object, rewrites it on a new release, and stops cleanly on SIGTERM', async () => {
    const trust = join(dir.path, 'keys.json');
    await writeFile(trust, ok(await herald(['keys', 'list', '--json'])));
    const out = join(dir.path, 'json', 'web.json');
    const agent = spawnAgent([
      '--url',
      server.url,
      '--token',
      clientToken,
      '--ns',
      'web',
      '--out',
      out,
      '--format',
      'json',
      '--trust',
      trust,
      '--instance-id',
      'cli-json',
    ]);
    assert.deepEqual(await jsonFile(out), { name: 'web', port: 8080 });
    assert.equal((await stat(out)).mode & 0o777, 0o644);
    await agent.line(/^herald: agent wrote .*web\.json \(web release \d+, from server, mode 0644\)$/u);
    assert.ok(!agent.stderr.some((l) => /first contact/u.test(l)), 'with --trust, no trust on first use');

    ok(await herald(['set', 'web', 'port', '8081']));
    ok(await herald(['release', 'web']));
    assert.deepEqual(await jsonFile(out, (v) => v.port === 8081), { name: 'web', port: 8081 });

    assert.equal(await agent.stop('SIGTERM'), 0);
    assert.match(agent.stderr.at(-1) ?? '', /^herald: agent stopped$/u);
    assert.ok(
      agent.stderr.every((l) => l.startsWith('herald: agent ')),
      agent.stderr.join('\n'),
    );
  });
});

void describe('herald agent --format yaml | env', () => {
  void test('yaml holds the same object; env has one NAME=value line per key; url and token from the environment', async () => {
    const yamlOut = join(dir.path, 'formats', 'web.yaml');
    const envOut = join(dir.path, 'formats', 'web.env');
    ok(await herald(['set', 'web', 'motd', '"it\'s $HOME"', '--label', 'prod']));
    const yaml = spawnAgent(
      ['--ns', 'web', '--out', yamlOut, '--format', 'yaml', '--instance-id', 'cli-yaml'],
      agentEnv(),
    );
    const env = spawnAgent(
      ['--ns', 'web', '--label', '', '--label', 'prod', '--out', envOut, '--format', 'env', '--instance-id', 'cli-env'],
      agentEnv(),
    );
    const yamlText = await eventually(() => readOr(yamlOut), { message: 'web.yaml', fatal: agentExited });
    assert.deepEqual(parseYaml(yamlText), { name: 'web', port: 8081 });
    const envText = await eventually(
      async () => ((await readOr(envOut))?.includes('MOTD=') ? readOr(envOut) : undefined),
      { message: 'web.env with motd', fatal: agentExited },
    );
    assert.deepEqual(
      envText.split('\n').filter((l) => l && !l.startsWith('#')),
      ['MOTD="it\'s \\$HOME"', 'NAME=web', 'PORT=9090'],
    );
    await yaml.line(/trusting the server's signing keys on first contact/u);

    ok(await herald(['set', 'web', 'port', '9091', '--label', 'prod']));
    await eventually(async () => ((await readOr(envOut))?.includes('PORT=9091\n') ? true : undefined), {
      message: 'web.env at 9091',
      fatal: agentExited,
    });
    // The yaml view (no label) did not change: it is not rewritten.
    assert.equal(await readFile(yamlOut, 'utf8'), yamlText);
    await Promise.all([yaml.stop(), env.stop()]);
  });
});

void describe('herald agent --config', () => {
  void test('writes a template, serves the current values on the local HTTP port, and follows releases', async () => {
    const folder = join(dir.path, 'config');
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'app.tmpl'), 'listen :{{ port }}\nname {{ name | json }}\n');
    await writeFile(
      join(folder, 'agent.yaml'),
      [
        'instanceId: cli-config',
        'http:',
        '  listen: 127.0.0.1:0',
        'subscriptions:',
        '  - namespace: web',
        '    labels: ["", prod]',
        '    out: out/app.conf',
        '    format: template',
        '    template: app.tmpl',
        '  - namespace: web',
        '    out: out/web.json',
        '',
      ].join('\n'),
    );
    const agent = spawnAgent(['--config', join(folder, 'agent.yaml')], agentEnv());
    const base = /serving views on (http:\/\/\S+)$/u.exec(await agent.line(/serving views on http/u))?.[1] ?? '';
    assert.equal(
      await eventually(() => readOr(join(folder, 'out', 'app.conf')), { message: 'app.conf', fatal: agentExited }),
      'listen :9091\nname "web"\n',
    );

    const view = await eventually(
      async () => {
        const response = await fetch(`${base}/v1/views/web?label=`);
        return response.status === 200
          ? {
              etag: response.headers.get('etag'),
              body: (await response.json()) as { seq: number; digest: string; values: Record<string, unknown> },
            }
          : undefined;
      },
      { message: 'the view over HTTP', fatal: agentExited },
    );
    assert.deepEqual(view.body.values, await jsonFile(join(folder, 'out', 'web.json')));
    assert.equal(view.etag, `"${view.body.digest}"`);
    assert.equal((await fetch(`${base}/v1/views/web?label=&label=prod`)).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);

    ok(await herald(['set', 'web', 'name', '"web-2"']));
    const seq = parseJson<{ seq: number }>(ok(await herald(['release', 'web', '--json']))).seq;
    const updated = await eventually(
      async () => {
        const body = (await (await fetch(`${base}/v1/views/web?label=`)).json()) as {
          seq: number;
          values: Record<string, unknown>;
        };
        return body.seq === seq ? body : undefined;
      },
      { message: 'new values over HTTP', fatal: agentExited },
    );
    assert.equal(updated.values.name, 'web-2');
    assert.equal(
      await eventually(
        async () =>
          (await readOr(join(folder, 'out', 'app.conf')))?.includes('web-2')
            ? readOr(join(folder, 'out', 'app.conf'))
            : undefined,
        { message: 'app.conf with web-2', fatal: agentExited },
      ),
      'listen :9091\nname "web-2"\n',
    );
    await agent.stop();
  });

  void test('a bad command line or config file is one clear line and exit 2', async () => {
    fails(await runHerald(['agent', '--ns', 'web'], agentEnv()), {
      exitCode: 2,
      line: /needs --ns NS and --out FILE/u,
    });
    fails(await runHerald(['agent', '--ns', 'web', '--out', 'x.json', '--format', 'xml'], agentEnv()), {
      exitCode: 2,
      line: /format must be one of json, yaml, env, template/u,
    });
    fails(await runHerald(['agent', '--ns', 'web', '--out', 'x.json'], { HERALD_URL: server.url, HERALD_TOKEN: '' }), {
      exitCode: 2,
      line: /a token is needed/u,
    });
    const file = join(dir.path, 'bad-agent.yaml');
    await writeFile(file, 'subscriptions:\n  - namespace: web\n    out: a.json\n    mode: 0640\n');
    fails(await runHerald(['agent', '--config', file], agentEnv()), {
      exitCode: 2,
      line: /mode must be an octal string .*quote it/u,
    });
    fails(await runHerald(['agent', '--config', file, '--ns', 'web'], agentEnv()), {
      exitCode: 2,
      line: /--ns cannot be combined with --config/u,
    });
  });
});

void describe('atomic writes', () => {
  void test('a reader polling the file during many releases only ever parses complete JSON', async () => {
    ok(await herald(['ns', 'create', 'big']));
    const step = 997;
    const base = 400_000;
    const commit = (n: number) =>
      admin.post('/v1/namespaces/big/commits', {
        changes: [
          { op: 'set', key: 'n', value: n },
          { op: 'set', key: 'blob', value: 'x'.repeat(base + n * step) },
        ],
      });
    await commit(0);
    const out = join(dir.path, 'atomic', 'big.json');
    const agent = spawnAgent(['--ns', 'big', '--out', out, '--instance-id', 'cli-atomic'], agentEnv());
    await jsonFile(out, (v) => v.n === 0);

    // The reader runs in its own process, reading and parsing as fast as it can until told to stop.
    const stopFile = join(dir.path, 'atomic', 'stop');
    const readerScript = `
      const fs = require('node:fs');
      const [file, stop, base, step] = process.argv.slice(1);
      let reads = 0, bad = 0; const seen = new Set(); const errors = [];
      while (!fs.existsSync(stop)) {
        try {
          const value = JSON.parse(fs.readFileSync(file, 'utf8'));
          // n and blob must come from the same release: a file stitched from two would differ.
          if (typeof value.n !== 'number' || value.blob.length !== Number(base) + value.n * Number(step)) throw new Error('mixed content');
          seen.add(value.n);
          reads += 1;
        } catch (error) {
          bad += 1;
          if (errors.length < 3) errors.push(String(error.message).slice(0, 120));
        }
      }
      process.stdout.write(JSON.stringify({ reads, bad, distinct: seen.size, errors }));`;
    const reader = spawn(process.execPath, ['-e', readerScript, out, stopFile, String(base), String(step)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let report = '';
    reader.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
    const readerDone = new Promise<void>((resolve) => reader.once('close', () => resolve()));
    try {
      const releases = 40;
      for (let n = 1; n <= releases; n += 1) {
        await commit(n); // an immediate namespace releases every commit
        // Let the agent write most of them (not all: bursts may coalesce, which is fine).
        if (n % 4 === 0) await jsonFile(out, (v) => v.n === n);
      }
      await jsonFile(out, (v) => v.n === releases);
    } finally {
      await writeFile(stopFile, '');
      await readerDone;
    }
    const result = JSON.parse(report) as { reads: number; bad: number; distinct: number; errors: string[] };
    assert.equal(result.bad, 0, `the reader saw incomplete files: ${result.errors.join(' | ')}`);
    assert.ok(result.reads > 0);
    assert.ok(result.distinct > 1, 'the reader read while the file changed');
    await agent.stop();
  });
});

void describe('herald agent --exec', () => {
  void test('runs after a change only; a failing command makes the instance failing in herald fleet, the next success ok', async () => {
    const folder = join(dir.path, 'exec');
    const log = join(folder, 'reloads.log');
    const marker = join(folder, 'broken');
    const out = join(folder, 'web.json');
    const exec = `echo "$HERALD_SEQ" >> "${log}"; if [ -e "${marker}" ]; then echo "config check failed" >&2; exit 3; fi`;
    const agent = spawnAgent(
      ['--ns', 'web', '--out', out, '--exec', exec, '--instance-id', 'cli-exec', '--cache', join(folder, 'cache')],
      agentEnv(),
    );
    await jsonFile(out);
    await eventually(async () => ((await readOr(log))?.trim() ? true : undefined), {
      message: 'the first reload',
      fatal: agentExited,
    });
    const ran = async () => (await readFile(log, 'utf8')).trim().split('\n');
    assert.equal((await ran()).length, 1);
    await eventually(async () => (await fleet('web')).find((i) => i.instanceId === 'cli-exec' && i.health === 'ok'), {
      message: 'health ok',
      fatal: agentExited,
    });

    // A release that does not change this view: no reload.
    ok(await herald(['set', 'web', 'other', '1', '--label', 'staging']));
    const quiet = parseJson<{ seq: number }>(ok(await herald(['release', 'web', '--json']))).seq;
    await eventually(async () => (await fleet('web')).find((i) => i.instanceId === 'cli-exec' && i.seq === quiet), {
      message: 'the quiet release applied',
      fatal: agentExited,
    });
    await agent.line(new RegExp(`is current \\(web release ${quiet}\\)`, 'u'));
    assert.equal((await ran()).length, 1);

    await writeFile(marker, '');
    ok(await herald(['set', 'web', 'port', '8082']));
    const failing = await eventually(
      async () => (await fleet('web')).find((i) => i.instanceId === 'cli-exec' && i.health === 'failing'),
      { message: 'health failing', fatal: agentExited },
    );
    assert.match(failing.healthDetail ?? '', /exit code 3: config check failed/u);
    await agent.line(/^herald: agent reload failed after writing .*web\.json: ".*" exit code 3: config check failed$/u);

    await rm(marker);
    ok(await herald(['set', 'web', 'port', '8083']));
    await eventually(async () => (await fleet('web')).find((i) => i.instanceId === 'cli-exec' && i.health === 'ok'), {
      message: 'health ok again',
      fatal: agentExited,
    });
    assert.equal((await ran()).length, 3);
    await agent.stop();

    // Restarted with its file current: no reload.
    const again = spawnAgent(
      ['--ns', 'web', '--out', out, '--exec', exec, '--instance-id', 'cli-exec', '--cache', join(folder, 'cache')],
      agentEnv(),
    );
    await again.line(/web\.json is current/u);
    assert.equal((await ran()).length, 3);
    await again.stop();
  });
});

void describe('the control plane killed with SIGKILL', () => {
  void test('running agents keep their files, a restarted agent writes its file from cache, and the next release flows through', async () => {
    const folder = join(dir.path, 'outage');
    const data = join(folder, 'data');
    let plane = await startHeraldProcess(['server', '--data', data, '--listen', '127.0.0.1:0', '--log-level', 'warn']);
    servers.add(plane);
    const port = new URL(plane.url).port;
    const as = (args: string[]) => runHerald(args, { HERALD_URL: plane.url, HERALD_TOKEN: testAdminToken });
    ok(await as(['ns', 'create', 'ops']));
    ok(await as(['set', 'ops', 'level', '"info"']));
    const token = ok(await as(['token', 'create', '--role', 'client', '--ns', 'ops'])).trim();
    const env = { HERALD_URL: plane.url, HERALD_TOKEN: token };
    const outA = join(folder, 'a', 'ops.json');
    const outB = join(folder, 'b', 'ops.json');
    const argsA = ['--ns', 'ops', '--out', outA, '--cache', join(folder, 'a', 'cache'), '--instance-id', 'outage-a'];
    const argsB = ['--ns', 'ops', '--out', outB, '--cache', join(folder, 'b', 'cache'), '--instance-id', 'outage-b'];
    const a = spawnAgent(argsA, env);
    let b = spawnAgent(argsB, env);
    await jsonFile(outA, (v) => v.level === 'info');
    await jsonFile(outB, (v) => v.level === 'info');

    assert.equal(await plane.kill('SIGKILL'), 'SIGKILL');
    servers.delete(plane);
    await a.line(/disconnected: /u);
    assert.deepEqual(await jsonFile(outA), { level: 'info' }, 'the running agent keeps its file');
    assert.equal(a.child.exitCode, null, 'and keeps running');

    // An agent restarted during the outage, with its file gone, writes it from its verified cache.
    assert.equal(await b.stop('SIGTERM'), 0);
    await rm(outB);
    b = spawnAgent(argsB, env);
    assert.deepEqual(await jsonFile(outB), { level: 'info' });
    await b.line(/starting from the verified cache: ops release \d+/u);
    await b.line(/wrote .*ops\.json \(ops release \d+, from cache, mode 0644\)/u);

    // The control plane comes back on the same data and port: the next release reaches both.
    plane = await startHeraldProcess([
      'server',
      '--data',
      data,
      '--listen',
      `127.0.0.1:${port}`,
      '--log-level',
      'warn',
    ]);
    servers.add(plane);
    ok(await as(['set', 'ops', 'level', '"debug"']));
    ok(await as(['release', 'ops']));
    // Reconnects back off (at most 30 s with jitter): the bound is generous.
    assert.deepEqual(await jsonFile(outA, (v) => v.level === 'debug', 90_000), { level: 'debug' });
    assert.deepEqual(await jsonFile(outB, (v) => v.level === 'debug', 90_000), { level: 'debug' });
    await Promise.all([a.stop(), b.stop()]);
    await plane.kill('SIGTERM');
    servers.delete(plane);
  });
});
