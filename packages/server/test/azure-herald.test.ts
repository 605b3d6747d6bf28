// A value written through the Azure App Configuration API is a normal Herald entry: it has a
// revision, shows in /v1 history and in the audit log under the access key, is validated by the
// namespace schema (a violation is refused and writes nothing), is delivered to a Herald SDK watcher,
// and keeps Herald's secret rules. Herald writes are read back through the Azure API verbatim.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppConfigurationClient } from '@azure/app-configuration';
import { HeraldClient } from '@herald/sdk';
import { eventually, startTestServer, type TestServer } from '@herald/testkit';
import { all, createAccessKey, insecure, statusOf, type AccessKey } from './azure-helpers.js';
import { call, createNamespace, createToken, entryPath, setEntry, storeState, type EntryBody } from './helpers.js';

let ts: TestServer;
let key: AccessKey;
let azure: AppConfigurationClient;

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, 'payments', {
    schema: { prefixes: [{ prefix: 'limits/', schema: { type: 'integer', minimum: 1 } }] },
  });
  key = await createAccessKey(ts, 'payments', 'writer', { name: 'azure-app' });
  azure = new AppConfigurationClient(key.connectionString, insecure);
});

after(async () => {
  await ts.close();
});

void describe('Azure writes are Herald entries', () => {
  void it('gets a revision, a history record and an audit record under the access key', async () => {
    const before = await ts.store.currentRevision();
    const written = await azure.setConfigurationSetting({
      key: 'db/host',
      label: 'prod',
      value: 'db.internal',
      contentType: 'text/plain',
      tags: { owner: 'ops' },
    });
    const entry = (await call(ts, 'GET', entryPath('payments', 'db/host', 'prod'))).json as EntryBody;
    assert.equal(entry.revision, before + 1);
    assert.equal(entry.value, 'db.internal');
    assert.equal(entry.contentType, 'text/plain');
    assert.deepEqual(entry.tags, { owner: 'ops' });
    assert.equal(entry.etag, written.etag, 'the Azure etag is the Herald etag');
    assert.equal(entry.author, `azure-app (${key.id})`);

    const history = (await call(ts, 'GET', '/v1/namespaces/payments/history?key=db/host&label=prod')).json as {
      items: Array<{ revision: number; author: string }>;
    };
    assert.deepEqual(
      history.items.map((h) => [h.revision, h.author]),
      [[entry.revision, `azure-app (${key.id})`]],
    );
    const audit = (await call(ts, 'GET', '/v1/audit?limit=1000')).json as {
      items: Array<{ actor: string; action: string; target: string; details: { revision?: number } }>;
    };
    const record = audit.items.find((r) => r.details.revision === entry.revision);
    assert.deepEqual(record && [record.actor, record.action, record.target], [
      `azure-app (${key.id})`,
      'entries.commit',
      'namespace:payments',
    ]);
    assert.ok(
      audit.items.some((r) => r.action === 'token.create' && r.target === `token:${key.id}`),
      'creating the access key was audited',
    );

    await azure.setReadOnly({ key: 'db/host', label: 'prod' }, true);
    const locked = (await call(ts, 'GET', entryPath('payments', 'db/host', 'prod'))).json as EntryBody;
    assert.equal(locked.locked, true, 'an Azure lock is a Herald lock');
    assert.equal(
      (
        await call(ts, 'PUT', entryPath('payments', 'db/host', 'prod'), {
          body: { value: 'x', contentType: 'text/plain' },
        })
      ).status,
      409,
    );
    await azure.setReadOnly({ key: 'db/host', label: 'prod' }, false);
  });

  void it('is validated by the namespace schema: a violation is refused (422) and nothing is written', async () => {
    await azure.setConfigurationSetting({ key: 'limits/rps', value: '100', contentType: 'application/json' });
    const before = await storeState(ts);
    let error: { statusCode?: number; details?: { type?: string; detail?: string } } | undefined;
    try {
      await azure.setConfigurationSetting({ key: 'limits/rps', value: '"lots"', contentType: 'application/json' });
    } catch (caught) {
      error = caught as typeof error;
    }
    assert.equal(error?.statusCode, 422);
    assert.equal(error?.details?.type, 'urn:herald:error:schema_violation');
    assert.match(error?.details?.detail ?? '', /limits\/rps/u, 'the problem names the violation');
    assert.equal(
      await statusOf(
        azure.setConfigurationSetting({ key: 'limits/burst', value: '0', contentType: 'application/json' }),
      ),
      422,
    );
    assert.deepEqual(await storeState(ts), before);
    assert.equal((await azure.getConfigurationSetting({ key: 'limits/rps' })).value, '100');
  });

  void it('arrives at a Herald SDK watcher, JSON content types as parsed values', async () => {
    const reader = await createToken(ts, [{ namespaces: 'payments', role: 'client' }]);
    const watcher = new HeraldClient({
      url: ts.url,
      token: reader.token,
      instanceId: 'azure-test-1',
      views: [{ namespace: 'payments', labels: [''] }],
      trustedKeys: 'tofu',
    });
    try {
      await watcher.start();
      await watcher.ready();
      await azure.setConfigurationSetting({
        key: 'feature/limits',
        value: '{"max": 5}',
        contentType: 'application/json',
      });
      await azure.setConfigurationSetting({ key: 'greeting', value: 'hello from azure' });
      await eventually(() => watcher.get('payments', 'greeting') === 'hello from azure', {
        message: 'the watcher to see the new greeting',
        timeoutMs: 10_000,
        intervalMs: 10,
      });
      assert.deepEqual(watcher.get('payments', 'feature/limits'), { max: 5 });
      assert.equal(watcher.get('payments', 'greeting'), 'hello from azure');
      assert.equal(watcher.get('payments', 'limits/rps'), 100);
    } finally {
      await watcher.close();
    }
  });

  void it('shows Herald writes through the Azure API, values as the text Herald stores', async () => {
    await setEntry(ts, 'payments', 'pool/max', { value: { max: 40, idle: [1, 2] } });
    await setEntry(ts, 'payments', 'banner', { value: 'Welcome', contentType: 'text/plain' }, 'prod');
    const pool = await azure.getConfigurationSetting({ key: 'pool/max' });
    assert.equal(pool.value, '{"max":40,"idle":[1,2]}');
    assert.equal(pool.contentType, 'application/json');
    assert.equal((await azure.getConfigurationSetting({ key: 'banner', label: 'prod' })).value, 'Welcome');
    const spaced = '{ "a" : [ 1 ,2 ] }';
    await azure.setConfigurationSetting({ key: 'spaced', value: spaced, contentType: 'application/json' });
    assert.deepEqual(((await call(ts, 'GET', entryPath('payments', 'spaced'))).json as EntryBody).value, { a: [1, 2] });
    assert.equal((await azure.getConfigurationSetting({ key: 'spaced' })).value, spaced, 'stored verbatim');
  });

  void it('keeps secrets secret: redacted for keys without the right, still secret after an Azure write', async () => {
    await setEntry(ts, 'payments', 'db/password', { value: 'hunter2', contentType: 'text/plain', secret: true });
    const plain = new AppConfigurationClient(
      (await createAccessKey(ts, 'payments', 'reader')).connectionString,
      insecure,
    );
    const trusted = new AppConfigurationClient(
      (await createAccessKey(ts, 'payments', 'reader', { secrets: true })).connectionString,
      insecure,
    );
    assert.equal(
      (await plain.getConfigurationSetting({ key: 'db/password' })).value,
      null,
      'null for a key that may not read secrets',
    );
    assert.ok(
      (await all(plain.listConfigurationSettings({ keyFilter: 'db/*' }))).every(
        (s) => s.key !== 'db/password' || s.value === null,
      ),
    );
    assert.equal((await trusted.getConfigurationSetting({ key: 'db/password' })).value, 'hunter2');

    await azure.setConfigurationSetting({ key: 'db/password', value: 'correct horse' });
    const entry = (await call(ts, 'GET', entryPath('payments', 'db/password'))).json as EntryBody;
    assert.equal(entry.secret, true, 'an Azure write keeps the entry secret');
    assert.equal(entry.value, 'correct horse');
    assert.equal((await trusted.getConfigurationSetting({ key: 'db/password' })).value, 'correct horse');
  });
});
