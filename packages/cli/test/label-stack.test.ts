// The CLI's view commands take the default label under the labels given, as SDK users write
// stacks: `herald watch NS --label prod` receives the default merged with prod, and
// `--exact-labels` takes the stack literally. Real `herald watch` processes against a real server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnHerald, startTestServer, type TestServer } from '@herald/testkit';
import { labelStack } from '../src/flags.js';
import { heraldAt, ok } from './helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
  const herald = heraldAt(ts.url, ts.adminToken);
  ok(await herald(['ns', 'create', 'stacked']));
  ok(await herald(['set', 'stacked', 'db/host', '"db.internal"']));
  ok(await herald(['set', 'stacked', 'db/pool/max', '20']));
  ok(await herald(['set', 'stacked', 'db/pool/max', '40', '--label', 'prod']));
});

after(async () => {
  await ts.close();
});

async function firstView(args: string[]): Promise<{ labels: string[]; values: Record<string, unknown> }> {
  const watch = spawnHerald(['watch', 'stacked', '--json', ...args], {
    HERALD_URL: ts.url,
    HERALD_TOKEN: ts.adminToken,
  });
  try {
    return JSON.parse(await watch.waitForLine((line) => line.startsWith('{'), { timeoutMs: 60_000 })) as {
      labels: string[];
      values: Record<string, unknown>;
    };
  } finally {
    await watch.stop();
  }
}

void describe('label stacks in the CLI', () => {
  void test('labelStack puts the default label under the given ones unless asked not to', () => {
    assert.deepEqual(labelStack(undefined), []);
    assert.deepEqual(labelStack(['prod']), ['', 'prod']);
    assert.deepEqual(labelStack(['prod', 'prod/westeurope']), ['', 'prod', 'prod/westeurope']);
    assert.deepEqual(labelStack(['', 'prod']), ['', 'prod'], 'an explicit default is not repeated');
    assert.deepEqual(labelStack(['prod'], true), ['prod']);
  });

  void test('herald watch NS --label prod gives the default merged with prod', async () => {
    const view = await firstView(['--label', 'prod']);
    assert.deepEqual(view.labels, ['', 'prod']);
    assert.deepEqual(view.values, { 'db/host': 'db.internal', 'db/pool/max': 40 });
  });

  void test('--exact-labels takes the stack literally', async () => {
    const view = await firstView(['--label', 'prod', '--exact-labels']);
    assert.deepEqual(view.labels, ['prod']);
    assert.deepEqual(view.values, { 'db/pool/max': 40 });
  });
});
