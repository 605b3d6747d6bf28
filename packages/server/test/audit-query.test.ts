// GET /v1/audit's order and filters: newest first (read backwards in windows, the end of the log
// found by search), and actor, action (or a family of actions), namespace and since, each page
// followed by its cursor to the end with nothing lost or repeated.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AuditRecord } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createToken } from './helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

async function pages(query: string, limit: number): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const response = await call(
      ts,
      'GET',
      `/v1/audit?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    assert.equal(response.status, 200, response.text);
    const page = response.json as { items: AuditRecord[]; next?: string };
    records.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return records;
}

void test('newest first and filtered pages hold exactly the matching records, in order', async () => {
  const empty = await pages('&order=newest', 5);
  // The bootstrap records of a fresh server (its token, its signing key).
  assert.ok(empty.length >= 1);
  for (let i = 0; i < 12; i += 1) {
    const ns = `audit-${i % 3}`;
    if (i < 3) assert.equal((await call(ts, 'POST', '/v1/namespaces', { body: { name: ns } })).status, 201);
    assert.equal((await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/k${i}`, { body: { value: i } })).status, 200);
  }
  await createToken(ts, [{ namespaces: 'audit-1', role: 'reader' }]);
  const oldest = await pages('', 1000);
  const seqs = oldest.map((r) => r.seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i + 1),
    'the whole log, oldest first',
  );

  for (const limit of [1, 4, 1000]) {
    assert.deepEqual(await pages('&order=newest', limit), [...oldest].reverse(), `newest first, pages of ${limit}`);
  }
  const about1 = oldest.filter((r) => r.target === 'namespace:audit-1');
  assert.equal(about1.length, 5, 'its creation and four commits');
  assert.deepEqual(await pages('&order=newest&namespace=audit-1', 2), [...about1].reverse());
  assert.deepEqual(await pages('&namespace=audit-1', 2), about1);
  assert.deepEqual(
    await pages('&action=entries', 3),
    oldest.filter((r) => r.action === 'entries.commit'),
    'an action family',
  );
  assert.deepEqual(
    await pages('&action=token.create&order=newest', 3),
    oldest.filter((r) => r.action === 'token.create').reverse(),
  );
  const actor = oldest.at(-2)?.actor ?? '';
  assert.deepEqual(
    await pages(`&actor=${encodeURIComponent(actor)}&order=newest`, 5),
    oldest.filter((r) => r.actor === actor).reverse(),
  );
  const middle = oldest[Math.floor(oldest.length / 2)] as AuditRecord;
  const since = new Date(middle.at).toISOString();
  assert.deepEqual(
    await pages(`&since=${encodeURIComponent(since)}&order=newest`, 4),
    oldest.filter((r) => r.at >= middle.at).reverse(),
  );
  assert.deepEqual(await pages('&since=2999-01-01T00:00:00Z&order=newest', 4), []);
  const bad = await call(ts, 'GET', '/v1/audit?order=sideways');
  assert.equal(bad.status, 400);
});
