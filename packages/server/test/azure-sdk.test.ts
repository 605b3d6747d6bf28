// The Azure App Configuration data plane, driven only by Microsoft's own client
// (@azure/app-configuration 1.13) against a real Herald server on loopback: CRUD with and without
// labels, awkward keys and labels, every filter form, conditional requests, revisions and
// point-in-time reads, locks, listings of more than 100 items with page etags, snapshots, and
// authentication (a wrong secret, an unknown id, a skewed clock, a revoked or read-only key).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppConfigurationClient, type ConfigurationSetting } from '@azure/app-configuration';
import { ManualClock } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { all, createAccessKey, createStore, insecure, sleep, statusOf, type AccessKey } from './azure-helpers.js';
import { call, createNamespace, storeState } from './helpers.js';

let ts: TestServer;
let key: AccessKey;
let client: AppConfigurationClient;

before(async () => {
  // Token lookups are not cached here, so a revocation shows at once.
  ts = await startTestServer({ config: { tokenCacheMs: 1 } });
  key = await createStore(ts, 'shop');
  client = new AppConfigurationClient(key.connectionString, insecure);
});

after(async () => {
  await ts.close();
});

/** A fresh store (namespace + writer key) for tests that need one to themselves. */
async function freshClient(namespace: string): Promise<AppConfigurationClient> {
  const fresh = await createStore(ts, namespace);
  return new AppConfigurationClient(fresh.connectionString, insecure);
}

const keysOf = (settings: ConfigurationSetting[]) =>
  settings.map((s) => (s.label === undefined ? s.key : `${s.key}@${s.label}`));

void describe('Azure SDK 1.13: key-values', () => {
  void it('creates, reads, updates and deletes a key-value without a label', async () => {
    const created = await client.setConfigurationSetting({
      key: 'crud/plain',
      value: 'one',
      contentType: 'text/plain',
      tags: { team: 'a' },
    });
    assert.equal(created.key, 'crud/plain');
    assert.equal(created.label, undefined);
    assert.equal(created.value, 'one');
    assert.equal(created.contentType, 'text/plain');
    assert.deepEqual(created.tags, { team: 'a' });
    assert.equal(created.isReadOnly, false);
    assert.ok(created.etag);
    assert.ok(created.lastModified instanceof Date && Math.abs(created.lastModified.getTime() - Date.now()) < 60_000);

    const read = await client.getConfigurationSetting({ key: 'crud/plain' });
    assert.equal(read.statusCode, 200);
    assert.equal(read.value, 'one');
    assert.equal(read.etag, created.etag);

    const updated = await client.setConfigurationSetting({ key: 'crud/plain', value: 'two' });
    assert.equal(updated.value, 'two');
    assert.notEqual(updated.etag, created.etag, 'every write gives a new etag');
    assert.equal(updated.contentType, undefined, 'a PUT replaces the whole key-value: no content type now');
    assert.deepEqual(updated.tags, {});

    const deleted = await client.deleteConfigurationSetting({ key: 'crud/plain' });
    assert.equal(deleted.statusCode, 200);
    assert.equal(await statusOf(client.getConfigurationSetting({ key: 'crud/plain' })), 404);
    assert.equal(
      (await client.deleteConfigurationSetting({ key: 'crud/plain' })).statusCode,
      204,
      'deleting what is not there is a 204',
    );
  });

  void it('keeps one key-value per label, the null label apart from the others', async () => {
    await client.setConfigurationSetting({ key: 'crud/labelled', value: 'default' });
    await client.setConfigurationSetting({ key: 'crud/labelled', label: 'prod', value: 'production' });
    await client.setConfigurationSetting({ key: 'crud/labelled', label: 'prod/westeurope', value: 'west' });
    assert.equal((await client.getConfigurationSetting({ key: 'crud/labelled' })).value, 'default');
    assert.equal((await client.getConfigurationSetting({ key: 'crud/labelled', label: 'prod' })).value, 'production');
    const west = await client.getConfigurationSetting({ key: 'crud/labelled', label: 'prod/westeurope' });
    assert.equal(west.value, 'west');
    assert.equal(west.label, 'prod/westeurope');
    assert.equal(await statusOf(client.getConfigurationSetting({ key: 'crud/labelled', label: 'test' })), 404);

    await client.deleteConfigurationSetting({ key: 'crud/labelled', label: 'prod' });
    assert.equal(await statusOf(client.getConfigurationSetting({ key: 'crud/labelled', label: 'prod' })), 404);
    assert.equal(
      (await client.getConfigurationSetting({ key: 'crud/labelled' })).value,
      'default',
      'other labels are untouched',
    );
    assert.deepEqual(keysOf(await all(client.listConfigurationSettings({ keyFilter: 'crud/labelled' }))), [
      'crud/labelled',
      'crud/labelled@prod/westeurope',
    ]);
  });

  void it('stores values and content types verbatim, JSON text included', async () => {
    const json = '{ "pool" : { "max": 40, "min":1.50 } }';
    await client.setConfigurationSetting({ key: 'verbatim/json', value: json, contentType: 'application/json' });
    await client.setConfigurationSetting({ key: 'verbatim/empty', value: '' });
    await client.setConfigurationSetting({
      key: 'verbatim/odd-type',
      value: 'x',
      contentType: 'application/x-custom; version=2',
    });
    assert.equal((await client.getConfigurationSetting({ key: 'verbatim/json' })).value, json);
    assert.equal((await client.getConfigurationSetting({ key: 'verbatim/empty' })).value, '');
    assert.equal(
      (await client.getConfigurationSetting({ key: 'verbatim/odd-type' })).contentType,
      'application/x-custom; version=2',
    );
    // A JSON content type with text that is not JSON is refused: Herald values match their content type.
    assert.equal(
      await statusOf(
        client.setConfigurationSetting({ key: 'verbatim/bad', value: '{not json', contentType: 'application/json' }),
      ),
      400,
    );
  });

  void it('handles awkward keys and labels: reserved URL characters, spaces, Unicode, filter characters', async () => {
    const keys = [
      'a/b/c',
      'trailing/',
      'with space',
      'colon:key',
      'plus+key',
      'question?mark',
      'hash#key',
      'amp&key',
      'equals=key',
      'star*key',
      'comma,key',
      'back\\slash',
      'ünïcødé/κλειδί',
      'emoji😀',
      '.appconfig.featureflag/Beta',
      'quote\'double"',
    ];
    const labels = [
      undefined,
      'prod/westeurope',
      'with space',
      'ü',
      'a:b',
      'plus+label',
      'star*label',
      'comma,label',
      'back\\label',
    ];
    for (const [i, k] of keys.entries()) {
      const label = labels[i % labels.length];
      const id = label === undefined ? { key: k } : { key: k, label };
      const set = await client.setConfigurationSetting({ ...id, value: `v${i}` });
      assert.equal(set.key, k);
      assert.equal(set.label, label);
      const got = await client.getConfigurationSetting(id);
      assert.equal(got.value, `v${i}`, `get ${k}`);
      // Listed by an exact filter, with the filter characters escaped as the service requires. (The
      // SDK puts filters in the query unencoded, so it cannot send one holding "?", "#" or "&".)
      if (!/[?#&]/u.test(k)) {
        const escape = (text: string) => text.replace(/[\\*,]/gu, (c) => `\\${c}`);
        const listed = await all(
          client.listConfigurationSettings({
            keyFilter: escape(k),
            labelFilter: label === undefined ? '\0' : escape(label),
          }),
        );
        assert.deepEqual(
          listed.map((s) => [s.key, s.label, s.value]),
          [[k, label, `v${i}`]],
          `list ${k}`,
        );
      }
      await client.setReadOnly(id, true);
      assert.equal((await client.getConfigurationSetting(id)).isReadOnly, true);
      await client.setReadOnly(id, false);
      assert.equal((await client.deleteConfigurationSetting(id)).statusCode, 200, `delete ${k}`);
      assert.equal(await statusOf(client.getConfigurationSetting(id)), 404);
    }
    // What Herald (and the service) refuse as keys.
    assert.equal(await statusOf(client.setConfigurationSetting({ key: 'percent%key', value: 'x' })), 400);
    assert.equal(await statusOf(client.setConfigurationSetting({ key: 'control\u0001', value: 'x' })), 400);
  });
});

void describe('Azure SDK 1.13: filters and $select', () => {
  let filtered: AppConfigurationClient;

  before(async () => {
    filtered = await freshClient('filters');
    const settings: Array<Pick<ConfigurationSetting, 'key' | 'label' | 'value' | 'tags'>> = [
      { key: 'app/db/host', value: 'h', tags: { tier: 'data', env: 'prod' } },
      { key: 'app/db/host', label: 'prod', value: 'h-prod', tags: { tier: 'data', env: 'prod' } },
      { key: 'app/db/port', label: 'prod', value: '5432', tags: { tier: 'data', env: 'test' } },
      { key: 'app/web/port', label: 'test', value: '80', tags: { tier: 'web' } },
      { key: 'app/web/port', label: 'prod-eu', value: '443' },
      { key: 'other/port', value: '1' },
      { key: 'star*literal', value: 's' },
      { key: 'comma,literal', label: 'x,y', value: 'c' },
    ];
    for (const s of settings) await filtered.setConfigurationSetting(s);
  });

  const list = async (options: Parameters<AppConfigurationClient['listConfigurationSettings']>[0]) =>
    keysOf(await all(filtered.listConfigurationSettings(options)));

  void it('filters keys: any, exact, prefix, suffix, contains, alternatives and escapes', async () => {
    assert.equal((await list({})).length, 8, 'no filter: everything, any label');
    assert.equal((await list({ keyFilter: '*' })).length, 8);
    assert.deepEqual(await list({ keyFilter: 'app/db/host' }), ['app/db/host', 'app/db/host@prod']);
    assert.deepEqual(await list({ keyFilter: 'app/web/*' }), ['app/web/port@prod-eu', 'app/web/port@test']);
    assert.deepEqual(await list({ keyFilter: '*/port' }), [
      'app/db/port@prod',
      'app/web/port@prod-eu',
      'app/web/port@test',
      'other/port',
    ]);
    assert.deepEqual(await list({ keyFilter: '*db*' }), ['app/db/host', 'app/db/host@prod', 'app/db/port@prod']);
    assert.deepEqual(await list({ keyFilter: 'other/port,app/db/*' }), [
      'app/db/host',
      'app/db/host@prod',
      'app/db/port@prod',
      'other/port',
    ]);
    assert.deepEqual(await list({ keyFilter: 'star\\*literal' }), ['star*literal']);
    assert.deepEqual(await list({ keyFilter: 'star\\**' }), ['star*literal']);
    assert.deepEqual(await list({ keyFilter: 'comma\\,literal' }), ['comma,literal@x,y']);
    assert.deepEqual(await list({ keyFilter: 'nothing/*' }), []);
  });

  void it('filters labels: the null label, exact, prefix and alternatives, combined with keys', async () => {
    assert.deepEqual(await list({ labelFilter: '\0' }), ['app/db/host', 'other/port', 'star*literal']);
    assert.deepEqual(await list({ labelFilter: 'prod' }), ['app/db/host@prod', 'app/db/port@prod']);
    assert.deepEqual(await list({ labelFilter: 'prod*' }), [
      'app/db/host@prod',
      'app/db/port@prod',
      'app/web/port@prod-eu',
    ]);
    assert.deepEqual(await list({ labelFilter: 'test,\0', keyFilter: 'app/*' }), ['app/db/host', 'app/web/port@test']);
    assert.deepEqual(await list({ labelFilter: 'x\\,y' }), ['comma,literal@x,y']);
    assert.deepEqual(await list({ keyFilter: 'app/*', labelFilter: '*' }), [
      'app/db/host',
      'app/db/host@prod',
      'app/db/port@prod',
      'app/web/port@prod-eu',
      'app/web/port@test',
    ]);
  });

  void it('filters by tags (every tag filter must hold)', async () => {
    assert.deepEqual(await list({ tagsFilter: ['tier=data'] }), [
      'app/db/host',
      'app/db/host@prod',
      'app/db/port@prod',
    ]);
    assert.deepEqual(await list({ tagsFilter: ['tier=data', 'env=prod'] }), ['app/db/host', 'app/db/host@prod']);
    assert.deepEqual(await list({ tagsFilter: ['tier=web'], keyFilter: 'app/*' }), ['app/web/port@test']);
    assert.deepEqual(await list({ tagsFilter: ['tier=none'] }), []);
  });

  void it('returns only the fields asked for with $select', async () => {
    const [setting] = await all(
      filtered.listConfigurationSettings({ keyFilter: 'other/port', fields: ['key', 'value'] }),
    );
    assert.ok(setting);
    assert.equal(setting.key, 'other/port');
    assert.equal(setting.value, '1');
    assert.equal(setting.etag, undefined);
    assert.equal(setting.lastModified, undefined);
    assert.equal(setting.contentType, undefined);
    const one = await filtered.getConfigurationSetting(
      { key: 'app/db/host', label: 'prod' },
      { fields: ['key', 'label', 'isReadOnly', 'tags'] },
    );
    assert.equal(one.value, undefined);
    assert.equal(one.isReadOnly, false);
    assert.deepEqual(one.tags, { tier: 'data', env: 'prod' });
  });

  void it('refuses filters the service refuses, with 400', async () => {
    assert.equal(await statusOf(all(filtered.listConfigurationSettings({ keyFilter: 'a*b' }))), 400);
    assert.equal(await statusOf(all(filtered.listConfigurationSettings({ keyFilter: 'a,b,c,d,e,f' }))), 400);
    assert.equal(await statusOf(all(filtered.listConfigurationSettings({ tagsFilter: ['no-equals'] }))), 400);
  });

  void it('lists labels, with a name filter', async () => {
    const labels = (await all(filtered.listLabels())).map((l) => l.name);
    assert.deepEqual(labels, [null, 'prod', 'prod-eu', 'test', 'x,y']);
    assert.deepEqual(
      (await all(filtered.listLabels({ nameFilter: 'prod*' }))).map((l) => l.name),
      ['prod', 'prod-eu'],
    );
  });
});

void describe('Azure SDK 1.13: conditional requests', () => {
  void it('answers 304 for an unchanged key-value and 412 for a stale or missing one', async () => {
    const first = await client.setConfigurationSetting({ key: 'cond/a', value: '1' });
    const unchanged = await client.getConfigurationSetting(first, { onlyIfChanged: true });
    assert.equal(unchanged.statusCode, 304);
    const second = await client.setConfigurationSetting({ ...first, value: '2' }, { onlyIfUnchanged: true });
    assert.equal(second.value, '2');
    assert.equal(
      (await client.getConfigurationSetting(first, { onlyIfChanged: true })).statusCode,
      200,
      'changed since first',
    );
    assert.equal(
      await statusOf(client.setConfigurationSetting({ ...first, value: '3' }, { onlyIfUnchanged: true })),
      412,
      'stale etag',
    );
    assert.equal(await statusOf(client.deleteConfigurationSetting(first, { onlyIfUnchanged: true })), 412);
    assert.equal(
      (await client.getConfigurationSetting({ key: 'cond/a' })).value,
      '2',
      'nothing was written by the refused requests',
    );

    assert.equal((await client.addConfigurationSetting({ key: 'cond/new', value: 'n' })).value, 'n');
    assert.equal(
      await statusOf(client.addConfigurationSetting({ key: 'cond/new', value: 'again' })),
      412,
      'add is If-None-Match: *',
    );
    assert.equal((await client.getConfigurationSetting({ key: 'cond/new' })).value, 'n');
    assert.equal((await client.deleteConfigurationSetting(second, { onlyIfUnchanged: true })).statusCode, 200);
  });
});

void describe('Azure SDK 1.13: revisions and point-in-time reads', () => {
  void it('lists revisions newest first, filtered, and reads the past with acceptDateTime', async () => {
    const revs = await freshClient('revisions');
    await revs.setConfigurationSetting({ key: 'r/a', value: 'v1' });
    await sleep(20);
    const between = new Date();
    await sleep(20);
    await revs.setConfigurationSetting({ key: 'r/a', value: 'v2' });
    await revs.setConfigurationSetting({ key: 'r/b', label: 'prod', value: 'b1' });
    await revs.setReadOnly({ key: 'r/a' }, true);

    const history = await all(revs.listRevisions({ keyFilter: 'r/a' }));
    assert.deepEqual(
      history.map((r) => [r.value, r.isReadOnly]),
      [
        ['v2', true],
        ['v2', false],
        ['v1', false],
      ],
    );
    assert.deepEqual(
      (await all(revs.listRevisions({ labelFilter: 'prod' }))).map((r) => r.key),
      ['r/b'],
    );
    assert.deepEqual(
      (await all(revs.listRevisions({ keyFilter: 'r/*', fields: ['key', 'value'] }))).map((r) => r.value),
      ['v2', 'b1', 'v2', 'v1'],
    );

    assert.equal((await revs.getConfigurationSetting({ key: 'r/a' }, { acceptDateTime: between })).value, 'v1');
    assert.deepEqual(
      (await all(revs.listConfigurationSettings({ acceptDateTime: between }))).map((s) => [s.key, s.value]),
      [['r/a', 'v1']],
    );
    assert.deepEqual(
      (await all(revs.listRevisions({ acceptDateTime: between }))).map((s) => s.value),
      ['v1'],
    );
    assert.equal(
      await statusOf(revs.getConfigurationSetting({ key: 'r/b', label: 'prod' }, { acceptDateTime: between })),
      404,
      'it did not exist then',
    );
    assert.deepEqual(
      await all(revs.listConfigurationSettings({ acceptDateTime: new Date(0) })),
      [],
      'before anything was written',
    );
  });

  void it('pages through more than 100 revisions', async () => {
    const revs = await freshClient('many-revisions');
    for (let i = 0; i < 130; i += 1) await revs.setConfigurationSetting({ key: 'counter', value: String(i) });
    const pages = [];
    for await (const page of revs.listRevisions({ keyFilter: 'counter' }).byPage())
      pages.push(page.items.map((s) => Number(s.value)));
    assert.deepEqual(
      pages.map((p) => p.length),
      [100, 30],
    );
    assert.deepEqual(
      pages.flat(),
      Array.from({ length: 130 }, (_, i) => 129 - i),
    );
  });
});

void describe('Azure SDK 1.13: locks', () => {
  void it('makes a key-value read-only: writes and deletes get 409 until it is unlocked', async () => {
    await client.setConfigurationSetting({ key: 'locked/a', value: '1' });
    const locked = await client.setReadOnly({ key: 'locked/a' }, true);
    assert.equal(locked.isReadOnly, true);
    let error: unknown;
    try {
      await client.setConfigurationSetting({ key: 'locked/a', value: '2' });
    } catch (caught) {
      error = caught;
    }
    const restError = error as { statusCode?: number; details?: { type?: string; title?: string } };
    assert.equal(restError.statusCode, 409);
    assert.equal(restError.details?.type, 'https://azconfig.io/errors/key-locked');
    assert.equal(restError.details?.title, "Modifying key 'locked/a' is not allowed");
    assert.equal(await statusOf(client.deleteConfigurationSetting({ key: 'locked/a' })), 409);
    assert.equal((await client.getConfigurationSetting({ key: 'locked/a' })).value, '1');
    assert.equal(await statusOf(client.setReadOnly({ key: 'locked/missing' }, true)), 404);

    const unlocked = await client.setReadOnly({ key: 'locked/a' }, false);
    assert.equal(unlocked.isReadOnly, false);
    assert.equal((await client.setConfigurationSetting({ key: 'locked/a', value: '2' })).value, '2');
  });
});

void describe('Azure SDK 1.13: more than 100 key-values', () => {
  let big: AppConfigurationClient;
  const count = 250;
  const name = (i: number) => `page/${String(i).padStart(3, '0')}`;

  before(async () => {
    big = await freshClient('big');
    for (let i = 0; i < count; i += 1)
      await big.setConfigurationSetting({ key: name(i), ...(i % 2 === 0 ? {} : { label: 'odd' }), value: String(i) });
  });

  void it('lists them all in pages of at most 100, in key order', async () => {
    const pages = [];
    for await (const page of big.listConfigurationSettings({ keyFilter: 'page/*' }).byPage()) pages.push(page);
    assert.deepEqual(
      pages.map((p) => p.items.length),
      [100, 100, 50],
    );
    assert.deepEqual(
      pages.flatMap((p) => p.items.map((s) => s.key)),
      Array.from({ length: count }, (_, i) => name(i)),
    );
    assert.equal(
      (await all(big.listConfigurationSettings({ keyFilter: 'page/*', labelFilter: 'odd' }))).length,
      count / 2,
    );
    assert.equal((await all(big.listConfigurationSettings({ keyFilter: 'page/1*,page/2*' }))).length, 150);
  });

  void it('gives each page an etag that changes only when the page does (304 otherwise)', async () => {
    const first = [];
    for await (const page of big.listConfigurationSettings({ keyFilter: 'page/*' }).byPage()) first.push(page);
    const etags = first.map((p) => p.etag as string);
    assert.equal(new Set(etags).size, 3);
    const again = [];
    for await (const page of big.listConfigurationSettings({ keyFilter: 'page/*', pageEtags: etags }).byPage())
      again.push(page);
    assert.deepEqual(
      again.map((p) => Number(p._response.status)),
      [304, 304, 304],
      'every page unchanged, and the 304s lead to the next page',
    );

    await big.setConfigurationSetting({ key: name(150), value: 'changed' });
    const after = [];
    for await (const page of big.listConfigurationSettings({ keyFilter: 'page/*', pageEtags: etags }).byPage())
      after.push(page);
    assert.deepEqual(
      after.map((p) => Number(p._response.status)),
      [304, 200, 304],
      'only the page holding the change',
    );
    assert.ok(after[1]?.items.some((s) => s.key === name(150) && s.value === 'changed'));
  });

  void it('checks them with HEAD requests (checkConfigurationSettings)', async () => {
    const pages = [];
    for await (const page of big.checkConfigurationSettings({ keyFilter: 'page/*' }).byPage()) pages.push(page);
    assert.equal(pages.length, 3);
    assert.deepEqual(
      pages.map((p) => [Number(p._response.status), p.items.length]),
      [
        [200, 0],
        [200, 0],
        [200, 0],
      ],
      'no bodies, but the Link header leads on',
    );
  });
});

void describe('Azure SDK 1.13: snapshots', () => {
  let snaps: AppConfigurationClient;

  before(async () => {
    snaps = await freshClient('snapshots');
    await snaps.setConfigurationSetting({ key: 'svc/a', value: 'a0' });
    await snaps.setConfigurationSetting({ key: 'svc/a', label: 'prod', value: 'a-prod' });
    await snaps.setConfigurationSetting({ key: 'svc/b', value: 'b0', tags: { keep: 'yes' } });
    await snaps.setConfigurationSetting({ key: 'other/c', value: 'c0' });
  });

  void it('creates a snapshot through the long-running operation, and its contents never change', async () => {
    const poller = await snaps.beginCreateSnapshot({
      name: 'release-1',
      filters: [{ keyFilter: 'svc/*', labelFilter: '\0' }],
      tags: { release: '1' },
      retentionPeriodInSeconds: 3600,
    });
    const created = await poller.pollUntilDone();
    assert.equal(created.name, 'release-1');
    assert.equal(created.status, 'ready');
    assert.equal(created.compositionType, 'key');
    assert.equal(created.itemCount, 2);
    assert.deepEqual(created.tags, { release: '1' });
    assert.equal(created.retentionPeriodInSeconds, 3600);

    await snaps.setConfigurationSetting({ key: 'svc/a', value: 'a1' });
    await snaps.deleteConfigurationSetting({ key: 'svc/b' });
    const items = await all(snaps.listConfigurationSettingsForSnapshot('release-1'));
    assert.deepEqual(
      items.map((s) => [s.key, s.label, s.value]),
      [
        ['svc/a', undefined, 'a0'],
        ['svc/b', undefined, 'b0'],
      ],
    );
    assert.deepEqual(items[1]?.tags, { keep: 'yes' });
    assert.equal((await snaps.getSnapshot('release-1')).itemCount, 2);
    assert.equal(
      await statusOf(snaps.beginCreateSnapshotAndWait({ name: 'release-1', filters: [{ keyFilter: '*' }] })),
      409,
      'a name is taken',
    );
  });

  void it('composes by key (later filters win) or by key and label', async () => {
    const byKey = await snaps.beginCreateSnapshotAndWait({
      name: 'by-key',
      filters: [
        { keyFilter: 'svc/a', labelFilter: '\0' },
        { keyFilter: 'svc/a', labelFilter: 'prod' },
      ],
    });
    assert.equal(byKey.itemCount, 1);
    assert.deepEqual(
      (await all(snaps.listConfigurationSettingsForSnapshot('by-key'))).map((s) => s.value),
      ['a-prod'],
    );
    const byKeyLabel = await snaps.beginCreateSnapshotAndWait({
      name: 'by-key-label',
      compositionType: 'key_label',
      filters: [{ keyFilter: 'svc/a', labelFilter: '*' }],
    });
    assert.equal(byKeyLabel.itemCount, 2);
    assert.equal(
      await statusOf(
        snaps.beginCreateSnapshotAndWait({ name: 'bad', filters: [{ keyFilter: 'svc/*', labelFilter: '*' }] }),
      ),
      400,
      'a label filter matching several labels needs key_label',
    );
  });

  void it('lists, archives and recovers snapshots', async () => {
    await snaps.beginCreateSnapshotAndWait({
      name: 'tagged-only',
      filters: [{ keyFilter: '*', tagsFilter: ['keep=yes'] }],
    });
    const names = (await all(snaps.listSnapshots())).map((s) => s.name);
    assert.ok(names.includes('release-1') && names.includes('by-key') && names.includes('tagged-only'));
    assert.deepEqual(
      (await all(snaps.listSnapshots({ nameFilter: 'by-*' }))).map((s) => s.name),
      ['by-key', 'by-key-label'],
    );
    const archived = await snaps.archiveSnapshot('by-key');
    assert.equal(archived.status, 'archived');
    assert.ok(archived.expiresOn instanceof Date && archived.expiresOn.getTime() > Date.now());
    assert.deepEqual(
      (await all(snaps.listSnapshots({ statusFilter: ['archived'] }))).map((s) => s.name),
      ['by-key'],
    );
    assert.deepEqual(
      (await all(snaps.listConfigurationSettingsForSnapshot('by-key'))).map((s) => s.value),
      ['a-prod'],
      'an archived snapshot can still be read',
    );
    const recovered = await snaps.recoverSnapshot('by-key');
    assert.equal(recovered.status, 'ready');
    assert.equal(recovered.expiresOn, undefined);
    assert.equal(await statusOf(snaps.getSnapshot('missing')), 404);
    assert.equal(await statusOf(all(snaps.listConfigurationSettingsForSnapshot('missing'))), 404);
  });
});

void describe('Azure SDK 1.13: authentication and access', () => {
  void it('refuses a wrong secret and an unknown id with 401, and writes nothing', async () => {
    const before = await storeState(ts);
    const wrongSecret = new AppConfigurationClient(
      `Endpoint=${ts.url};Id=${key.id};Secret=${Buffer.alloc(32, 9).toString('base64')}`,
      insecure,
    );
    const unknownId = new AppConfigurationClient(
      `Endpoint=${ts.url};Id=0123456789abcdef;Secret=${key.secret}`,
      insecure,
    );
    for (const bad of [wrongSecret, unknownId]) {
      assert.equal(await statusOf(bad.setConfigurationSetting({ key: 'auth/x', value: 'x' })), 401);
      assert.equal(await statusOf(bad.addConfigurationSetting({ key: 'auth/y', value: 'y' })), 401);
      assert.equal(await statusOf(bad.deleteConfigurationSetting({ key: 'cond/a' })), 401);
      assert.equal(await statusOf(bad.setReadOnly({ key: 'locked/a' }, true)), 401);
      assert.equal(
        await statusOf(bad.beginCreateSnapshotAndWait({ name: 'nope', filters: [{ keyFilter: '*' }] })),
        401,
      );
      assert.equal(await statusOf(bad.getConfigurationSetting({ key: 'locked/a' })), 401);
      assert.equal(await statusOf(all(bad.listConfigurationSettings())), 401);
    }
    assert.deepEqual(await storeState(ts), before, 'the store revision, audit log and namespaces are unchanged');
    assert.equal(await statusOf(client.getConfigurationSetting({ key: 'auth/x' })), 404);
  });

  void it('refuses a request whose date is more than 15 minutes from the server clock', async () => {
    const clock = new ManualClock(Date.now() + 16 * 60_000);
    const skewed = await startTestServer({ clock });
    try {
      const access = await createStore(skewed, 'clock');
      const sdk = new AppConfigurationClient(access.connectionString, insecure);
      const before = await skewed.store.currentRevision();
      assert.equal(await statusOf(sdk.setConfigurationSetting({ key: 'k', value: 'v' })), 401);
      assert.equal(await skewed.store.currentRevision(), before);
      clock.set(Date.now() - 14 * 60_000);
      assert.equal(
        (await sdk.setConfigurationSetting({ key: 'k', value: 'v' })).value,
        'v',
        'within 15 minutes is fine',
      );
    } finally {
      await skewed.close();
    }
  });

  void it('lets a reader key read but not write (403), and a revoked key nothing (401)', async () => {
    const reader = await createAccessKey(ts, 'shop', 'reader');
    const readOnly = new AppConfigurationClient(reader.connectionString, insecure);
    await client.setConfigurationSetting({ key: 'acl/a', value: 'a' });
    assert.equal((await readOnly.getConfigurationSetting({ key: 'acl/a' })).value, 'a');
    const before = await storeState(ts);
    assert.equal(await statusOf(readOnly.setConfigurationSetting({ key: 'acl/a', value: 'b' })), 403);
    assert.equal(await statusOf(readOnly.setReadOnly({ key: 'acl/a' }, true)), 403);
    assert.equal(
      await statusOf(readOnly.beginCreateSnapshotAndWait({ name: 'r', filters: [{ keyFilter: '*' }] })),
      403,
    );
    assert.deepEqual(await storeState(ts), before);

    const revoked = await call(ts, 'DELETE', `/v1/tokens/${reader.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    await sleep(5);
    assert.equal(await statusOf(readOnly.getConfigurationSetting({ key: 'acl/a' })), 401);
  });

  void it('keeps each key to its own namespace', async () => {
    await createNamespace(ts, 'neighbour');
    const neighbour = new AppConfigurationClient((await createAccessKey(ts, 'neighbour')).connectionString, insecure);
    await neighbour.setConfigurationSetting({ key: 'acl/a', value: 'theirs' });
    assert.equal((await client.getConfigurationSetting({ key: 'acl/a' })).value, 'a');
    assert.deepEqual(
      (await all(neighbour.listConfigurationSettings())).map((s) => s.key),
      ['acl/a'],
    );
  });

  void it('refuses access keys that are not bound to exactly one namespace', async () => {
    for (const scopes of [[{ namespaces: 'shop*', role: 'writer' }], [{ namespaces: 'shop', role: 'client' }]]) {
      const response = await call(ts, 'POST', '/v1/azure/access-keys', { body: { scopes } });
      assert.equal(response.status, 400, response.text);
    }
  });
});
