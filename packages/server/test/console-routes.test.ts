// What the web console needs (issue 20): the namespaces summary in one answer, the audited reveal
// of a secret, and entries read with their secrets masked whoever asks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken, entryPath, setEntry } from './helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, 'c-pay', { description: 'payments' });
  await createNamespace(ts, 'c-other');
  await setEntry(ts, 'c-pay', 'db/password', { value: 's3cret', contentType: 'text/plain', secret: true });
  await setEntry(ts, 'c-pay', 'plain', { value: 1 });
});

after(() => ts.close());

interface Summary {
  namespace: { name: string; entryCount: number };
  release: { seq: number } | null;
  rollout: unknown;
  fleet: { total: number; onNewest: number; rejected: number } | null;
  hidden: string[];
}

void describe('console routes', () => {
  void it('GET /v1/console/namespaces: every visible namespace with its newest release and fleet share, in one answer', async () => {
    const report = await call(ts, 'POST', '/v1/reports', {
      body: {
        instanceId: 'i-1',
        views: [{ namespace: 'c-pay', seq: 2, digest: 'd', status: 'applied' }],
      },
    });
    assert.equal(report.status, 202, report.text);
    const answer = await call(ts, 'GET', '/v1/console/namespaces');
    assert.equal(answer.status, 200, answer.text);
    const items = (answer.json as { items: Summary[] }).items;
    assert.deepEqual(
      items.map((i) => i.namespace.name),
      ['c-other', 'c-pay'],
    );
    const pay = items.find((i) => i.namespace.name === 'c-pay');
    assert.equal(pay?.namespace.entryCount, 2);
    // The immediate policy released each commit: the newest release is the second.
    assert.equal(pay?.release?.seq, 2);
    assert.deepEqual(pay?.fleet, { total: 1, onNewest: 1, rejected: 0 });
    assert.deepEqual(pay?.hidden, []);
    assert.equal(items.find((i) => i.namespace.name === 'c-other')?.release, null);

    // A client token sees the namespace but may not read its releases or fleet: those parts are
    // left out with the reason, the answer still succeeds.
    const client = await createToken(ts, [{ namespaces: 'c-pay', role: 'client' }]);
    const limited = await call(ts, 'GET', '/v1/console/namespaces', { token: client.token });
    assert.equal(limited.status, 200, limited.text);
    const only = (limited.json as { items: Summary[] }).items;
    assert.deepEqual(
      only.map((i) => i.namespace.name),
      ['c-pay'],
    );
    assert.equal(only[0]?.fleet, null);
    assert.ok((only[0]?.hidden.length ?? 0) > 0, 'the reason is given');
  });

  void it('?secrets=masked leaves a secret value out for an admin too, and only the secret', async () => {
    const list = await call(ts, 'GET', '/v1/namespaces/c-pay/entries?secrets=masked');
    assert.equal(list.status, 200, list.text);
    assert.ok(!list.text.includes('s3cret'), list.text);
    const items = (list.json as { items: Array<{ key: string; value: unknown; secret: boolean }> }).items;
    assert.equal(items.find((e) => e.key === 'db/password')?.value, null);
    assert.equal(items.find((e) => e.key === 'plain')?.value, 1);
    const one = await call(ts, 'GET', `${entryPath('c-pay', 'db/password')}?secrets=masked`);
    assert.equal(one.status, 200, one.text);
    assert.equal((one.json as { value: unknown }).value, null);
    // Without it, the API answers as it always has.
    const plain = await call(ts, 'GET', entryPath('c-pay', 'db/password'));
    assert.equal((plain.json as { value: unknown }).value, 's3cret');
  });

  void it('POST /v1/namespaces/{ns}/secrets/reveal returns the value and audits secret.revealed; refused without the secrets right', async () => {
    const auditCount = async () => {
      const audit = await call(ts, 'GET', '/v1/audit?limit=1000');
      return (audit.json as { items: Array<{ action: string; details: Record<string, unknown> }> }).items.filter(
        (r) => r.action === 'secret.revealed',
      );
    };
    assert.equal((await auditCount()).length, 0);
    const revealed = await call(ts, 'POST', '/v1/namespaces/c-pay/secrets/reveal', { body: { key: 'db/password' } });
    assert.equal(revealed.status, 200, revealed.text);
    assert.equal((revealed.json as { value: unknown }).value, 's3cret');
    const records = await auditCount();
    assert.equal(records.length, 1);
    assert.deepEqual(records[0]?.details, { key: 'db/password', label: '', revision: 1 });

    // A plain entry is returned without an audit record: only secrets are revealed.
    const plain = await call(ts, 'POST', '/v1/namespaces/c-pay/secrets/reveal', { body: { key: 'plain' } });
    assert.equal(plain.status, 200, plain.text);
    assert.equal((await auditCount()).length, 1);

    const reader = await createToken(ts, [{ namespaces: 'c-*', role: 'reader' }]);
    const refused = await call(ts, 'POST', '/v1/namespaces/c-pay/secrets/reveal', {
      token: reader.token,
      body: { key: 'db/password' },
    });
    assertProblem(refused, 'forbidden');
    assert.ok(!refused.text.includes('s3cret'));
    assert.equal((await auditCount()).length, 1, 'a refusal writes nothing');
    const allowed = await createToken(ts, [{ namespaces: 'c-*', role: 'reader', secrets: true }]);
    const ok = await call(ts, 'POST', '/v1/namespaces/c-pay/secrets/reveal', {
      token: allowed.token,
      body: { key: 'db/password' },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await auditCount()).length, 2);

    const missing = await call(ts, 'POST', '/v1/namespaces/c-pay/secrets/reveal', { body: { key: 'nope' } });
    assertProblem(missing, 'entry_not_found');
  });
});
