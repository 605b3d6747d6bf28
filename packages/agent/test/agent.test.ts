// The agent as a library against a real control plane (in-process, real SQLite file, real
// sockets on loopback): files in every format, reload commands, health, rejections, the local
// HTTP endpoint, and the lifecycle.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { createAgent, type Agent, type AgentConfigInput, type AgentEvent } from '@herald/agent';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';

let server: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };
let clientToken: string;
const agents: Agent[] = [];

interface FleetItem {
  instanceId: string;
  seq: number;
  status: string;
  reason?: string;
  health: string;
  healthDetail?: string;
}

before(async () => {
  server = await startTestServer();
  dir = await tempDir('herald-agent-');
  await server.admin.post('/v1/namespaces', { name: 'shop' });
  await set('shop', 'db/pool/max', 10);
  await set('shop', 'name', 'shop');
  await set('shop', 'db/pool/max', 20, 'prod');
  await release('shop');
  // A client token that may not read secrets: its views carry none.
  clientToken = (
    await server.admin.post<{ token: string }>('/v1/tokens', { scopes: [{ namespaces: '*', role: 'client' }] })
  ).token;
});

after(async () => {
  await Promise.all(agents.map((agent) => agent.destroy()));
  await server?.close();
  await dir?.cleanup();
});

async function set(ns: string, key: string, value: unknown, label = ''): Promise<void> {
  await server.admin.put(`/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`, { value }, { query: { label } });
}

async function remove(ns: string, key: string, label = ''): Promise<void> {
  await server.admin.delete(`/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`, { query: { label } });
}

async function release(ns: string): Promise<number> {
  return (await server.admin.post<{ seq: number }>(`/v1/namespaces/${ns}/releases`, {})).seq;
}

async function fleet(ns: string): Promise<FleetItem[]> {
  return (await server.admin.get<{ instances: FleetItem[] }>(`/v1/fleet/${ns}`)).instances;
}

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function startAgent(config: Omit<AgentConfigInput, 'url' | 'token'> & { token?: string }): {
  agent: Agent;
  events: AgentEvent[];
} {
  const events: AgentEvent[] = [];
  const agent = createAgent(
    { url: server.url, token: clientToken, reportInterval: '1s', ...config },
    { onEvent: (event) => events.push(event) },
  );
  agents.push(agent);
  return { agent, events };
}

function httpGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void describe('files', () => {
  void it('writes each subscription in its format and rewrites only what a release changed, running exec after a change only', async () => {
    const out = join(dir.path, 'files');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'app.tmpl'), 'max={{ db/pool/max }}\nname={{ name | json }}\n');
    const execLog = join(out, 'exec.log');
    const { agent, events } = startAgent({
      instanceId: 'files-1',
      subscriptions: [
        {
          namespace: 'shop',
          labels: ['', 'prod'],
          out: join(out, 'app.json'),
          format: 'json',
          exec: `echo "$HERALD_SEQ $HERALD_NAMESPACE" >> "${execLog}"`,
        },
        { namespace: 'shop', out: join(out, 'default.yaml'), format: 'yaml' },
        { namespace: 'shop', labels: ['', 'prod'], out: join(out, 'app.env'), format: 'env' },
        {
          namespace: 'shop',
          labels: ['', 'prod'],
          out: join(out, 'app.conf'),
          format: 'template',
          template: join(out, 'app.tmpl'),
        },
      ],
    });
    await agent.start();
    const json = await eventually(async () => (await readOr(join(out, 'app.json'))) || undefined, {
      message: 'app.json',
    });
    assert.deepEqual(JSON.parse(json), { 'db/pool/max': 20, name: 'shop' });
    assert.deepEqual(
      parseYaml(await eventually(() => readOr(join(out, 'default.yaml')), { message: 'default.yaml' })),
      {
        'db/pool/max': 10,
        name: 'shop',
      },
    );
    const env = await eventually(() => readOr(join(out, 'app.env')), { message: 'app.env' });
    assert.match(env, /^DB_POOL_MAX=20$/mu);
    assert.match(env, /^NAME=shop$/mu);
    assert.equal(
      await eventually(() => readOr(join(out, 'app.conf')), { message: 'app.conf' }),
      'max=20\nname="shop"\n',
    );
    for (const name of ['app.json', 'default.yaml', 'app.env', 'app.conf'])
      assert.equal((await stat(join(out, name))).mode & 0o777, 0o644, name);
    const firstSeq = agent.views()[0]?.snapshot?.seq;
    assert.equal(
      await eventually(async () => (await readOr(execLog))?.trim() || undefined, { message: 'exec' }),
      `${firstSeq} shop`,
    );

    // A release that changes none of these views: nothing is rewritten, nothing reloaded.
    await set('shop', 'db/pool/max', 99, 'staging');
    const quiet = await release('shop');
    await eventually(
      () => (events.filter((e) => e.type === 'file' && e.seq === quiet).length === 4 ? true : undefined),
      { message: 'the quiet release' },
    );
    assert.ok(
      events
        .filter((e) => e.type === 'file' && e.seq === quiet)
        .every((e) => e.type === 'file' && e.outcome === 'unchanged'),
    );
    assert.equal((await readFile(execLog, 'utf8')).trim().split('\n').length, 1);

    // A release that changes the prod view: its three files are rewritten, the yaml is not.
    await set('shop', 'db/pool/max', 30, 'prod');
    const next = await release('shop');
    // (Each commit is also released on an immediate namespace: the change may come at a lower seq.)
    const writes = (): AgentEvent[] =>
      events.filter((e) => e.type === 'file' && e.seq > quiet && e.outcome === 'written');
    await eventually(() => (writes().length === 3 ? true : undefined), { message: 'the writes of the release' });
    assert.deepEqual(
      writes()
        .map((e) => (e.type === 'file' ? e.out : ''))
        .sort(),
      [join(out, 'app.conf'), join(out, 'app.env'), join(out, 'app.json')],
    );
    const changed = writes()[0]?.type === 'file' ? (writes()[0] as { seq: number }).seq : -1;
    assert.equal(
      (JSON.parse(await readFile(join(out, 'app.json'), 'utf8')) as Record<string, unknown>)['db/pool/max'],
      30,
    );
    assert.equal(await readFile(join(out, 'app.conf'), 'utf8'), 'max=30\nname="shop"\n');
    assert.match(await readFile(join(out, 'app.env'), 'utf8'), /^DB_POOL_MAX=30$/mu);
    assert.deepEqual(parseYaml(await readFile(join(out, 'default.yaml'), 'utf8')), { 'db/pool/max': 10, name: 'shop' });
    await eventually(
      () =>
        events.some(
          (e) =>
            e.type === 'file' && e.seq === next && e.out === join(out, 'default.yaml') && e.outcome === 'unchanged',
        )
          ? true
          : undefined,
      { message: 'release seen' },
    );
    assert.deepEqual(
      (
        await eventually(
          async () =>
            (await readFile(execLog, 'utf8')).trim().split('\n').length === 2 ? readFile(execLog, 'utf8') : undefined,
          { message: 'second exec' },
        )
      )
        .trim()
        .split('\n'),
      [`${firstSeq} shop`, `${changed} shop`],
    );
    await agent.close();
    assert.deepEqual(
      (await readdir(out)).filter((name) => name.includes('herald-tmp')),
      [],
    );
  });

  void it('a restarted agent that finds its files current runs no exec; one whose file differs does', async () => {
    const out = join(dir.path, 'restart');
    const execLog = join(out, 'exec.log');
    const config = {
      instanceId: 'restart-1',
      subscriptions: [
        { namespace: 'shop', labels: ['', 'prod'], out: join(out, 'app.json'), exec: `echo run >> "${execLog}"` },
      ],
    };
    const first = startAgent(config);
    await first.agent.start();
    await eventually(() => readOr(execLog), { message: 'exec' });
    await first.agent.close();
    const second = startAgent(config);
    await second.agent.start();
    await eventually(() => (second.events.some((e) => e.type === 'file') ? true : undefined), {
      message: 'the check of the file',
    });
    assert.ok(second.events.some((e) => e.type === 'file' && e.outcome === 'unchanged'));
    await second.agent.close();
    assert.equal((await readFile(execLog, 'utf8')).trim().split('\n').length, 1);

    await writeFile(join(out, 'app.json'), '{"edited": true}\n');
    const third = startAgent(config);
    await third.agent.start();
    await eventually(
      async () => ((await readFile(execLog, 'utf8')).trim().split('\n').length === 2 ? true : undefined),
      { message: 'the repaired file and the exec' },
    );
    assert.equal(
      (JSON.parse(await readFile(join(out, 'app.json'), 'utf8')) as Record<string, unknown>).edited,
      undefined,
    );
    await third.agent.close();
  });

  void it('a view that carries secrets is written 0600, an explicit mode wins', async () => {
    const out = join(dir.path, 'secrets');
    const { agent } = startAgent({
      token: server.adminToken, // may read secrets: its views say so in the manifest
      instanceId: 'secrets-1',
      subscriptions: [
        { namespace: 'shop', out: join(out, 'app.json') },
        { namespace: 'shop', labels: ['', 'prod'], out: join(out, 'app.env'), format: 'env', mode: '0640' },
      ],
    });
    await agent.start();
    await eventually(
      async () => ((await readOr(join(out, 'app.json'))) && (await readOr(join(out, 'app.env'))) ? true : undefined),
      { message: 'both files' },
    );
    assert.equal((await stat(join(out, 'app.json'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(out, 'app.env'))).mode & 0o777, 0o640);
    await agent.close();
  });

  void it('removes temp files a crashed agent left, and no others', async () => {
    const out = join(dir.path, 'stale');
    await mkdir(out, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const stale = `.app.json.${dead}.0123456789ab.herald-tmp`;
    const live = `.app.json.${process.pid === 1 ? 2 : process.ppid}.0123456789ab.herald-tmp`;
    await writeFile(join(out, stale), 'half');
    await writeFile(join(out, live), 'in progress');
    await writeFile(join(out, 'unrelated.herald-tmp'), 'x');
    const { agent } = startAgent({
      instanceId: 'stale-1',
      subscriptions: [{ namespace: 'shop', out: join(out, 'app.json') }],
    });
    await agent.start();
    await eventually(() => readOr(join(out, 'app.json')), { message: 'app.json' });
    const names = await readdir(out);
    assert.ok(!names.includes(stale), 'the dead process left it: removed');
    assert.ok(names.includes(live) && names.includes('unrelated.herald-tmp'));
    await agent.close();
  });
});

void describe('health and rejections', () => {
  void it('a failing exec makes the instance failing in the fleet, with the reason; the next success makes it ok', async () => {
    const out = join(dir.path, 'health');
    const marker = join(out, 'broken');
    await mkdir(out, { recursive: true });
    await writeFile(marker, '');
    const { agent } = startAgent({
      instanceId: 'health-1',
      subscriptions: [
        {
          namespace: 'shop',
          labels: ['', 'prod'],
          out: join(out, 'app.json'),
          exec: `if [ -e "${marker}" ]; then echo "config test failed" >&2; exit 4; fi`,
        },
      ],
    });
    await agent.start();
    const failing = await eventually(
      async () => (await fleet('shop')).find((i) => i.instanceId === 'health-1' && i.health === 'failing'),
      { message: 'failing health' },
    );
    assert.match(failing.healthDetail ?? '', /exit code 4: config test failed/u);
    assert.equal(agent.health.status, 'failing');

    await rm(marker);
    await set('shop', 'db/pool/max', 31, 'prod');
    const seq = await release('shop');
    const healed = await eventually(
      async () => (await fleet('shop')).find((i) => i.instanceId === 'health-1' && i.health === 'ok' && i.seq === seq),
      { message: 'ok health' },
    );
    assert.equal(healed.status, 'applied');
    await agent.close();
  });

  void it('a release a subscription cannot render is rejected (reported, files keep the previous release)', async () => {
    const out = join(dir.path, 'reject');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'app.tmpl'), 'name={{ name }}\n');
    await set('shop', 'name', 'shop');
    const good = await release('shop');
    const { agent } = startAgent({
      instanceId: 'reject-1',
      subscriptions: [
        { namespace: 'shop', out: join(out, 'app.conf'), format: 'template', template: join(out, 'app.tmpl') },
      ],
    });
    await agent.start();
    await eventually(() => readOr(join(out, 'app.conf')), { message: 'app.conf' });
    await eventually(
      async () =>
        (await fleet('shop')).find((i) => i.instanceId === 'reject-1' && i.seq === good && i.status === 'applied'),
      { message: 'applied' },
    );

    await remove('shop', 'name');
    const bad = await release('shop');
    const rejected = await eventually(
      async () =>
        (await fleet('shop')).find((i) => i.instanceId === 'reject-1' && i.seq === bad && i.status === 'rejected'),
      { message: 'rejected' },
    );
    assert.match(rejected.reason ?? '', /app\.tmpl uses "name", which the view does not have/u);
    assert.equal(await readFile(join(out, 'app.conf'), 'utf8'), 'name=shop\n');
    await agent.close();
    await set('shop', 'name', 'shop');
    await release('shop');
  });
});

void describe('local HTTP', () => {
  void it('serves the current values with seq and digest (ETag, 304), and /healthz', async () => {
    const out = join(dir.path, 'http');
    const { agent } = startAgent({
      instanceId: 'http-1',
      http: { listen: '127.0.0.1:0' },
      subscriptions: [
        { namespace: 'shop', labels: ['', 'prod'], out: join(out, 'prod.json') },
        { namespace: 'shop', out: join(out, 'default.json') },
      ],
    });
    await agent.start();
    const base = agent.httpUrl;
    assert.ok(base);
    await eventually(async () => ((await httpGet(`${base}/healthz`)).status === 200 ? true : undefined), {
      message: 'values',
    });
    await eventually(() => readOr(join(out, 'prod.json')), { message: 'prod.json' });
    const first = await httpGet(`${base}/v1/views/shop?label=&label=prod`);
    assert.equal(first.status, 200);
    const body = JSON.parse(first.body) as {
      seq: number;
      digest: string;
      values: Record<string, unknown>;
      labels: string[];
    };
    assert.deepEqual(body.values, JSON.parse(await readFile(join(out, 'prod.json'), 'utf8')));
    assert.equal(first.headers.etag, `"${body.digest}"`);
    assert.equal(body.seq, agent.views()[0]?.snapshot?.seq);
    assert.equal(
      (await httpGet(`${base}/v1/views/shop?label=&label=prod`, { 'if-none-match': `"${body.digest}"` })).status,
      304,
    );

    const health = JSON.parse((await httpGet(`${base}/healthz`)).body) as { status: string; views: unknown[] };
    assert.equal(health.status, 'ok');
    assert.equal(health.views.length, 2);

    // Two label stacks of one namespace: the label must be named; unknown views are 404.
    assert.equal((await httpGet(`${base}/v1/views/shop`)).status, 400);
    assert.equal((await httpGet(`${base}/v1/views/shop?label=`)).status, 200);
    assert.equal((await httpGet(`${base}/v1/views/other`)).status, 404);
    // A page on another origin that rebinds its name to 127.0.0.1 gets nothing.
    assert.equal((await httpGet(`${base}/v1/views/shop?label=&label=prod`, { host: 'evil.example:80' })).status, 403);

    await set('shop', 'db/pool/max', 32, 'prod');
    const seq = await release('shop');
    const next = await eventually(
      async () => {
        const response = await httpGet(`${base}/v1/views/shop?label=&label=prod`, {
          'if-none-match': `"${body.digest}"`,
        });
        const current = response.status === 200 ? (JSON.parse(response.body) as typeof body) : undefined;
        return current?.seq === seq ? current : undefined;
      },
      { message: 'the new values' },
    );
    assert.equal(next.seq, seq);
    assert.equal(next.values['db/pool/max'], 32);
    await agent.close();
    await assert.rejects(httpGet(`${base}/healthz`), 'closed with the agent');
  });

  void it('does not serve a view with secrets unless told to', async () => {
    const { agent } = startAgent({
      token: server.adminToken,
      instanceId: 'http-2',
      http: { listen: '127.0.0.1:0' },
      subscriptions: [{ namespace: 'shop', out: join(dir.path, 'http2', 'a.json') }],
    });
    await agent.start();
    const response = await eventually(
      async () => {
        const r = await httpGet(`${agent.httpUrl ?? ''}/v1/views/shop`);
        return r.status === 503 ? undefined : r;
      },
      { message: 'an answer' },
    );
    assert.equal(response.status, 403);
    assert.match(response.body, /secrets_not_served/u);
    await agent.close();
  });
});

void describe('lifecycle', () => {
  void it('close() is idempotent and graceful; closed() resolves with no error; asyncDispose closes', async () => {
    const { agent } = startAgent({
      instanceId: 'life-1',
      subscriptions: [{ namespace: 'shop', out: join(dir.path, 'life', 'a.json') }],
    });
    await agent.start();
    const a = agent.close();
    const b = agent.close();
    assert.equal(a, b);
    await a;
    assert.equal(await agent.closed(), undefined);
    const never = createAgent(agent.config);
    await never.close();
    await assert.rejects(never.start(), { code: 'agent_closed' });

    {
      await using disposable = createAgent({
        url: server.url,
        token: clientToken,
        instanceId: 'life-2',
        subscriptions: [{ namespace: 'shop', out: join(dir.path, 'life', 'b.json') }],
      });
      await disposable.start();
      agents.push(disposable);
    }
    assert.equal(await agents.at(-1)?.closed(), undefined);
  });

  void it('starts from the verified cache when the control plane is gone', async () => {
    const out = join(dir.path, 'offline');
    const cacheDir = join(out, 'cache');
    const own = await startTestServer();
    await own.admin.post('/v1/namespaces', { name: 'ops' });
    await own.admin.put('/v1/namespaces/ops/entries/level', { value: 'debug' });
    await own.admin.post('/v1/namespaces/ops/releases', {});
    const config = {
      url: own.url,
      token: own.adminToken,
      instanceId: 'offline-1',
      cacheDir,
      subscriptions: [{ namespace: 'ops', out: join(out, 'ops.json') }],
    };
    const first = createAgent(config);
    agents.push(first);
    await first.start();
    await eventually(() => readOr(join(out, 'ops.json')), { message: 'ops.json' });
    await first.close();
    await own.close();
    await rm(join(out, 'ops.json'));

    const events: AgentEvent[] = [];
    const second = createAgent(config, { onEvent: (e) => events.push(e) });
    agents.push(second);
    await second.start();
    assert.deepEqual(
      JSON.parse(await eventually(() => readOr(join(out, 'ops.json')), { message: 'ops.json from the cache' })),
      {
        level: 'debug',
      },
    );
    assert.ok(events.some((e) => e.type === 'file' && e.via === 'cache' && e.outcome === 'written'));
    await second.close();
  });
});
