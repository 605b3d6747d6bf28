// Per-credential caps (issue 19, finding 6): one token may hold at most maxStreamsPerToken watch
// streams and send reports at most at reportsPerSecondPerToken (after a burst), on the control
// plane and on a relay, where the relay's clients are each capped on their own. Over a cap: 429
// problem+json with a stable code and Retry-After, and a metric that moves. Real servers on
// loopback; the report rate runs on a manual clock, so refills are decided by the test, not by time.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { Relay } from '@herald/server';
import { eventually, RawWatch, startTestServer, tempDir, type RawWatchView, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken, setEntry, type RawResponse } from './helpers.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
const cleanups: Array<() => Promise<void>> = [];
const opened = new Set<RawWatch>();

after(async () => {
  await Promise.all([...opened].map((w) => w.close()));
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function watch(url: string, token: string, views: RawWatchView[]): Promise<RawWatch> {
  const stream = await RawWatch.open(url, views, { token });
  opened.add(stream);
  return stream;
}

function refusal(stream: RawWatch): RawResponse {
  return { status: stream.status, headers: stream.headers, text: stream.refusal, json: JSON.parse(stream.refusal) };
}

function assertRetryAfter(response: { headers: Headers }): void {
  const retryAfter = response.headers.get('retry-after');
  assert.ok(retryAfter !== null && /^\d+$/u.test(retryAfter), `Retry-After: ${String(retryAfter)}`);
}

/** One sample of a metric from a /metrics scrape (0 when it has none yet). */
async function metric(url: string, sample: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

function report(instanceId: string, namespace: string): Record<string, unknown> {
  return { instanceId, views: [], health: { status: 'ok' }, attributes: { ns: namespace } };
}

async function server(config: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const ts = await startTestServer(config);
  cleanups.push(() => ts.close());
  await createNamespace(ts, 'app');
  await setEntry(ts, 'app', 'color', { value: 'blue' });
  return ts;
}

void describe('per-token caps on the control plane', () => {
  void it('refuses a stream past maxStreamsPerToken with 429 too_many_streams; the slot returns when a stream closes', async () => {
    const ts = await server({ config: { maxStreamsPerToken: 2 } });
    const token = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const other = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const views = [{ namespace: 'app' }];
    const a = await watch(ts.url, token, views);
    const b = await watch(ts.url, token, views);
    assert.equal(a.status, 200, a.refusal);
    assert.equal(b.status, 200, b.refusal);
    const before = await metric(ts.url, 'herald_streams_refused_total{reason="token"}');
    const c = await watch(ts.url, token, views);
    assertProblem(refusal(c), 'too_many_streams');
    assertRetryAfter(c);
    assert.equal(await metric(ts.url, 'herald_streams_refused_total{reason="token"}'), before + 1, 'the metric moved');
    // The cap is per credential, not per node: another token is served.
    const d = await watch(ts.url, other, views);
    assert.equal(d.status, 200, d.refusal);

    await a.close();
    const e = await eventually(
      async () => {
        const attempt = await watch(ts.url, token, views);
        if (attempt.status === 200) return attempt;
        await attempt.close();
        return undefined;
      },
      { message: 'a stream of the token once one of its streams closed', timeoutMs: 20_000, intervalMs: 50 },
    );
    assert.equal(e.status, 200);
  });

  void it('a rotated token shares its predecessor’s count (the cap is on the lineage)', async () => {
    const ts = await server({ config: { maxStreamsPerToken: 1 } });
    const first = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
    const rotated = await call(ts, 'POST', `/v1/tokens/${first.id}/rotate`, { body: {} });
    assert.equal(rotated.status, 201, rotated.text);
    const successor = (rotated.json as { token: string }).token;
    const a = await watch(ts.url, first.token, [{ namespace: 'app' }]);
    assert.equal(a.status, 200, a.refusal);
    const b = await watch(ts.url, successor, [{ namespace: 'app' }]);
    assertProblem(refusal(b), 'too_many_streams');
  });

  void it('limits a report flood with 429 report_rate_limited, per token, refilled by the clock', async () => {
    const clock = new ManualClock();
    const ts = await server({ clock, config: { reportsPerSecondPerToken: 2, reportBurstPerToken: 3 } });
    const token = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const other = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const send = (bearer: string, id: string) =>
      call({ url: ts.url, adminToken: bearer }, 'POST', '/v1/reports', { body: report(id, 'app') });
    for (let i = 0; i < 3; i += 1) assert.equal((await send(token, `i-${i}`)).status, 202, 'within the burst');
    const limited = await send(token, 'i-3');
    assertProblem(limited, 'report_rate_limited');
    assertRetryAfter(limited);
    assert.equal(await metric(ts.url, 'herald_reports_limited_total'), 1);
    assert.equal((await send(other, 'o-1')).status, 202, 'another token has its own bucket');
    // Half a second refills one report at 2 per second: one more is taken, the next is not.
    clock.advance(500);
    assert.equal((await send(token, 'i-4')).status, 202);
    assertProblem(await send(token, 'i-5'), 'report_rate_limited');
    assert.equal(await metric(ts.url, 'herald_reports_limited_total'), 2);
  });

  void it("counts a relay's forwarded reports per client: one client's flood refuses only its own", async () => {
    const clock = new ManualClock();
    const ts = await server({ clock, config: { reportsPerSecondPerToken: 1, reportBurstPerToken: 2 } });
    const relayToken = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const reports = [
      ...[0, 1, 2, 3].map((i) => ({ ...report(`noisy-${i}`, 'app'), reporter: 'noisy-client' })),
      { ...report('quiet-0', 'app'), reporter: 'quiet-client' },
      report('relay-itself', 'app'),
    ];
    const response = await call({ url: ts.url, adminToken: relayToken }, 'POST', '/v1/reports/batch', {
      body: { reports },
    });
    assert.equal(response.status, 202, response.text);
    const body = response.json as { accepted: number; refused?: Array<{ instanceId: string; code: string }> };
    assert.deepEqual(
      body.refused?.map((r) => [r.instanceId, r.code]),
      [
        ['noisy-2', 'report_rate_limited'],
        ['noisy-3', 'report_rate_limited'],
      ],
    );
    assert.equal(body.accepted, 4);
  });
});

void describe('per-token caps on a relay', () => {
  void it("caps the relay's clients, each on its own, and not the relay's own upstream token", async () => {
    const ts = await server({});
    const cache = await tempDir('herald-relay-caps-');
    const relayToken = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const one = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const two = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    const relay = new Relay({
      upstream: ts.url,
      token: relayToken,
      trust: 'tofu',
      cacheDir: cache.path,
      logLevel: 'silent',
      logStream: silent,
      routeWaitSeconds: 1,
      maxStreamsPerToken: 1,
      reportsPerSecondPerToken: 1,
      reportBurstPerToken: 2,
    });
    cleanups.push(async () => {
      await Promise.all([...opened].map((w) => w.close()));
      await relay.close();
      await cache.cleanup();
    });
    const url = await relay.listen();
    const views = [{ namespace: 'app' }];
    const a = await watch(url, one, views);
    assert.equal(a.status, 200, a.refusal);
    const b = await watch(url, two, views);
    assert.equal(b.status, 200, b.refusal);
    const c = await watch(url, one, views);
    assertProblem(refusal(c), 'too_many_streams');
    assertRetryAfter(c);
    assert.equal(await metric(url, 'herald_streams_refused_total{reason="token"}'), 1);

    const send = (bearer: string, id: string) =>
      call({ url, adminToken: bearer }, 'POST', '/v1/reports', { body: report(id, 'app') });
    assert.equal((await send(one, 'r-0')).status, 202);
    assert.equal((await send(one, 'r-1')).status, 202);
    const limited = await send(one, 'r-2');
    assertProblem(limited, 'report_rate_limited');
    assertRetryAfter(limited);
    assert.equal((await send(two, 's-0')).status, 202, 'the other client of the relay is not limited');
    assert.equal(await metric(url, 'herald_reports_limited_total'), 1);
  });
});
