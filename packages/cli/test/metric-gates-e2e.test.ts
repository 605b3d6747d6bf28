// Gates on the service's own signals, end to end (issue 15): a real Prometheus (Debian's
// `prometheus`, a child process with its own folder and port, scraping every second) scrapes a
// small exporter this test controls, which serves http_requests_total by release; a real
// `herald server --prometheus-url` runs staged rollouts whose metric check queries it. When the
// error rate of the candidate climbs during the canary, Herald rolls back and the status shows the
// query and the values seen; the namespace then still holds the bad content, `herald release`
// refuses it and names the restore command, which gets it out. With a flat error rate the release
// succeeds. An HTTP check (a URL the test answers) does the same both ways.
//
// Nothing asserts a duration: every wait is a bounded poll.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import {
  eventually,
  startHeraldProcess,
  startPrometheus,
  tempDir,
  testAdminToken,
  type ServerProcess,
} from '@herald/testkit';
import { fails, heraldAt, ok, parseJson } from './helpers.js';

interface Sample {
  at: number;
  value: number | null;
  error?: string;
  outcome?: string;
}

interface Status {
  id: string;
  state: string;
  wave: number;
  toSeq: number;
  reason: string | null;
  checks: Array<{ name: string; kind: string; target: string; status: string; samples: Sample[] }>;
  failure: null | {
    gate: string;
    waveName: string;
    message: string;
    check?: { name: string; kind: string; target: string; sample: Sample };
    checks: Array<{ name: string; samples: Sample[] }>;
  };
  trap: null | { command: string; stableRevision: number; rolledBackSeq: number };
}

const cleanups: Array<() => Promise<void>> = [];
let herald: ReturnType<typeof heraldAt>;
let control: ServerProcess;
let dir: string;
let exporterUrl: string;

// --- the service: an exporter whose error rate per release the test sets ------------------------

/**
 * Requests served per release (`ns:seq`), and the share of them that fail; grows every 200 ms.
 * Keyed and labelled by namespace too: seqs are per namespace, and a series the previous scenario
 * left in Prometheus's rate window must not be read as this one's.
 */
const traffic = new Map<string, { ok: number; errors: number; errorRatio: number }>();
/** Releases (`ns:seq`) the HTTP check says fail for. */
const failingChecks = new Set<string>();

function serve(ns: string, release: number, errorRatio: number): void {
  const key = `${ns}:${release}`;
  const entry = traffic.get(key) ?? { ok: 0, errors: 0, errorRatio };
  entry.errorRatio = errorRatio;
  traffic.set(key, entry);
}

function exposition(): string {
  const lines = ['# HELP http_requests_total Requests served.', '# TYPE http_requests_total counter'];
  for (const [key, t] of traffic) {
    const [ns, release] = key.split(':');
    const labels = `namespace="${ns ?? ''}",release="${release ?? ''}"`;
    lines.push(`http_requests_total{code="200",${labels}} ${t.ok}`);
    lines.push(`http_requests_total{code="500",${labels}} ${t.errors}`);
  }
  return `${lines.join('\n')}\n`;
}

async function startExporter(): Promise<string> {
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition());
    } else if (url.pathname === '/check') {
      const failing = failingChecks.has(`${url.searchParams.get('ns') ?? ''}:${url.searchParams.get('seq') ?? ''}`);
      response
        .writeHead(failing ? 503 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ pass: !failing, value: failing ? 0.4 : 0 }));
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const growth = setInterval(() => {
    for (const t of traffic.values()) {
      const errors = Math.round(20 * t.errorRatio);
      t.errors += errors;
      t.ok += 20 - errors;
    }
  }, 200);
  cleanups.push(async () => {
    clearInterval(growth);
    await new Promise((resolve) => server.close(resolve));
  });
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}

before(async () => {
  const folder = await tempDir('herald-metric-gates-');
  cleanups.push(folder.cleanup);
  dir = folder.path;
  exporterUrl = await startExporter();
  const prometheus = await startPrometheus(dir, [new URL(exporterUrl).host]);
  cleanups.push(() => prometheus.kill());
  const prometheusUrl = prometheus.url;
  control = await startHeraldProcess([
    'server',
    '--data',
    join(dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
    '--prometheus-url',
    prometheusUrl,
  ]);
  herald = heraldAt(control.url, testAdminToken);
});

after(async () => {
  await control?.kill('SIGKILL');
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

// --- helpers --------------------------------------------------------------------------------------

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(new URL(path, control.url), {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${testAdminToken}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  assert.ok(response.ok, `${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

const errorRate =
  'sum(rate(http_requests_total{code=~"5..",namespace="{{namespace}}",release="{{seq}}"}[5s])) / sum(rate(http_requests_total{namespace="{{namespace}}",release="{{seq}}"}[5s]))';

/** A staged namespace with one entry, released once (to everyone), and the given checks. */
async function gatedNamespace(ns: string, gates: Record<string, unknown>, autoRollback = true): Promise<number> {
  await api('/v1/namespaces', { method: 'POST', body: { name: ns } });
  const file = join(dir, `${ns}.yaml`);
  writeFileSync(
    file,
    stringify({
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 10, bake: '8s' },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
      gates: { maxRejectRatio: 0, minReportRatio: 0, minInstances: 0, reportDeadline: '40s', ...gates },
      autoRollback,
    }),
  );
  ok(await herald(['policy', 'set', ns, '-f', file]), 'policy set');
  ok(await herald(['set', ns, 'timeout', '100']), 'set');
  return parseJson<{ seq: number }>(ok(await herald(['release', ns, '--json']), 'first release')).seq;
}

async function status(ns: string): Promise<Status> {
  return parseJson<Status>(ok(await herald(['rollout', 'status', ns, '--json']), 'rollout status'));
}

async function finished(ns: string, what: string): Promise<Status> {
  return eventually(
    async () => {
      const s = await status(ns);
      return ['succeeded', 'rolled_back', 'aborted', 'paused'].includes(s.state) ? s : undefined;
    },
    { message: what, timeoutMs: 90_000, intervalMs: 500 },
  );
}

// --- the scenarios --------------------------------------------------------------------------------

void describe('metric gates against a real Prometheus', () => {
  void test('the error rate climbs during the canary: rolled back, the query and values shown; the trap is named and left', async () => {
    const ns = 'gated';
    const stable = await gatedNamespace(ns, {
      metrics: [{ name: 'error-rate', query: errorRate, max: 0.05, interval: '1s' }],
    });
    serve(ns, stable, 0.001);
    ok(await herald(['set', ns, 'timeout', '1']), 'the bad change');
    const release = parseJson<{ seq: number; rolloutId: string }>(ok(await herald(['release', ns, '--json'])));
    assert.ok(release.rolloutId, 'a staged release starts a rollout');
    // The canary serves, then its error rate climbs.
    serve(ns, release.seq, 0);
    await eventually(() => (traffic.get(`${ns}:${release.seq}`)?.ok ?? 0) > 100, { timeoutMs: 20_000 });
    serve(ns, release.seq, 0.3);

    const s = await finished(ns, 'the rollout to be rolled back');
    assert.equal(s.state, 'rolled_back', `the rollout ended ${s.state}: ${s.reason ?? ''}`);
    assert.equal(s.wave, 0, 'it failed in the canary');
    assert.match(s.reason ?? '', /metric check "error-rate": [\d.]+ is beyond max 0\.05 at \d{4}-/u);
    assert.ok(s.failure, 'why the wave failed is kept');
    assert.equal(s.failure.gate, 'metric');
    assert.equal(s.failure.waveName, 'canary');
    assert.equal(
      s.failure.check?.target,
      errorRate.replaceAll('{{namespace}}', ns).replaceAll('{{seq}}', String(release.seq)),
    );
    assert.ok((s.failure.check?.sample.value ?? 0) > 0.05, 'the value that failed it');
    const seen = s.failure.checks.find((c) => c.name === 'error-rate')?.samples ?? [];
    assert.ok(seen.length >= 1 && seen.every((x) => typeof x.at === 'number'), 'the values seen, and when');
    serve(ns, release.seq, 0);
    traffic.delete(`${ns}:${release.seq}`);

    const human = ok(await herald(['rollout', 'status', ns]));
    assert.match(human, /query sum\(rate\(http_requests_total\{code=~"5\.\.",namespace="gated",release="\d+"\}/u);
    assert.match(human, /values seen: .*\d at \d{4}-/u);
    assert.match(human, /way out \(one commit back to the stable content\): herald restore gated --to \d+/u);

    // The audit record keeps it too.
    const audit = parseJson<{ items: Array<{ action: string; details: Record<string, unknown> }> }>(
      ok(await herald(['audit', 'list', '--json', '--action', 'rollout.fail'])),
    );
    const failed = audit.items.find((a) => a.details.rolloutId === release.rolloutId);
    assert.ok(failed, 'a rollout.fail audit record');
    assert.equal((failed.details.failure as { gate: string }).gate, 'metric');

    // The namespace still holds the bad content: the next release is refused, with the way out.
    assert.ok(s.trap, 'the status names the trap');
    const refused = fails(await herald(['release', ns]), { line: /\[release_rolled_back\]$/u });
    assert.ok(refused.includes(s.trap.command), `the refusal names the command: ${refused}`);
    fails(await herald(['release', ns, '--force']), { exitCode: 2, line: /--reason/u });

    // The one command out: a commit back to the stable content.
    const command = /herald restore (\S+) --to (\d+) -m "([^"]+)"/u.exec(s.trap.command);
    assert.ok(command, s.trap.command);
    ok(await herald(['restore', command[1] as string, '--to', command[2] as string, '-m', command[3] as string]));
    const after = await status(ns);
    assert.equal(after.trap, null, 'no trap once the content is the stable one');
    const value = parseJson<{ value: unknown }>(ok(await herald(['get', ns, 'timeout', '--json'])));
    assert.equal(value.value, 100);
  });

  void test('a flat error rate: the release succeeds, every check holding', async () => {
    const ns = 'flat';
    const stable = await gatedNamespace(ns, {
      metrics: [{ name: 'error-rate', query: errorRate, max: 0.05, interval: '1s' }],
    });
    serve(ns, stable, 0.001);
    ok(await herald(['set', ns, 'timeout', '200']), 'a good change');
    const release = parseJson<{ seq: number; rolloutId: string }>(ok(await herald(['release', ns, '--json'])));
    serve(ns, release.seq, 0.001);
    const s = await finished(ns, 'the rollout to succeed');
    assert.equal(s.state, 'succeeded', `the rollout ended ${s.state}: ${s.reason ?? ''}`);
    assert.equal(s.failure, null);
    assert.match(s.reason ?? '', /metric check "error-rate" held/u);
  });

  void test('forcing out of the trap needs a reason and is audited', async () => {
    const ns = 'forced';
    await gatedNamespace(ns, { metrics: [{ name: 'error-rate', query: 'vector(1)', max: 0.5, interval: '1s' }] });
    ok(await herald(['set', ns, 'timeout', '3']));
    ok(await herald(['release', ns]));
    const s = await finished(ns, 'the rollout to be rolled back');
    assert.equal(s.state, 'rolled_back');
    fails(await herald(['release', ns]), { line: /\[release_rolled_back\]$/u });
    const forced = parseJson<{ rolloutId: string }>(
      ok(await herald(['release', ns, '--force', '--reason', 'the metric is wrong, not the config', '--json'])),
    );
    assert.ok(forced.rolloutId);
    const audit = parseJson<{ items: Array<{ action: string; details: Record<string, unknown> }> }>(
      ok(await herald(['audit', 'list', '--json', '--action', 'release.create'])),
    );
    const record = audit.items.find((a) => a.details.rolloutId === forced.rolloutId);
    assert.deepEqual(
      (record?.details.forced as { reason: string } | undefined)?.reason,
      'the metric is wrong, not the config',
    );
    // The metric still says no: the forced candidate is rolled back in its turn.
    assert.equal((await finished(ns, 'the forced rollout to end')).state, 'rolled_back');
  });
});

void describe('HTTP checks', () => {
  void test('a URL that answers fail pauses the rollout (autoRollback off), saying which check and what it answered', async () => {
    const ns = 'checked';
    await gatedNamespace(
      ns,
      {
        http: [
          { name: 'slo', url: `${exporterUrl}/check?ns={{namespace}}&seq={{seq}}`, interval: '1s', timeout: '2s' },
        ],
      },
      false,
    );
    ok(await herald(['set', ns, 'timeout', '2']));
    const release = parseJson<{ seq: number }>(ok(await herald(['release', ns, '--json'])));
    failingChecks.add(`${ns}:${release.seq}`);
    const s = await finished(ns, 'the rollout to pause');
    assert.equal(s.state, 'paused', `the rollout ended ${s.state}: ${s.reason ?? ''}`);
    assert.match(s.reason ?? '', /http check "slo": the URL answered fail \(value 0\.4\)/u);
    assert.equal(s.failure?.check?.target, `${exporterUrl}/check?ns=${ns}&seq=${release.seq}`);
    ok(await herald(['rollout', 'rollback', ns, '-m', 'the SLO check failed']));
  });

  void test('a URL that answers pass lets the release through', async () => {
    const ns = 'passing';
    await gatedNamespace(ns, {
      http: [{ name: 'slo', url: `${exporterUrl}/check?ns={{namespace}}&seq={{seq}}`, interval: '1s', timeout: '2s' }],
    });
    ok(await herald(['set', ns, 'timeout', '5']));
    ok(await herald(['release', ns]));
    const s = await finished(ns, 'the rollout to succeed');
    assert.equal(s.state, 'succeeded', `the rollout ended ${s.state}: ${s.reason ?? ''}`);
    assert.match(s.reason ?? '', /http check "slo" held/u);
  });
});
