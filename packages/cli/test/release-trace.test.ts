// Issue 16: `herald trace NS SEQ` (and GET /v1/namespaces/{ns}/releases/{seq}/trace) shows where a
// release went through two chained relays: control plane → relay-a → relay-b, when each relay
// received and served it, and the instances per relay chain and region (applied, and those that
// have not reported), in the CLI and in the web UI's release list. Real server, relays, SDK
// clients, CLI child processes and Debian's chromium (playwright-core), on loopback.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HeraldClient } from '@herald/sdk';
import { Relay, type ReleaseTrace } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { heraldAt, ok, parseJson } from './helpers.js';

const chromiumPath = '/usr/bin/chromium';
const uiDist = fileURLToPath(new URL('../../../ui/dist', import.meta.url));
const screenshotDir =
  process.env.HERALD_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../../docs/screenshots', import.meta.url))
    : undefined;
const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

void describe('herald trace', () => {
  let ts: TestServer;
  let dir: { path: string; cleanup: () => Promise<void> };
  const relays: Relay[] = [];
  const clients: HeraldClient[] = [];
  let herald: ReturnType<typeof heraldAt>;

  before(async () => {
    ts = await startTestServer({ config: { reportFlushMs: 100, uiDir: uiDist } });
    dir = await tempDir('herald-trace-');
    herald = heraldAt(ts.url, ts.adminToken);
    await ts.admin.post('/v1/namespaces', { name: 'pay' });
    await ts.admin.put('/v1/namespaces/pay/entries/limit', { value: 1 });
    const token = async () =>
      (await ts.admin.post<{ token: string }>('/v1/tokens', { scopes: [{ namespaces: 'pay', role: 'client' }] })).token;
    const relay = async (name: string, upstream: string) => {
      const r = new Relay({
        upstream,
        token: await token(),
        trust: 'tofu',
        cacheDir: join(dir.path, name),
        logLevel: 'silent',
        logStream: silent,
        routeWaitSeconds: 1,
        reportFlushMs: 100,
        name,
      });
      await r.listen();
      relays.push(r);
      return r;
    };
    const relayA = await relay('relay-a', ts.url);
    const relayB = await relay('relay-b', relayA.url);
    const clientToken = await token();
    const placements: Array<[string, string, string]> = [
      ['direct-1', ts.url, 'east'],
      ['central-1', relayA.url, 'central'],
      ['west-1', relayB.url, 'west'],
      ['west-2', relayB.url, 'west'],
      ['west-3', relayB.url, 'west'],
    ];
    for (const [instanceId, url, region] of placements) {
      clients.push(
        new HeraldClient({
          url,
          token: clientToken,
          instanceId,
          attributes: { region },
          views: [{ namespace: 'pay', labels: [''] }],
          trustedKeys: 'tofu',
        }),
      );
    }
    await Promise.all(clients.map((c) => c.start()));
    await Promise.all(clients.map((c) => c.ready()));
  });

  after(async () => {
    for (const client of clients) await client.destroy();
    for (const relay of relays.reverse()) await relay.close();
    await ts.close();
    await dir.cleanup();
  });

  void it('follows a release through two chained relays to the instances, per chain and region', async (t) => {
    await eventually(
      async () => (await ts.admin.get<{ instances: unknown[] }>('/v1/fleet/pay')).instances.length === clients.length,
      { message: 'every instance to report', timeoutMs: 60_000 },
    );
    // One instance behind relay-b stops without a word: it stays known, on the old release.
    const silentOne = clients.pop();
    await silentOne?.destroy();
    await ts.admin.put('/v1/namespaces/pay/entries/limit', { value: 2 });
    const [newest] = (await ts.admin.get<{ items: Array<{ seq: number }> }>('/v1/namespaces/pay/releases?limit=1'))
      .items;
    const seq = newest?.seq ?? 0;
    assert.equal(seq, 2, 'the commit made release 2');
    const trace = await eventually(
      async () => {
        const t = parseJson<ReleaseTrace>(ok(await herald(['trace', 'pay', String(seq), '--json']), 'trace --json'));
        return t.fleet.applied === 4 && t.relays.length === 2 && t.relays.every((r) => r.servedMs !== null)
          ? t
          : undefined;
      },
      { message: 'the release to reach the four live instances and both relays to report it', timeoutMs: 60_000 },
    );
    assert.equal(trace.namespace, 'pay');
    assert.equal(trace.seq, seq);
    assert.deepEqual(
      { instances: trace.fleet.instances, notReported: trace.fleet.notReported, rejected: trace.fleet.rejected },
      { instances: 5, notReported: 1, rejected: 0 },
    );
    const [a, b] = trace.relays;
    assert.deepEqual([a?.relay, a?.path], ['relay-a', []], 'relay-a is nearest the control plane');
    assert.deepEqual([b?.relay, b?.path], ['relay-b', ['relay-a']], 'relay-b is behind relay-a');
    assert.deepEqual(
      [a?.instances.instances, a?.instances.applied, b?.instances.instances, b?.instances.applied],
      [4, 3, 3, 2],
      'the instances behind each relay, directly or further',
    );
    const groups = trace.groups.map((g) => ({
      via: g.via,
      region: g.region,
      applied: g.counts.applied,
      notReported: g.counts.notReported,
    }));
    assert.deepEqual(groups, [
      { via: [], region: 'east', applied: 1, notReported: 0 },
      { via: ['relay-a'], region: 'central', applied: 1, notReported: 0 },
      { via: ['relay-b', 'relay-a'], region: 'west', applied: 2, notReported: 1 },
    ]);
    for (const g of trace.groups)
      if (g.counts.applied > 0) assert.notEqual(g.counts.firstAppliedMs, null, 'applications carry their times');

    const human = ok(await herald(['trace', 'pay', String(seq)]), 'trace');
    t.diagnostic(`herald trace pay ${seq}:\n${human}`);
    assert.match(human, new RegExp(`release ${seq} of pay`, 'u'));
    assert.match(human, /relay-a/u);
    assert.match(human, /relay-b ← relay-a\s+west\s+3\s+2 applied, 1 not reported/u);
  });

  void it('the web UI shows the trace from the releases list', async (t) => {
    assert.ok(existsSync(join(uiDist, 'index.html')), `the UI is not built (${uiDist}): run npm run build`);
    assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing (.ci/run installs it)`);
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(60_000);
    await page.goto(`${ts.url}/`);
    await page.getByLabel('Token').fill(ts.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'pay', exact: true }).first().click();
    await page.getByRole('tab', { name: 'Releases & rollout' }).click();
    await page.getByTestId('releases').getByRole('button', { name: 'Trace' }).first().click();
    const hops = page.getByTestId('trace-hops');
    await hops.getByText('relay-b').waitFor({ state: 'visible' });
    await page.getByTestId('trace-groups').getByText('relay-b ← relay-a').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('trace').innerText(), /Trace of release #2/u);
    if (screenshotDir) {
      mkdirSync(screenshotDir, { recursive: true });
      await page.getByTestId('trace').screenshot({ path: join(screenshotDir, 'release-trace.png') });
    }
  });

  void it('names a release that does not exist', async () => {
    const result = await herald(['trace', 'pay', '999']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^herald: .*release 999.*\[revision_not_found\]\n$/u);
  });
});
