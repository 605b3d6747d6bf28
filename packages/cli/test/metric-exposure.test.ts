// The exposure figure for a release whose only symptom is the metric (issue 15): every instance
// accepts it and stays healthy, but the service's error rate climbs among those that run it. A
// real `herald server --prometheus-url` runs a staged rollout of it to 100 SDK instances
// (`herald simulate`); a test exporter turns what the fleet runs (GET /v1/fleet/NS, as the
// instances report it) into http_requests_total by release, which a real Prometheus scrapes and
// the rollout's metric check queries. Printed per run: instances that ever ran the bad release
// (the simulation's own count of instances that applied it) against the first wave's share.
//
// HERALD_EXPOSURE_RUNS=5 gives the figure of the report; the default is one run.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import {
  eventually,
  heraldBin,
  startHeraldProcess,
  startPrometheus,
  tempDir,
  testAdminToken,
  type PrometheusProcess,
  type ServerProcess,
} from '@herald/testkit';
import { heraldAt, ok, parseJson } from './helpers.js';

const runs = Number(process.env.HERALD_EXPOSURE_RUNS ?? 1);
const fleetSize = 100;
const canaryPercent = 5;

const cleanups: Array<() => Promise<void>> = [];
const children = new Set<ChildProcess>();
let control: ServerProcess;
let prometheus: PrometheusProcess;
let herald: ReturnType<typeof heraldAt>;
let dir: string;

/** The namespace the exporter reports on, and the release that is bad there. */
const service = { ns: '', bad: -1 };
const counters = new Map<string, { ok: number; errors: number }>();

async function fleetOf(ns: string): Promise<Array<{ instanceId: string; seq: number; status: string }>> {
  const response = await fetch(new URL(`/v1/fleet/${ns}`, control.url), {
    headers: { authorization: `Bearer ${testAdminToken}` },
    signal: AbortSignal.timeout(10_000),
  });
  return ((await response.json()) as { instances: Array<{ instanceId: string; seq: number; status: string }> })
    .instances;
}

/** Each scrape: 10 requests per instance on the release it runs; 20 % of them fail on the bad one. */
async function exposition(): Promise<string> {
  if (service.ns) {
    for (const instance of await fleetOf(service.ns).catch(() => [])) {
      if (instance.status !== 'applied') continue;
      const c = counters.get(String(instance.seq)) ?? { ok: 0, errors: 0 };
      const errors = instance.seq === service.bad ? 2 : 0;
      c.errors += errors;
      c.ok += 10 - errors;
      counters.set(String(instance.seq), c);
    }
  }
  const lines = ['# TYPE http_requests_total counter'];
  for (const [release, c] of counters) {
    lines.push(`http_requests_total{ns="${service.ns}",code="200",release="${release}"} ${c.ok}`);
    lines.push(`http_requests_total{ns="${service.ns}",code="500",release="${release}"} ${c.errors}`);
  }
  return `${lines.join('\n')}\n`;
}

before(async () => {
  const folder = await tempDir('herald-exposure-');
  cleanups.push(folder.cleanup);
  dir = folder.path;
  const exporter = createServer((_request, response) => {
    void exposition().then((text) => response.writeHead(200, { 'content-type': 'text/plain' }).end(text));
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => exporter.close(() => resolve())));
  const address = exporter.address();
  assert.ok(address && typeof address === 'object');
  prometheus = await startPrometheus(dir, [`127.0.0.1:${address.port}`]);
  control = await startHeraldProcess([
    'server',
    '--data',
    join(dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
    '--prometheus-url',
    prometheus.url,
  ]);
  herald = heraldAt(control.url, testAdminToken);
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await control?.kill('SIGKILL');
  await prometheus?.kill();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** `herald simulate`: the count of instances that applied each release, from its summary lines. */
function simulate(ns: string, prefix: string): { child: ChildProcess; applied: (seq: number) => number } {
  const child = spawn(
    process.execPath,
    [
      heraldBin,
      'simulate',
      '--ns',
      ns,
      '--instances',
      String(fleetSize),
      '--prefix',
      prefix,
      '--report-interval',
      '1000',
    ],
    {
      env: { ...process.env, HERALD_URL: control.url, HERALD_TOKEN: testAdminToken },
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  children.add(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  return {
    child,
    applied: (seq) => {
      const pattern = new RegExp(`release ${seq}: (\\d+) applied`, 'u');
      return Math.max(0, ...lines.map((line) => Number(pattern.exec(line)?.[1] ?? 0)));
    },
  };
}

const errorRate =
  'sum(rate(http_requests_total{code="500",ns="{{namespace}}",release="{{seq}}"}[5s])) / sum(rate(http_requests_total{ns="{{namespace}}",release="{{seq}}"}[5s]))';

void test(`exposure of a release whose only symptom is the metric (${runs} run(s) of ${fleetSize} instances)`, async (t) => {
  const figures: string[] = [];
  for (let run = 0; run < runs; run += 1) {
    const ns = `exposure-${run}`;
    ok(await herald(['ns', 'create', ns]));
    const file = join(dir, `${ns}.yaml`);
    writeFileSync(
      file,
      stringify({
        strategy: 'staged',
        waves: [
          { name: 'canary', percent: canaryPercent, bake: '15s' },
          { name: 'early', percent: 25, bake: '15s' },
          { name: 'everyone', percent: 100, bake: '0s' },
        ],
        gates: {
          minReportRatio: 0.8,
          maxRejectRatio: 0,
          maxUnhealthyRatio: 0,
          minInstances: 1,
          reportDeadline: '45s',
          metrics: [{ name: 'error-rate', query: errorRate, max: 0.05, interval: '1s' }],
        },
        autoRollback: true,
      }),
    );
    ok(await herald(['policy', 'set', ns, '-f', file]));
    ok(await herald(['set', ns, 'pool', '10']));
    const stable = parseJson<{ seq: number }>(ok(await herald(['release', ns, '--json']))).seq;
    const sim = simulate(ns, `${ns}-i`);
    await eventually(
      async () => (await fleetOf(ns)).filter((i) => i.seq === stable && i.status === 'applied').length === fleetSize,
      { message: 'the fleet on the stable release', timeoutMs: 60_000, intervalMs: 500 },
    );
    service.ns = ns;
    ok(await herald(['set', ns, 'pool', '1']));
    const release = parseJson<{ seq: number }>(ok(await herald(['release', ns, '--json'])));
    service.bad = release.seq;
    const status = await eventually(
      async () => {
        const s = parseJson<{
          state: string;
          wave: number;
          failure: { gate: string } | null;
          observation: { targeted: number };
        }>(ok(await herald(['rollout', 'status', ns, '--json'])));
        return s.state === 'running' ? undefined : s;
      },
      { message: 'the rollout to end', timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.equal(status.state, 'rolled_back', 'the metric alone rolls it back');
    assert.equal(status.failure?.gate, 'metric');
    assert.equal(status.wave, 0, 'caught in the canary');
    // Instances that ever ran it: once the rollback release reached them all, nothing more can apply it.
    await eventually(async () => (await fleetOf(ns)).every((i) => i.seq > release.seq && i.status === 'applied'), {
      message: 'the fleet back on the stable content',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    const exposed = sim.applied(release.seq);
    const canary = status.observation.targeted;
    assert.ok(exposed <= canary, `only the canary's instances ran it: ${exposed} of ${canary}`);
    figures.push(
      `run ${run + 1}: ${exposed} of ${fleetSize} instances ran the bad release (${exposed} %); the canary targeted ${canary} (${canaryPercent} % nominal)`,
    );
    sim.child.kill('SIGKILL');
    children.delete(sim.child);
    service.ns = '';
  }
  for (const figure of figures) t.diagnostic(`exposure (metric-only symptom): ${figure}`);
});
