// `herald watch` through a relay, for a namespace the relay has not learned yet (it does not exist
// when the watch starts): the relay holds the stream open instead of refusing it, and the watch
// prints the first release once the namespace is made upstream. The control plane itself refuses
// a namespace that does not exist (namespace_not_found, exit 1): only it knows for sure.
// Real processes: a server, a relay and `herald watch`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  eventually,
  spawnHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type HeraldChild,
  type ServerProcess,
} from '@herald/testkit';
import { fails, heraldAt, ok } from './helpers.js';

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let relay: ServerProcess;
const children: HeraldChild[] = [];

before(async () => {
  dir = await tempDir();
  server = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
  ]);
  relay = await startHeraldProcess(
    ['relay', '--upstream', server.url, '--listen', '127.0.0.1:0', '--cache', join(dir.path, 'cache')],
    { HERALD_TOKEN: testAdminToken },
  );
});

after(async () => {
  for (const child of children) await child.stop();
  await relay.kill();
  await server.kill();
  await dir.cleanup();
});

void test('a watch through a relay waits for a namespace made after it started', async () => {
  const watch = spawnHerald(['watch', 'late', '--json'], { HERALD_URL: relay.url, HERALD_TOKEN: testAdminToken });
  children.push(watch);
  // The relay has answered the watch (the SDK says it trusts the keys on first contact) before the namespace exists.
  await eventually(() => watch.stderr.some((line) => line.includes('trusting')), {
    message: 'the relay to answer the watch',
    timeoutMs: 60_000,
  });
  const herald = heraldAt(server.url, testAdminToken);
  ok(await herald(['ns', 'create', 'late']));
  ok(await herald(['set', 'late', 'k', '42']));
  const line = await watch.waitForLine((l) => l.startsWith('{'), { timeoutMs: 60_000 });
  assert.deepEqual((JSON.parse(line) as { values: unknown }).values, { k: 42 });
  // The control plane, asked directly about a namespace that does not exist, refuses for good.
  fails(await heraldAt(server.url, testAdminToken)(['watch', 'never-made']), { line: /\[namespace_not_found\]/u });
});
