// Issue 16: every metric docs/operations.md documents appears in the /metrics of a running control
// plane, relay and agent (as its "where" column says), and a release to a small fleet (SDK
// instances direct and behind a relay, and an agent) moves the propagation histogram and the
// convergence gauge as it should. Real server, relay, SDK clients and agent, on loopback.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createAgent, type Agent } from '@herald/agent';
import { SecretCipher, systemClock } from '@herald/core';
import { AdminClient, HeraldClient } from '@herald/sdk';
import { createServer, ensureBootstrapAdmin, Relay, type HeraldServer } from '@herald/server';
import { SqliteStore } from '@herald/store';
import { eventually, makeTestPki, tempDir, testAdminToken } from '@herald/testkit';
import { documentedMetrics } from './operations-docs.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function scrape(url: string): Promise<{ families: Set<string>; samples: Sample[] }> {
  const response = await fetch(new URL('/metrics', url), { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  const text = await response.text();
  const families = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /u.exec(line);
    if (type?.[1]) families.add(type[1]);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/u.exec(line);
    if (!sample?.[1] || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/gu))
      labels[pair[1] ?? ''] = pair[2] ?? '';
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { families, samples };
}

function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

void describe('operability metrics', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: SqliteStore;
  let server: HeraldServer;
  let url: string;
  let admin: AdminClient;
  let relay: Relay;
  let agent: Agent;
  const clients: HeraldClient[] = [];

  before(async () => {
    dir = await tempDir('herald-ops-');
    store = SqliteStore.open({ path: join(dir.path, 'herald.db') });
    await ensureBootstrapAdmin(store, systemClock, testAdminToken);
    server = createServer({
      store,
      clock: systemClock,
      cipher: new SecretCipher(SecretCipher.generateKey()),
      config: { port: 0, logLevel: 'silent', reportFlushMs: 100 },
      logStream: silent,
      storeSize: async () => 1,
      dataDir: dir.path,
    });
    url = await server.listen();
    admin = new AdminClient({ url, token: testAdminToken });
    await admin.post('/v1/namespaces', { name: 'ops' });
    await admin.put('/v1/namespaces/ops/entries/color', { value: 'blue' });
    const token = async () =>
      (await admin.post<{ token: string }>('/v1/tokens', { scopes: [{ namespaces: 'ops', role: 'client' }] })).token;
    relay = new Relay({
      upstream: url,
      token: await token(),
      trust: 'tofu',
      cacheDir: join(dir.path, 'relay'),
      logLevel: 'silent',
      logStream: silent,
      routeWaitSeconds: 1,
      reportFlushMs: 100,
      name: 'relay-west',
    });
    await relay.listen();
    const clientToken = await token();
    for (const [i, endpoint] of [url, url, relay.url, relay.url].entries()) {
      const client = new HeraldClient({
        url: endpoint,
        token: clientToken,
        instanceId: `ops-${i}`,
        attributes: { region: i < 2 ? 'east' : 'west' },
        views: [{ namespace: 'ops', labels: [''] }],
        trustedKeys: 'tofu',
      });
      clients.push(client);
    }
    await Promise.all(clients.map((c) => c.start()));
    await Promise.all(clients.map((c) => c.ready()));
    agent = createAgent(
      {
        url: relay.url,
        token: clientToken,
        instanceId: 'ops-agent',
        reportInterval: '1s',
        subscriptions: [{ namespace: 'ops', out: join(dir.path, 'ops.json'), format: 'json' }],
        http: { listen: '127.0.0.1:0' },
      },
      { onEvent: () => undefined },
    );
    await agent.start();
  });

  after(async () => {
    await agent.close();
    for (const client of clients) await client.close();
    await relay.close();
    await server.close();
    await store.close();
    await dir.cleanup();
  });

  void it('exports every documented metric where the table says', async () => {
    const documented = documentedMetrics();
    assert.ok(documented.length >= 40, `the table lists ${documented.length} metrics`);
    const agentUrl = agent.httpUrl;
    assert.ok(agentUrl, 'the agent serves HTTP');
    const exported = {
      'control plane': (await scrape(url)).families,
      relay: (await scrape(relay.url)).families,
      agent: (await scrape(agentUrl)).families,
    };
    let checked = 0;
    for (const { name, where } of documented) {
      for (const [tier, families] of Object.entries(exported)) {
        // Those only a TLS listener exports are checked below, on one.
        if (!where.includes(tier) || where.includes('with TLS')) continue;
        assert.ok(families.has(name), `${name} is documented for the ${tier} but not in its /metrics`);
        checked += 1;
      }
    }
    assert.ok(checked >= documented.length, `checked ${checked}`);
  });

  void it('a TLS listener exports when its certificate expires', async (t) => {
    const pki = await makeTestPki(await mkdtemp(join(dir.path, 'pki-')));
    const tlsStore = SqliteStore.open({ path: join(dir.path, 'tls.db') });
    const tls = createServer({
      store: tlsStore,
      clock: systemClock,
      cipher: new SecretCipher(SecretCipher.generateKey()),
      config: { port: 0, logLevel: 'silent', tls: { cert: pki.server.cert, key: pki.server.key } },
      logStream: silent,
    });
    t.after(async () => {
      await tls.close();
      await tlsStore.close();
    });
    const answer = await tls.app.inject({ method: 'GET', url: '/metrics' });
    const line = answer.body.split('\n').find((l) => l.startsWith('herald_tls_certificate_expiry_timestamp_seconds '));
    assert.ok(line, 'the expiry gauge is exported');
    const expiry = Number(line.split(' ')[1]) * 1000;
    assert.ok(expiry > Date.now(), 'the test certificate expires in the future');
    for (const { name, where } of documentedMetrics())
      if (where.includes('with TLS')) assert.ok(answer.body.includes(`# TYPE ${name} `), `${name} on a TLS listener`);
  });

  void it('a release moves the propagation histogram and the convergence gauge', async () => {
    const count = async (tier: string, from: string) =>
      sampleValue((await scrape(tier === 'relay' ? relay.url : url)).samples, 'herald_propagation_seconds_count', {
        namespace: 'ops',
        tier,
        from,
      }) ?? 0;
    const ratio = async () =>
      sampleValue((await scrape(url)).samples, 'herald_fleet_convergence_ratio', { namespace: 'ops' });
    // The first release reached all five instances (four SDK clients, the agent).
    await eventually(async () => (await ratio()) === 1, { message: 'the fleet to converge', timeoutMs: 60_000 });
    const cpBefore = await count('control-plane', 'release');
    const relayBefore = await count('relay', 'release');
    assert.ok(cpBefore >= 5, `control plane observed ${cpBefore}`);

    // One direct instance goes away without a word (a crash): it stays known on the old release.
    const gone = clients.shift();
    await gone?.destroy();
    await admin.put('/v1/namespaces/ops/entries/color', { value: 'green' });
    await eventually(
      async () => {
        const r = await ratio();
        return r !== undefined && Math.abs(r - 4 / 5) < 1e-9;
      },
      { message: 'four of five instances to converge on the new release', timeoutMs: 60_000 },
    );
    await eventually(async () => (await count('control-plane', 'release')) === cpBefore + 4, {
      message: 'the control plane to observe each of the four applications once',
      timeoutMs: 30_000,
    });
    assert.equal(await count('control-plane', 'commit'), await count('control-plane', 'release'));
    // The relay measures the three behind it (two SDK clients and the agent).
    await eventually(async () => (await count('relay', 'release')) === relayBefore + 3, {
      message: 'the relay to observe the three instances behind it',
      timeoutMs: 30_000,
    });
    // Reports repeat with the same views: nothing is observed twice. This one is seen arriving.
    clients[0]?.reportHealth('degraded', 'checking');
    await eventually(
      async () =>
        sampleValue((await scrape(url)).samples, 'herald_fleet_unhealthy_instances', { namespace: 'ops' }) === 1,
      { message: 'the degraded report to arrive', timeoutMs: 30_000 },
    );
    assert.equal(await count('control-plane', 'release'), cpBefore + 4);
    const relayLag = sampleValue((await scrape(relay.url)).samples, 'herald_relay_upstream_releases_behind', {
      namespace: 'ops',
    });
    assert.equal(relayLag, 0, 'the relay holds the newest release');
    const agentUrl = agent.httpUrl ?? '';
    const agentCount =
      sampleValue((await scrape(agentUrl)).samples, 'herald_propagation_seconds_count', {
        namespace: 'ops',
        tier: 'agent',
      }) ?? 0;
    assert.ok(agentCount >= 1, `the agent measured ${agentCount}`);
  });
});
