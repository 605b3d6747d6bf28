// `herald watch` observes: it receives and verifies views but sends no reports, so it is never a
// fleet member (nor in a rollout wave's counts); `--report` makes it one, as the control here.
// Real `herald watch` processes against a real server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, spawnHerald, startTestServer, type HeraldChild, type TestServer } from '@herald/testkit';
import { heraldAt, ok } from './helpers.js';

let ts: TestServer;
const children: HeraldChild[] = [];

before(async () => {
  ts = await startTestServer();
  const herald = heraldAt(ts.url, ts.adminToken);
  ok(await herald(['ns', 'create', 'observed']));
  ok(await herald(['set', 'observed', 'greeting', '"hello"']));
});

after(async () => {
  for (const child of children) await child.stop();
  await ts.close();
});

function watch(args: string[]): HeraldChild {
  const child = spawnHerald(['watch', 'observed', '--json', ...args], {
    HERALD_URL: ts.url,
    HERALD_TOKEN: ts.adminToken,
  });
  children.push(child);
  return child;
}

async function fleetIds(): Promise<string[]> {
  const response = await fetch(new URL('/v1/fleet/observed', ts.url), {
    headers: { authorization: `Bearer ${ts.adminToken}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { instances: Array<{ instanceId: string }> }).instances.map((i) => i.instanceId);
}

void test('a watch is not in the fleet; a watch with --report is', async () => {
  const observer = watch(['--instance-id', 'just-looking']);
  await observer.waitForLine((line) => line.startsWith('{'), { timeoutMs: 60_000 });
  // The control: the same command with --report applies the same view and reports it.
  const member = watch(['--instance-id', 'a-member', '--report']);
  await member.waitForLine((line) => line.startsWith('{'), { timeoutMs: 60_000 });
  const ids = await eventually(
    async () => {
      const found = await fleetIds();
      return found.includes('a-member') && found;
    },
    { message: 'the reporting watch to reach the fleet', timeoutMs: 60_000, intervalMs: 200 },
  );
  assert.ok(!ids.includes('just-looking'), `the observer is in the fleet: ${ids.join(', ')}`);
  await observer.stop();
  assert.ok(!(await fleetIds()).includes('just-looking'), 'nor after it stopped');
});
