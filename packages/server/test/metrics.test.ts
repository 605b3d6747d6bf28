// /metrics is Prometheus text with request counts and latencies by route template, commits and
// the revision; /healthz and /readyz answer without a token and /readyz fails when the store does.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SecretCipher, systemClock } from '@herald/core';
import { createServer } from '@herald/server';
import { SqliteStore } from '@herald/store';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, entryPath, setEntry } from './helpers.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

/** A small parser of the Prometheus text format (0.0.4): enough to find samples by name and labels. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/u.exec(line);
    if (type?.[1] && type[2]) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/u.exec(line);
    assert.ok(match?.[1] && match[3], `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/gu))
      labels[pair[1] ?? ''] = pair[2] ?? '';
    // Prometheus parses values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan").
    const raw = match[3].toLowerCase();
    const value =
      raw === '+inf' || raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : raw === 'nan' ? NaN : Number(raw);
    assert.ok(!Number.isNaN(value) || raw === 'nan', `not a number in: ${line}`);
    samples.push({ name: match[1], labels, value });
  }
  return { types, samples };
}

function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = exposition.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value;
}

let ts: TestServer;

async function scrape(
  server: Pick<TestServer, 'url' | 'adminToken'> = ts,
): Promise<{ text: string; exposition: Exposition }> {
  const response = await call(server, 'GET', '/metrics', { token: null });
  assert.equal(response.status, 200, response.text);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/u);
  return { text: response.text, exposition: parseExposition(response.text) };
}

/**
 * Request metrics are recorded when a response has finished, which the server may notice a moment
 * after the client has the response; so look again a few times before failing.
 */
async function scrapeUntil(check: (exposition: Exposition) => boolean): Promise<Exposition> {
  let last: Exposition | undefined;
  try {
    return await eventually(
      async () => {
        last = (await scrape()).exposition;
        return check(last) ? last : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 20, fatal: () => true },
    );
  } catch (error) {
    if (last === undefined) throw error;
    assert.fail(
      `the metrics never satisfied the check: ${JSON.stringify(last.samples.filter((s) => s.name.startsWith('herald_http')).slice(0, 20))}`,
    );
  }
}

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, 'metrics');
});

after(async () => {
  await ts.close();
});

void describe('/metrics', () => {
  void it('is Prometheus text with the HTTP, commit and revision metrics, typed', async () => {
    const { exposition } = await scrape();
    assert.equal(exposition.types.get('herald_http_requests_total'), 'counter');
    assert.equal(exposition.types.get('herald_http_request_duration_seconds'), 'histogram');
    assert.equal(exposition.types.get('herald_commits_total'), 'counter');
    assert.equal(exposition.types.get('herald_committed_changes_total'), 'counter');
    assert.equal(exposition.types.get('herald_revision'), 'gauge');
    // The per-credential caps (their counts are checked where they move: token-caps.test.ts).
    assert.equal(exposition.types.get('herald_streams_refused_total'), 'counter');
    assert.equal(exposition.types.get('herald_reports_limited_total'), 'counter');
    assert.ok(
      exposition.samples.some((s) => s.name.startsWith('herald_process_')),
      'process metrics are exported too',
    );
  });

  void it('counts requests by method, route template and status, and times them in a histogram', async () => {
    const labels = { method: 'GET', route: '/v1/namespaces/:ns', status: '200' };
    const before = value((await scrape()).exposition, 'herald_http_requests_total', labels) ?? 0;
    for (let i = 0; i < 3; i += 1) assert.equal((await call(ts, 'GET', '/v1/namespaces/metrics')).status, 200);
    assert.equal((await call(ts, 'GET', '/v1/namespaces/missing')).status, 404);
    const exposition = await scrapeUntil(
      (e) =>
        value(e, 'herald_http_requests_total', labels) === before + 3 &&
        value(e, 'herald_http_requests_total', { ...labels, status: '404' }) === 1,
    );
    const timing = { method: 'GET', route: '/v1/namespaces/:ns' };
    const count = value(exposition, 'herald_http_request_duration_seconds_count', timing) ?? 0;
    assert.ok(count >= 4, `duration count ${count}`);
    assert.equal(value(exposition, 'herald_http_request_duration_seconds_bucket', { ...timing, le: '+Inf' }), count);
    assert.ok((value(exposition, 'herald_http_request_duration_seconds_sum', timing) ?? -1) >= 0);
  });

  void it('labels unknown paths "unmatched", so clients cannot create a series per path', async () => {
    const path = `/no-such-path-${Date.now()}`;
    assert.equal((await call(ts, 'GET', path, { token: null })).status, 404);
    await scrapeUntil((e) => (value(e, 'herald_http_requests_total', { route: 'unmatched', status: '404' }) ?? 0) >= 1);
    const { text } = await scrape();
    assert.ok(!text.includes(path), 'the raw path is a label value');
    // Entry keys are in the path too, and must not become labels either.
    await setEntry(ts, 'metrics', 'secret-looking/key-name', { value: 1 });
    await scrapeUntil(
      (e) =>
        (value(e, 'herald_http_requests_total', { method: 'PUT', route: '/v1/namespaces/:ns/entries/*' }) ?? 0) >= 1,
    );
    assert.ok(!(await scrape()).text.includes('secret-looking'), 'an entry key is a label value');
  });

  void it('counts commits and changes, and reports the revision', async () => {
    const before = (await scrape()).exposition;
    const commits = value(before, 'herald_commits_total') ?? 0;
    const changes = value(before, 'herald_committed_changes_total') ?? 0;
    const response = await call(ts, 'POST', '/v1/namespaces/metrics/commits', {
      body: {
        changes: [
          { op: 'set', key: 'a', value: 1 },
          { op: 'set', key: 'b', value: 2 },
          { op: 'set', key: 'c', value: 3 },
        ],
      },
    });
    assert.equal(response.status, 201, response.text);
    const revision = (response.json as { revision: number }).revision;
    const after = (await scrape()).exposition;
    assert.equal(value(after, 'herald_commits_total'), commits + 1);
    assert.equal(value(after, 'herald_committed_changes_total'), changes + 3);
    assert.equal(value(after, 'herald_revision'), revision);
    assert.equal(revision, await ts.store.currentRevision());

    // A refused commit counts nothing.
    const refused = await call(ts, 'PUT', entryPath('metrics', 'a'), { body: { value: 9, ifRevision: revision - 1 } });
    assert.equal(refused.status, 412);
    const still = (await scrape()).exposition;
    assert.equal(value(still, 'herald_commits_total'), commits + 1);
    assert.equal(value(still, 'herald_revision'), revision);
  });

  void it('reports the size of the store when the server is given a way to measure it', async (t) => {
    const dir = await tempDir();
    const store = SqliteStore.open({ path: join(dir.path, 'herald.db') });
    const server = createServer({
      store,
      clock: systemClock,
      cipher: new SecretCipher(SecretCipher.generateKey()),
      config: { port: 0, logLevel: 'silent' },
      logStream: new Writable({ write: (_chunk, _encoding, done) => done() }),
      storeSize: async () => 123_456,
    });
    t.after(async () => {
      await server.close();
      await store.close();
      await dir.cleanup();
    });
    const url = await server.listen();
    const { exposition } = await scrape({ url, adminToken: '' });
    assert.equal(exposition.types.get('herald_store_size_bytes'), 'gauge');
    assert.equal(value(exposition, 'herald_store_size_bytes'), 123_456);
  });
});

void describe('probes', () => {
  void it('/healthz and /readyz answer 200 without a token', async () => {
    const health = await call(ts, 'GET', '/healthz', { token: null });
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
    const ready = await call(ts, 'GET', '/readyz', { token: null });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { status: 'ready' });
  });

  void it('/readyz answers 503 with Retry-After once the store stops answering', async (t) => {
    const dir = await tempDir();
    const store = SqliteStore.open({ path: join(dir.path, 'herald.db') });
    const own = await startTestServer({ store });
    t.after(async () => {
      await own.close();
      await dir.cleanup();
    });
    assert.equal((await call(own, 'GET', '/readyz', { token: null })).status, 200);
    await store.close();
    const ready = await call(own, 'GET', '/readyz', { token: null });
    assert.equal(ready.status, 503);
    assert.ok(ready.headers.get('retry-after'));
    assert.deepEqual(ready.json, { status: 'unavailable' });
  });
});
