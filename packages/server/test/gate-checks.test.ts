// The sampler of the rollout gates (issue 15): each check at its interval by the injected clock,
// samples per wave and observation window, placeholders filled in, and no Prometheus configured
// being an error sample (a failing signal) rather than silence. The check URL is a real loopback
// HTTP server that counts its requests.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { ManualClock, parsePolicy, type CheckContext } from '@herald/core';
import { GateChecks } from '@herald/server';

let server: Server;
let base: string;
const seen: string[] = [];

before(async () => {
  server = createServer((request, response) => {
    seen.push(request.url ?? '');
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"pass": true, "value": 1}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function policyWith(gates: Record<string, unknown>) {
  return parsePolicy({
    strategy: 'staged',
    waves: [
      { name: 'canary', percent: 10, match: { region: ['westus'] }, bake: '1m' },
      { name: 'everyone', percent: 100, bake: '0s' },
    ],
    gates,
  });
}

const context = (waveIndex: number): CheckContext => ({
  namespace: 'pay',
  rolloutId: 'ro-1',
  seq: 9,
  stable: 8,
  wave: waveIndex === 0 ? 'canary' : 'everyone',
  waveIndex,
  instances: ['a', 'b'],
  match: waveIndex === 0 ? { region: ['westus'] } : undefined,
});

void test('a check is sampled at its interval, per wave and window, with its placeholders filled in', async () => {
  const clock = new ManualClock(1_000_000);
  const checks = new GateChecks({ clock, prometheusUrl: null });
  const policy = policyWith({
    http: [{ name: 'slo', url: `${base}/check?seq={{seq}}&i={{instances}}&w={{wave}}`, interval: '10s' }],
  });
  const since = clock.now();

  let observed = await checks.sample(policy, context(0), since);
  assert.equal(observed[0]?.target, `${base}/check?seq=9&i=a,b&w=canary`);
  assert.deepEqual(observed[0]?.samples, [{ at: 1_000_000, value: 1, pass: true }]);
  clock.advance(5000);
  observed = await checks.sample(policy, context(0), since);
  assert.equal(observed[0]?.samples.length, 1, 'not due yet');
  clock.advance(5000);
  observed = await checks.sample(policy, context(0), since);
  assert.equal(observed[0]?.samples.length, 2, 'due after its interval');
  assert.equal(seen.length, 2, 'the URL was asked twice');
  assert.equal(checks.observed({ rolloutId: 'ro-1', waveIndex: 0 }, since).length, 1, 'status sees the samples');

  // A new wave, or a new observation window, starts afresh.
  observed = await checks.sample(policy, context(1), since);
  assert.deepEqual(
    observed[0]?.samples.map((s) => s.at),
    [clock.now()],
  );
  assert.equal(observed[0]?.target, `${base}/check?seq=9&i=a,b&w=everyone`);
  assert.deepEqual(checks.observed({ rolloutId: 'ro-1', waveIndex: 1 }, since + 1), [], 'another window sees none');
  checks.forget('ro-1');
  assert.deepEqual(checks.observed({ rolloutId: 'ro-1', waveIndex: 1 }, since), []);
});

void test('a metric check with no Prometheus configured samples an error: a failing signal, not silence', async () => {
  const clock = new ManualClock(2_000_000);
  const checks = new GateChecks({ clock, prometheusUrl: null });
  const policy = policyWith({
    metrics: [{ name: 'errors', query: 'x{release="{{seq}}",region=~"{{match.region}}"}', max: 1 }],
  });
  const [observed] = await checks.sample(policy, context(0), clock.now());
  assert.equal(observed?.target, 'x{release="9",region=~"westus"}');
  assert.match(observed?.samples[0]?.error ?? '', /--prometheus-url/u);
  assert.equal(observed?.samples[0]?.value, null);
});
