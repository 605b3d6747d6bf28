// Entries through the admin API on a real server and a real SQLite file: values and content
// types, atomic commits with preconditions, HTTP conditional requests, locks, secrets (encrypted
// on disk, redacted for tokens without the right), JSON Schema, history, diff, as-of reads,
// revert, compaction, namespace deletion and awkward keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '@herald/store';
import { startTestServer, tempDir, type TestServer } from '@herald/testkit';
import {
  assertProblem,
  call,
  createNamespace,
  createToken,
  entryPath,
  setEntry,
  storeState,
  type EntryBody,
  type RawResponse,
} from './helpers.js';

let ts: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };

before(async () => {
  dir = await tempDir();
  ts = await startTestServer({ store: SqliteStore.open({ path: join(dir.path, 'herald.db') }) });
});

after(async () => {
  await ts.close();
  await dir.cleanup();
});

interface CommitBody {
  revision: number;
  entries: EntryBody[];
}

interface HistoryPage {
  items: Array<{
    revision: number;
    author: string;
    message: string;
    at: string;
    changes: Array<{ op: string; key: string; label: string; entry?: EntryBody }>;
  }>;
  next?: string;
}

async function commit(ns: string, body: Record<string, unknown>, token?: string): Promise<RawResponse> {
  return call(ts, 'POST', `/v1/namespaces/${ns}/commits`, { body, ...(token === undefined ? {} : { token }) });
}

async function committed(ns: string, changes: unknown[], message?: string): Promise<CommitBody> {
  const response = await commit(ns, { changes, ...(message === undefined ? {} : { message }) });
  assert.equal(response.status, 201, response.text);
  return response.json as CommitBody;
}

async function getEntry(
  ns: string,
  key: string,
  options: { label?: string; token?: string; asOf?: number | undefined } = {},
): Promise<RawResponse> {
  let path = entryPath(ns, key, options.label);
  if (options.asOf !== undefined) path += `${path.includes('?') ? '&' : '?'}asOf=${options.asOf}`;
  return call(ts, 'GET', path, options.token === undefined ? {} : { token: options.token });
}

async function valueOf(
  ns: string,
  key: string,
  options: { label?: string; asOf?: number | undefined } = {},
): Promise<unknown> {
  const response = await getEntry(ns, key, options);
  assert.equal(response.status, 200, response.text);
  return (response.json as EntryBody).value;
}

async function listing(
  ns: string,
  query = '',
  token?: string,
): Promise<{ revision: number; items: EntryBody[]; next?: string }> {
  const response = await call(ts, 'GET', `/v1/namespaces/${ns}/entries${query}`, token === undefined ? {} : { token });
  assert.equal(response.status, 200, response.text);
  return response.json as { revision: number; items: EntryBody[]; next?: string };
}

/** key[@label] → value of every live entry, for comparing whole states. */
async function stateOf(ns: string, query = ''): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {};
  for (const item of (await listing(ns, query)).items)
    state[item.label ? `${item.key}@${item.label}` : item.key] = item.value;
  return state;
}

void describe('values', () => {
  const ns = 'values';
  before(() => createNamespace(ts, ns));

  void it('stores JSON values of every kind and reads them back with their content type, tags and ETag', async () => {
    const values: unknown[] = [
      { max: 5, hosts: ['a', 'b'], nested: { ok: true, none: null } },
      [1, 'two', 3.5],
      'a string',
      42,
      -0.5,
      true,
      false,
      null,
    ];
    for (const [i, value] of values.entries()) {
      const put = await call(ts, 'PUT', entryPath(ns, `json/${i}`), {
        body: { value, tags: { owner: 'team-a', n: String(i) } },
      });
      assert.equal(put.status, 200, put.text);
      const entry = put.json as EntryBody;
      assert.deepEqual(entry.value, value);
      assert.equal(entry.contentType, 'application/json');
      assert.deepEqual(entry.tags, { owner: 'team-a', n: String(i) });
      assert.equal(put.headers.get('etag'), `"${entry.etag}"`);
      const get = await getEntry(ns, `json/${i}`);
      assert.deepEqual((get.json as EntryBody).value, value);
      assert.equal(get.headers.get('etag'), `"${entry.etag}"`);
      assert.deepEqual(
        [entry.namespace, entry.key, entry.label, entry.locked, entry.secret, entry.redacted],
        [ns, `json/${i}`, '', false, false, false],
      );
    }
  });

  void it('stores text under its content type and keeps JSON content types JSON', async () => {
    const text = 'line one\nline "two"\t{not json';
    const put = await setEntry(ts, ns, 'banner', { value: text, contentType: 'text/plain; charset=utf-8' });
    assert.equal(put.value, text);
    assert.equal(put.contentType, 'text/plain; charset=utf-8');
    assert.equal(await valueOf(ns, 'banner'), text);
    const yaml = await setEntry(ts, ns, 'config.yaml', { value: 'a: 1\nb: [2, 3]\n', contentType: 'application/yaml' });
    assert.equal(yaml.value, 'a: 1\nb: [2, 3]\n');
    const flag = await setEntry(ts, ns, 'flag', {
      value: { enabled: true },
      contentType: 'application/vnd.microsoft.appconfig.ff+json;charset=utf-8',
    });
    assert.deepEqual(flag.value, { enabled: true });
    assertProblem(
      await call(ts, 'PUT', entryPath(ns, 'bad-text'), {
        body: { value: { not: 'a string' }, contentType: 'text/plain' },
      }),
      'invalid_value',
    );
  });

  void it('keeps entries of the same key under different labels apart', async () => {
    await setEntry(ts, ns, 'db/pool', { value: 10 });
    await setEntry(ts, ns, 'db/pool', { value: 40 }, 'prod');
    await setEntry(ts, ns, 'db/pool', { value: 80 }, 'prod/westeurope');
    assert.equal(await valueOf(ns, 'db/pool'), 10);
    assert.equal(await valueOf(ns, 'db/pool', { label: 'prod' }), 40);
    assert.equal(await valueOf(ns, 'db/pool', { label: 'prod/westeurope' }), 80);
    const prodOnly = await listing(ns, '?prefix=db/&label=prod');
    assert.deepEqual(
      prodOnly.items.map((e) => [e.key, e.label, e.value]),
      [['db/pool', 'prod', 40]],
    );
    assertProblem(await getEntry(ns, 'db/pool', { label: 'staging' }), 'entry_not_found');
  });

  void it('lists in (key, label) order with cursor paging, Link header included', async () => {
    const items = (await listing(ns, '?limit=1000')).items;
    const all = items.map((e) => `${e.key}@${e.label}`);
    const paged: string[] = [];
    let path: string | undefined = `/v1/namespaces/${ns}/entries?limit=3`;
    let pages = 0;
    while (path) {
      const response = await call(ts, 'GET', path);
      assert.equal(response.status, 200, response.text);
      const page = response.json as { items: EntryBody[]; next?: string };
      paged.push(...page.items.map((e) => `${e.key}@${e.label}`));
      const link = response.headers.get('link');
      assert.equal(link !== null, page.next !== undefined, 'a Link header exactly when there is a next page');
      path = link ? /^<([^>]+)>; rel="next"$/u.exec(link)?.[1] : undefined;
      pages += 1;
    }
    assert.deepEqual(paged, all);
    assert.ok(pages > 2, 'paging happened');
    const compare = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    const sorted = [...items].sort((x, y) => compare(x.key, y.key) || compare(x.label, y.label));
    assert.deepEqual(items, sorted, 'in (key, label) order');
  });
});

void describe('commits and preconditions', () => {
  const ns = 'commits';
  before(() => createNamespace(ts, ns));

  void it('applies several changes at one new revision', async () => {
    const before = await ts.store.currentRevision();
    const result = await committed(
      ns,
      [
        { op: 'set', key: 'a', value: 1 },
        { op: 'set', key: 'b', value: 'two', contentType: 'text/plain' },
        { op: 'set', key: 'a', label: 'prod', value: 3 },
      ],
      'three at once',
    );
    assert.equal(result.revision, before + 1);
    assert.deepEqual(
      result.entries.map((e) => e.revision),
      [result.revision, result.revision, result.revision],
    );
    const nsInfo = (await call(ts, 'GET', `/v1/namespaces/${ns}`)).json as { revision: number; entryCount: number };
    assert.deepEqual([nsInfo.revision, nsInfo.entryCount], [result.revision, 3]);
    const history = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?limit=1`)).json as HistoryPage;
    assert.equal(history.items[0]?.message, 'three at once');
    assert.equal(history.items[0]?.changes.length, 3);
  });

  void it('applies nothing when one precondition fails, and names every conflicting entry', async () => {
    const before = await storeState(ts);
    const a = (await getEntry(ns, 'a')).json as EntryBody;
    const response = await commit(ns, {
      changes: [
        { op: 'set', key: 'fresh', value: 1, ifAbsent: true },
        { op: 'set', key: 'a', value: 100, ifRevision: a.revision },
        { op: 'set', key: 'b', value: 'x', contentType: 'text/plain', ifRevision: 999_999 },
        { op: 'set', key: 'a', label: 'prod', value: 4, ifAbsent: true },
      ],
    });
    const problem = assertProblem(response, 'precondition_failed');
    const conflicts = problem.conflicts as Array<{
      key: string;
      label: string;
      expected: string;
      actualRevision: number | null;
    }>;
    assert.deepEqual(
      conflicts.map((c) => [c.key, c.label, c.actualRevision]),
      [
        ['b', '', a.revision],
        ['a', 'prod', a.revision],
      ],
    );
    assert.ok(conflicts.every((c) => typeof c.expected === 'string' && c.expected.length > 0));
    assert.deepEqual(await storeState(ts), before);
    assertProblem(await getEntry(ns, 'fresh'), 'entry_not_found');
    assert.equal(await valueOf(ns, 'a'), 1);
  });

  void it('checks ifRevision, ifEtag, ifAbsent and ifNamespaceRevision', async () => {
    const a = (await getEntry(ns, 'a')).json as EntryBody;
    // ifRevision: right → applied; the old one afterwards → conflict.
    const first = await committed(ns, [{ op: 'set', key: 'a', value: 2, ifRevision: a.revision }]);
    assertProblem(
      await commit(ns, { changes: [{ op: 'set', key: 'a', value: 3, ifRevision: a.revision }] }),
      'precondition_failed',
      'stale ifRevision',
    );
    // ifRevision 0 means "absent".
    await committed(ns, [{ op: 'set', key: 'zero', value: 1, ifRevision: 0 }]);
    assertProblem(
      await commit(ns, { changes: [{ op: 'set', key: 'zero', value: 2, ifRevision: 0 }] }),
      'precondition_failed',
      'ifRevision 0 on a present entry',
    );
    // ifEtag.
    const etag = first.entries[0]?.etag as string;
    await committed(ns, [{ op: 'set', key: 'a', value: 4, ifEtag: etag }]);
    assertProblem(
      await commit(ns, { changes: [{ op: 'delete', key: 'a', ifEtag: etag }] }),
      'precondition_failed',
      'stale ifEtag',
    );
    // ifAbsent.
    await committed(ns, [{ op: 'set', key: 'absent-once', value: 1, ifAbsent: true }]);
    assertProblem(
      await commit(ns, { changes: [{ op: 'set', key: 'absent-once', value: 2, ifAbsent: true }] }),
      'precondition_failed',
      'ifAbsent on a present entry',
    );
    // ifNamespaceRevision: the namespace must not have moved since.
    const nsRevision = ((await call(ts, 'GET', `/v1/namespaces/${ns}`)).json as { revision: number }).revision;
    await committed(ns, [{ op: 'set', key: 'guarded', value: 1 }]);
    const stale = await commit(ns, {
      ifNamespaceRevision: nsRevision,
      changes: [{ op: 'set', key: 'guarded', value: 2 }],
    });
    assertProblem(stale, 'precondition_failed', 'stale ifNamespaceRevision');
    assert.equal(await valueOf(ns, 'guarded'), 1);
    assert.equal(await valueOf(ns, 'a'), 4);
  });

  void it('honours If-Match, If-None-Match: * (create only) and If-None-Match on reads (304)', async () => {
    const created = await call(ts, 'PUT', entryPath(ns, 'http'), {
      body: { value: 1 },
      headers: { 'if-none-match': '*' },
    });
    assert.equal(created.status, 200, created.text);
    const etag = (created.json as EntryBody).etag;
    const again = await call(ts, 'PUT', entryPath(ns, 'http'), {
      body: { value: 2 },
      headers: { 'if-none-match': '*' },
    });
    const problem = assertProblem(again, 'precondition_failed', 'create-only on an existing entry');
    assert.deepEqual(
      (problem.conflicts as Array<{ key: string }>).map((c) => c.key),
      ['http'],
    );

    const updated = await call(ts, 'PUT', entryPath(ns, 'http'), {
      body: { value: 3 },
      headers: { 'if-match': `"${etag}"` },
    });
    assert.equal(updated.status, 200, updated.text);
    const newEtag = (updated.json as EntryBody).etag;
    assert.notEqual(newEtag, etag, 'a new version has a new ETag');
    assertProblem(
      await call(ts, 'PUT', entryPath(ns, 'http'), { body: { value: 4 }, headers: { 'if-match': `"${etag}"` } }),
      'precondition_failed',
      'stale If-Match',
    );
    assertProblem(
      await call(ts, 'DELETE', entryPath(ns, 'http'), { headers: { 'if-match': `"${etag}"` } }),
      'precondition_failed',
      'stale If-Match on delete',
    );
    assert.equal(await valueOf(ns, 'http'), 3);

    const notModified = await call(ts, 'GET', entryPath(ns, 'http'), { headers: { 'if-none-match': `"${newEtag}"` } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.text, '');
    assert.equal(notModified.headers.get('etag'), `"${newEtag}"`);
    assert.equal(
      (await call(ts, 'GET', entryPath(ns, 'http'), { headers: { 'if-none-match': `W/"${newEtag}"` } })).status,
      304,
      'weak comparison',
    );
    const modified = await call(ts, 'GET', entryPath(ns, 'http'), { headers: { 'if-none-match': `"${etag}"` } });
    assert.equal(modified.status, 200);
    assert.equal((modified.json as EntryBody).value, 3);

    const deleted = await call(ts, 'DELETE', entryPath(ns, 'http'), { headers: { 'if-match': `"${newEtag}"` } });
    assert.equal(deleted.status, 200, deleted.text);
    assertProblem(await getEntry(ns, 'http'), 'entry_not_found');
  });

  void it('takes ifRevision in the body of a single PUT', async () => {
    const entry = await setEntry(ts, ns, 'single', { value: 1 });
    assertProblem(
      await call(ts, 'PUT', entryPath(ns, 'single'), { body: { value: 2, ifRevision: entry.revision - 1 } }),
      'precondition_failed',
    );
    assert.equal(
      (await call(ts, 'PUT', entryPath(ns, 'single'), { body: { value: 2, ifRevision: entry.revision } })).status,
      200,
    );
  });
});

void describe('locks', () => {
  const ns = 'locks';
  const lockPath = (key: string) => `/v1/namespaces/${ns}/locks/${encodeURIComponent(key)}`;
  before(() => createNamespace(ts, ns));

  void it('makes an entry read-only until unlocked, refusing set, delete and any commit touching it', async () => {
    await setEntry(ts, ns, 'frozen', { value: 'v1' });
    const locked = await call(ts, 'PUT', lockPath('frozen'));
    assert.equal(locked.status, 200, locked.text);
    assert.equal((locked.json as CommitBody).entries[0]?.locked, true);
    assert.equal(((await getEntry(ns, 'frozen')).json as EntryBody).locked, true);

    const before = await storeState(ts);
    const set = assertProblem(
      await call(ts, 'PUT', entryPath(ns, 'frozen'), { body: { value: 'v2' } }),
      'entry_locked',
      'set',
    );
    assert.equal(set.key, 'frozen');
    assertProblem(await call(ts, 'DELETE', entryPath(ns, 'frozen')), 'entry_locked', 'delete');
    assertProblem(
      await commit(ns, {
        changes: [
          { op: 'set', key: 'other', value: 1 },
          { op: 'set', key: 'frozen', value: 'v3' },
        ],
      }),
      'entry_locked',
      'commit',
    );
    assert.deepEqual(await storeState(ts), before);
    assertProblem(await getEntry(ns, 'other'), 'entry_not_found');

    const unlocked = await call(ts, 'DELETE', lockPath('frozen'));
    assert.equal(unlocked.status, 200, unlocked.text);
    assert.equal((unlocked.json as CommitBody).entries[0]?.locked, false);
    assert.equal(await valueOf(ns, 'frozen'), 'v1', 'locking and unlocking keep the value');
    await setEntry(ts, ns, 'frozen', { value: 'v2' });
    assert.equal((await call(ts, 'DELETE', entryPath(ns, 'frozen'))).status, 200);
  });

  void it('refuses to lock an entry that does not exist', async () => {
    assertProblem(await call(ts, 'PUT', lockPath('ghost')), 'entry_not_found');
  });

  void it('locks only the label it names', async () => {
    await setEntry(ts, ns, 'per-label', { value: 1 });
    await setEntry(ts, ns, 'per-label', { value: 2 }, 'prod');
    assert.equal((await call(ts, 'PUT', `${lockPath('per-label')}?label=prod`)).status, 200);
    assertProblem(await call(ts, 'PUT', entryPath(ns, 'per-label', 'prod'), { body: { value: 3 } }), 'entry_locked');
    await setEntry(ts, ns, 'per-label', { value: 3 });
  });
});

void describe('secrets', () => {
  const ns = 'secrets';
  const plaintext = `S3cret-${randomBytes(12).toString('hex')}`;
  const plainMarker = `Plain-${randomBytes(12).toString('hex')}`;
  let reader: string;
  let secretReader: string;
  let writer: string;

  before(async () => {
    await createNamespace(ts, ns);
    reader = (await createToken(ts, [{ namespaces: ns, role: 'reader' }])).token;
    secretReader = (await createToken(ts, [{ namespaces: ns, role: 'reader', secrets: true }])).token;
    writer = (await createToken(ts, [{ namespaces: ns, role: 'writer' }])).token;
    const written = await setEntry(ts, ns, 'db/password', {
      value: plaintext,
      contentType: 'text/plain',
      secret: true,
    });
    assert.equal(written.value, plaintext, 'the admin who wrote it may read it');
    await setEntry(ts, ns, 'db/password', { value: { user: 'app', password: plaintext }, secret: true }, 'prod');
    await setEntry(ts, ns, 'db/host', { value: plainMarker, contentType: 'text/plain' });
  });

  void it('are encrypted at rest: the plaintext is nowhere in the database file or its WAL', async () => {
    const files = await Promise.all(
      ['herald.db', 'herald.db-wal'].map((name) => readFile(join(dir.path, name)).catch(() => Buffer.alloc(0))),
    );
    const bytes = Buffer.concat(files);
    assert.ok(bytes.length > 0);
    // The same search finds a value that is not secret: it looks in the right place.
    assert.notEqual(bytes.indexOf(plainMarker), -1, 'the plain value is in the files');
    assert.equal(bytes.indexOf(plaintext), -1, 'the secret is in the files in plaintext');
    assert.equal(bytes.indexOf(Buffer.from(plaintext, 'utf16le')), -1, 'the secret is in the files as UTF-16');
  });

  void it('are shown to admins and to readers allowed secrets', async () => {
    for (const token of [ts.adminToken, secretReader]) {
      const entry = (await getEntry(ns, 'db/password', { token })).json as EntryBody;
      assert.deepEqual([entry.value, entry.secret, entry.redacted], [plaintext, true, false]);
      const prod = (await getEntry(ns, 'db/password', { label: 'prod', token })).json as EntryBody;
      assert.deepEqual(prod.value, { user: 'app', password: plaintext });
    }
  });

  void it('are redacted for a reader without secrets: entry, listing, history, key history and diff', async () => {
    const entry = (await getEntry(ns, 'db/password', { token: reader })).json as EntryBody;
    assert.deepEqual([entry.value, entry.secret, entry.redacted], [null, true, true]);
    const host = (await getEntry(ns, 'db/host', { token: reader })).json as EntryBody;
    assert.deepEqual([host.value, host.redacted], [plainMarker, false], 'other entries are not redacted');
    for (const path of [
      `/v1/namespaces/${ns}/entries`,
      `/v1/namespaces/${ns}/history`,
      `/v1/namespaces/${ns}/history?key=db%2Fpassword`,
      `/v1/namespaces/${ns}/diff?from=0`,
      entryPath(ns, 'db/password', 'prod'),
    ]) {
      const response = await call(ts, 'GET', path, { token: reader });
      assert.equal(response.status, 200, `${path}: ${response.text}`);
      assert.ok(!response.text.includes(plaintext), `${path} shows the secret to a reader`);
      assert.ok(response.text.includes('"redacted":true'), `${path} marks the secret redacted`);
    }
    // The same paths show it to the secret reader: the check above is not vacuous.
    const history = await call(ts, 'GET', `/v1/namespaces/${ns}/history`, { token: secretReader });
    assert.ok(history.text.includes(plaintext));
  });

  void it('are redacted for a writer without secrets, even in the answer to its own write and in a revert dry run', async () => {
    const other = `W-${randomBytes(8).toString('hex')}`;
    const response = await call(ts, 'PUT', entryPath(ns, 'api/key'), {
      token: writer,
      body: { value: other, contentType: 'text/plain', secret: true },
    });
    assert.equal(response.status, 200, response.text);
    assert.ok(!response.text.includes(other));
    assert.equal((response.json as EntryBody).redacted, true);
    const dryRun = await call(ts, 'POST', `/v1/namespaces/${ns}/revert`, {
      token: writer,
      body: { revision: 1, dryRun: true },
    });
    assert.equal(dryRun.status, 200, dryRun.text);
    assert.ok(!dryRun.text.includes(other) && !dryRun.text.includes(plaintext));
    assert.equal(await valueOf(ns, 'api/key'), other);
  });

  void it('never reach the audit log', async () => {
    const audit = await call(ts, 'GET', '/v1/audit?limit=1000');
    assert.equal(audit.status, 200);
    assert.ok(audit.text.includes('db/password'), 'the audit records the write');
    assert.ok(!audit.text.includes(plaintext), 'the audit holds the secret');
  });

  void it('are validated against the schema without the plaintext appearing in the violation', async () => {
    const schemaNs = 'secrets-schema';
    await createNamespace(ts, schemaNs, {
      schema: { prefixes: [{ prefix: 'tokens/', schema: { type: 'string', maxLength: 8 } }] },
    });
    const response = await call(ts, 'PUT', entryPath(schemaNs, 'tokens/api'), {
      body: { value: plaintext, secret: true },
    });
    assertProblem(response, 'schema_violation');
    assert.ok(!response.text.includes(plaintext));
  });
});

void describe('JSON Schema', () => {
  const ns = 'schema';
  const schema = {
    document: {
      type: 'object',
      required: ['port'],
      properties: { port: { type: 'integer', minimum: 1, maximum: 65535 }, name: { type: 'string' } },
    },
    prefixes: [{ prefix: 'limits/', schema: { type: 'integer', minimum: 0 } }],
  };

  before(async () => {
    await createNamespace(ts, ns);
    await committed(ns, [
      { op: 'set', key: 'port', value: 8080 },
      { op: 'set', key: 'name', value: 'svc' },
    ]);
    const set = await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema } });
    assert.equal(set.status, 200, set.text);
    assert.equal((set.json as { hasSchema: boolean }).hasSchema, true);
  });

  void it('is stored and read back', async () => {
    const got = (await call(ts, 'GET', `/v1/namespaces/${ns}/schema`)).json as { schema: unknown };
    assert.deepEqual(got.schema, schema);
  });

  void it('refuses an invalid write with 422, listing each violation with path and message, and changes nothing', async () => {
    const before = await storeState(ts);
    const response = await commit(ns, {
      changes: [
        { op: 'set', key: 'port', value: 'eighty' },
        { op: 'set', key: 'limits/cpu', value: -1 },
        { op: 'set', key: 'limits/memory', value: 'lots' },
      ],
    });
    const problem = assertProblem(response, 'schema_violation');
    const violations = problem.violations as Array<{ path: string; message: string }>;
    assert.ok(
      violations.every((v) => typeof v.path === 'string' && typeof v.message === 'string' && v.message.length > 0),
    );
    const paths = violations.map((v) => v.path);
    assert.ok(
      paths.some((p) => p.includes('port')),
      `port: ${JSON.stringify(violations)}`,
    );
    assert.ok(
      paths.some((p) => p.startsWith('limits/cpu')),
      `limits/cpu: ${JSON.stringify(violations)}`,
    );
    assert.ok(
      paths.some((p) => p.startsWith('limits/memory')),
      `limits/memory: ${JSON.stringify(violations)}`,
    );
    assert.deepEqual(await storeState(ts), before);
    assert.equal(await valueOf(ns, 'port'), 8080);
    assertProblem(await getEntry(ns, 'limits/cpu'), 'entry_not_found');
  });

  void it('refuses removing a required key and a single PUT of a wrong type', async () => {
    const before = await storeState(ts);
    const deleted = assertProblem(
      await call(ts, 'DELETE', entryPath(ns, 'port')),
      'schema_violation',
      'delete required',
    );
    assert.match(JSON.stringify(deleted.violations), /port/u);
    assertProblem(
      await call(ts, 'PUT', entryPath(ns, 'name'), { body: { value: 7 } }),
      'schema_violation',
      'wrong type',
    );
    assertProblem(
      await call(ts, 'PUT', entryPath(ns, 'limits/disk'), { body: { value: 1.5 } }),
      'schema_violation',
      'prefix',
    );
    assert.deepEqual(await storeState(ts), before);
  });

  void it('accepts a valid write', async () => {
    await committed(ns, [
      { op: 'set', key: 'port', value: 9090 },
      { op: 'set', key: 'limits/cpu', value: 2 },
      { op: 'set', key: 'unrelated', value: { any: 'thing' } },
    ]);
    assert.equal(await valueOf(ns, 'port'), 9090);
  });

  void it('refuses a schema the current entries violate, keeping the old one', async () => {
    const before = await storeState(ts);
    const stricter = { document: { type: 'object', required: ['port', 'owner'] } };
    const problem = assertProblem(
      await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema: stricter } }),
      'schema_violation',
    );
    assert.match(JSON.stringify(problem.violations), /owner/u);
    const tighter = { prefixes: [{ prefix: 'limits/', schema: { type: 'integer', maximum: 1 } }] };
    assertProblem(
      await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema: tighter } }),
      'schema_violation',
      'prefix',
    );
    assert.deepEqual(await storeState(ts), before);
    assert.deepEqual(
      ((await call(ts, 'GET', `/v1/namespaces/${ns}/schema`)).json as { schema: unknown }).schema,
      schema,
    );
  });

  void it('refuses a schema that is not a JSON Schema with invalid_schema', async () => {
    const before = await storeState(ts);
    assertProblem(
      await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema: { document: { type: 'nonsense' } } } }),
      'invalid_schema',
    );
    assertProblem(
      await call(ts, 'POST', '/v1/namespaces', {
        body: { name: 'bad-schema', schema: { document: { minimum: 'one' } } },
      }),
      'invalid_schema',
    );
    assert.deepEqual(await storeState(ts), before);
  });

  void it('can be removed with null, after which anything goes', async () => {
    const other = 'schema-removable';
    await createNamespace(ts, other, { schema: { prefixes: [{ prefix: '', schema: { type: 'string' } }] } });
    assertProblem(await call(ts, 'PUT', entryPath(other, 'n'), { body: { value: 1 } }), 'schema_violation');
    const removed = await call(ts, 'PUT', `/v1/namespaces/${other}/schema`, { body: { schema: null } });
    assert.equal(removed.status, 200, removed.text);
    assert.equal((removed.json as { hasSchema: boolean }).hasSchema, false);
    await setEntry(ts, other, 'n', { value: 1 });
  });
});

void describe('history, diff, as-of and revert', () => {
  const ns = 'hist';
  const r: number[] = [];

  before(async () => {
    await createNamespace(ts, ns);
    r.push((await committed(ns, [{ op: 'set', key: 'a', value: 1 }], 'one')).revision); // r[0]
    r.push(
      (
        await committed(
          ns,
          [
            { op: 'set', key: 'a', value: 2 },
            { op: 'set', key: 'b', value: 1 },
          ],
          'two',
        )
      ).revision,
    ); // r[1]
    r.push((await committed(ns, [{ op: 'delete', key: 'b' }], 'three')).revision); // r[2]
    r.push((await committed(ns, [{ op: 'set', key: 'a', label: 'prod', value: 3 }], 'four')).revision); // r[3]
    r.push((await committed(ns, [{ op: 'set', key: 'c', value: 'x', contentType: 'text/plain' }], 'five')).revision); // r[4]
    // Another namespace's commit in between must not show up in this one's history.
    await createNamespace(ts, 'hist-other');
    await setEntry(ts, 'hist-other', 'a', { value: 'elsewhere' });
  });

  void it('lists the commits of a namespace newest or oldest first, with the values written', async () => {
    const newest = (await call(ts, 'GET', `/v1/namespaces/${ns}/history`)).json as HistoryPage;
    assert.deepEqual(
      newest.items.map((i) => i.revision),
      [...r].reverse(),
    );
    assert.deepEqual(
      newest.items.map((i) => i.message),
      ['five', 'four', 'three', 'two', 'one'],
    );
    const two = newest.items[3];
    assert.deepEqual(
      two?.changes.map((c) => [c.op, c.key, c.label, c.entry?.value]),
      [
        ['set', 'a', '', 2],
        ['set', 'b', '', 1],
      ],
    );
    assert.equal(newest.items[2]?.changes[0]?.op, 'delete');
    assert.ok(newest.items.every((i) => i.author.length > 0 && !Number.isNaN(Date.parse(i.at))));
    const oldest = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?order=oldest`)).json as HistoryPage;
    assert.deepEqual(
      oldest.items.map((i) => i.revision),
      r,
    );
  });

  void it('pages history with a cursor and a Link header, in both orders', async () => {
    for (const order of ['newest', 'oldest'] as const) {
      const seen: number[] = [];
      let path: string | undefined = `/v1/namespaces/${ns}/history?order=${order}&limit=2`;
      while (path) {
        const response = await call(ts, 'GET', path);
        assert.equal(response.status, 200, response.text);
        const page = response.json as HistoryPage;
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((i) => i.revision));
        const link = response.headers.get('link');
        assert.equal(link !== null, page.next !== undefined);
        if (page.next) assert.ok(link?.includes(`cursor=${page.next}`), `Link carries the cursor: ${link}`);
        path = link ? /^<([^>]+)>; rel="next"$/u.exec(link)?.[1] : undefined;
      }
      assert.deepEqual(seen, order === 'newest' ? [...r].reverse() : r);
    }
  });

  void it('lists the versions of one key newest first, tombstones included, and pages them', async () => {
    const a = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?key=a`)).json as HistoryPage;
    assert.deepEqual(
      a.items.map((i) => [i.revision, i.changes[0]?.label, i.changes[0]?.entry?.value]),
      [
        [r[3], 'prod', 3],
        [r[1], '', 2],
        [r[0], '', 1],
      ],
    );
    const aDefault = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?key=a&label=`)).json as HistoryPage;
    assert.deepEqual(
      aDefault.items.map((i) => i.revision),
      [r[1], r[0]],
    );
    const b = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?key=b`)).json as HistoryPage;
    assert.deepEqual(
      b.items.map((i) => [i.revision, i.changes[0]?.op]),
      [
        [r[2], 'delete'],
        [r[1], 'set'],
      ],
    );
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = (
        await call(ts, 'GET', `/v1/namespaces/${ns}/history?key=a&limit=1${cursor ? `&cursor=${cursor}` : ''}`)
      ).json as HistoryPage;
      seen.push(...page.items.map((i) => i.revision));
      cursor = page.next;
    } while (cursor);
    assert.deepEqual(seen, [r[3], r[1], r[0]]);
  });

  void it('diffs two revisions', async () => {
    type Diff = {
      from: number;
      to: number;
      changes: Array<{ key: string; label: string; kind: string; before?: EntryBody; after?: EntryBody }>;
    };
    const d1 = (await call(ts, 'GET', `/v1/namespaces/${ns}/diff?from=${r[0]}&to=${r[1]}`)).json as Diff;
    assert.deepEqual([d1.from, d1.to], [r[0], r[1]]);
    assert.deepEqual(
      d1.changes.map((c) => [c.key, c.kind, c.before?.value, c.after?.value]),
      [
        ['a', 'changed', 1, 2],
        ['b', 'added', undefined, 1],
      ],
    );
    const d2 = (await call(ts, 'GET', `/v1/namespaces/${ns}/diff?from=${r[1]}&to=${r[2]}`)).json as Diff;
    assert.deepEqual(
      d2.changes.map((c) => [c.key, c.kind, c.before?.value]),
      [['b', 'removed', 1]],
    );
    // From r[0] to now: b came and went, so it is not there at all.
    const d3 = (await call(ts, 'GET', `/v1/namespaces/${ns}/diff?from=${r[0]}`)).json as Diff;
    assert.deepEqual(
      d3.changes.map((c) => [c.key, c.label, c.kind]),
      [
        ['a', '', 'changed'],
        ['a', 'prod', 'added'],
        ['c', '', 'added'],
      ],
    );
    const keyOnly = (await call(ts, 'GET', `/v1/namespaces/${ns}/diff?from=${r[0]}&key=c`)).json as Diff;
    assert.deepEqual(
      keyOnly.changes.map((c) => c.key),
      ['c'],
    );
    const same = (await call(ts, 'GET', `/v1/namespaces/${ns}/diff?from=${r[4]}&to=${r[4]}`)).json as Diff;
    assert.deepEqual(same.changes, []);
  });

  void it('reads the namespace and single entries as of a past revision', async () => {
    assert.deepEqual(await stateOf(ns, `?asOf=${r[0]}`), { a: 1 });
    assert.deepEqual(await stateOf(ns, `?asOf=${r[1]}`), { a: 2, b: 1 });
    assert.deepEqual(await stateOf(ns, `?asOf=${r[2]}`), { a: 2 });
    assert.deepEqual(await stateOf(ns), { a: 2, 'a@prod': 3, c: 'x' });
    assert.equal((await listing(ns, `?asOf=${r[1]}`)).revision, r[1]);
    assert.equal(await valueOf(ns, 'a', { asOf: r[0] }), 1);
    assert.equal(await valueOf(ns, 'b', { asOf: r[1] }), 1);
    assertProblem(await getEntry(ns, 'b', { asOf: r[2] }), 'entry_not_found');
    assert.deepEqual(await stateOf(ns, '?asOf=0'), {});
  });

  void it('reverts a namespace as a new commit; a dry run shows the same diff and changes nothing', async () => {
    const before = await storeState(ts);
    const dry = await call(ts, 'POST', `/v1/namespaces/${ns}/revert`, { body: { revision: r[1], dryRun: true } });
    assert.equal(dry.status, 200, dry.text);
    const dryBody = dry.json as {
      revision: number | null;
      changes: Array<{ key: string; label: string; kind: string }>;
    };
    assert.equal(dryBody.revision, null);
    assert.deepEqual(
      dryBody.changes.map((c) => [c.key, c.label, c.kind]),
      [
        ['a', 'prod', 'removed'],
        ['b', '', 'added'],
        ['c', '', 'removed'],
      ],
    );
    assert.deepEqual(await storeState(ts), before, 'the dry run changed the store');

    const real = await call(ts, 'POST', `/v1/namespaces/${ns}/revert`, {
      body: { revision: r[1], message: 'back to two' },
    });
    assert.equal(real.status, 200, real.text);
    const realBody = real.json as { revision: number; changes: Array<{ key: string; label: string; kind: string }> };
    assert.equal(realBody.revision, before.revision + 1);
    assert.deepEqual(
      realBody.changes.map((c) => [c.key, c.label, c.kind]),
      dryBody.changes.map((c) => [c.key, c.label, c.kind]),
      'the revert did what the dry run showed',
    );
    assert.deepEqual(await stateOf(ns), { a: 2, b: 1 });
    const history = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?limit=1`)).json as HistoryPage;
    assert.deepEqual([history.items[0]?.revision, history.items[0]?.message], [realBody.revision, 'back to two']);
    // Nothing left to revert: no commit.
    const noop = (await call(ts, 'POST', `/v1/namespaces/${ns}/revert`, { body: { revision: r[1] } })).json as {
      revision: number | null;
    };
    assert.equal(noop.revision, null);
  });

  void it('reverts one key only', async () => {
    await committed(ns, [
      { op: 'set', key: 'b', value: 'changed' },
      { op: 'set', key: 'a', value: 'changed' },
    ]);
    const reverted = await call(ts, 'POST', `/v1/namespaces/${ns}/revert`, { body: { revision: r[0], key: 'a' } });
    assert.equal(reverted.status, 200, reverted.text);
    assert.deepEqual(await stateOf(ns), { a: 1, b: 'changed' });
  });
});

void describe('compaction', () => {
  void it('drops history below a revision: as-of below it is 410 revision_compacted, the current state is unaffected, the audit records it', async (t) => {
    // A server of its own: compaction is store-wide.
    const own = await startTestServer();
    t.after(() => own.close());
    await createNamespace(own, 'compact');
    const revisions: number[] = [];
    for (const value of [1, 2, 3, 4]) revisions.push((await setEntry(own, 'compact', 'k', { value })).revision);
    await setEntry(own, 'compact', 'gone', { value: 'x' });
    const goneAt = ((await call(own, 'DELETE', entryPath('compact', 'gone'))).json as CommitBody).revision;
    const at = revisions[2] as number;

    const compacted = await call(own, 'POST', '/v1/compact', { body: { revision: at } });
    assert.equal(compacted.status, 200, compacted.text);
    const result = compacted.json as { revision: number; removedVersions: number };
    assert.equal(result.revision, at);
    assert.ok(result.removedVersions >= 2, `removed ${result.removedVersions}`);

    const below = await call(own, 'GET', `/v1/namespaces/compact/entries?asOf=${at - 1}`);
    const problem = assertProblem(below, 'revision_compacted');
    assert.equal(problem.compactedRevision, at);
    assertProblem(
      await call(own, 'GET', `${entryPath('compact', 'k')}?asOf=${revisions[0]}`),
      'revision_compacted',
      'single entry',
    );
    assertProblem(
      await call(own, 'GET', `/v1/namespaces/compact/diff?from=${revisions[0]}`),
      'revision_compacted',
      'diff',
    );
    assertProblem(
      await call(own, 'POST', '/v1/namespaces/compact/revert', { body: { revision: revisions[0], dryRun: true } }),
      'revision_compacted',
      'revert',
    );
    // At the compaction revision and after, reads still work; the present is untouched.
    const atRead = (await call(own, 'GET', `${entryPath('compact', 'k')}?asOf=${at}`)).json as EntryBody;
    assert.equal(atRead.value, 3);
    const now = (await call(own, 'GET', entryPath('compact', 'k'))).json as EntryBody;
    assert.equal(now.value, 4);
    assert.ok(goneAt > at, 'the later delete is still history');
    const keyHistory = (await call(own, 'GET', '/v1/namespaces/compact/history?key=k')).json as HistoryPage;
    assert.deepEqual(
      keyHistory.items.map((i) => i.revision),
      [revisions[3], revisions[2]],
    );

    const audit = (await call(own, 'GET', '/v1/audit?limit=1000')).json as {
      items: Array<{ action: string; details: Record<string, unknown> }>;
    };
    const record = audit.items.at(-1);
    assert.equal(record?.action, 'store.compact');
    assert.equal(record?.details.revision, at);
    assert.equal(record?.details.removedVersions, result.removedVersions);
    // Compacting again at or below is a no-op.
    const again = (await call(own, 'POST', '/v1/compact', { body: { revision: at - 1 } })).json as {
      revision: number;
      removedVersions: number;
    };
    assert.deepEqual(again, { revision: at, removedVersions: 0 });
  });
});

void describe('namespace deletion', () => {
  void it('refuses a namespace with entries unless forced, then removes its entries and history with it', async () => {
    await createNamespace(ts, 'doomed');
    await setEntry(ts, 'doomed', 'k', { value: 'old life' });
    const before = await storeState(ts);
    const problem = assertProblem(await call(ts, 'DELETE', '/v1/namespaces/doomed'), 'namespace_not_empty');
    assert.match(problem.detail, /1 entr/u);
    assert.deepEqual(await storeState(ts), before);
    assert.equal(await valueOf('doomed', 'k'), 'old life');

    const forced = await call(ts, 'DELETE', '/v1/namespaces/doomed?force=true');
    assert.equal(forced.status, 204, forced.text);
    assert.equal(forced.text, '');
    assertProblem(await call(ts, 'GET', '/v1/namespaces/doomed'), 'namespace_not_found');
    assertProblem(await getEntry('doomed', 'k'), 'namespace_not_found');

    // A new namespace of the same name starts empty: nothing of the old one comes back.
    await createNamespace(ts, 'doomed');
    assert.deepEqual((await listing('doomed')).items, []);
    assert.deepEqual(((await call(ts, 'GET', '/v1/namespaces/doomed/history')).json as HistoryPage).items, []);
    assert.deepEqual(((await call(ts, 'GET', '/v1/namespaces/doomed/history?key=k')).json as HistoryPage).items, []);
    assertProblem(await getEntry('doomed', 'k', { asOf: before.revision }), 'entry_not_found');
  });

  void it('deletes an empty namespace without force, and refuses a second create of the same name', async () => {
    await createNamespace(ts, 'empty-one');
    assertProblem(await call(ts, 'POST', '/v1/namespaces', { body: { name: 'empty-one' } }), 'namespace_exists');
    assert.equal((await call(ts, 'DELETE', '/v1/namespaces/empty-one')).status, 204);
    assertProblem(await call(ts, 'DELETE', '/v1/namespaces/empty-one'), 'namespace_not_found');
  });

  void it('a namespace emptied by deletes needs no force', async () => {
    await createNamespace(ts, 'emptied');
    await setEntry(ts, 'emptied', 'k', { value: 1 });
    await call(ts, 'DELETE', entryPath('emptied', 'k'));
    assert.equal((await call(ts, 'DELETE', '/v1/namespaces/emptied')).status, 204);
  });
});

void describe('awkward keys', () => {
  const ns = 'keys';
  before(() => createNamespace(ts, ns));

  void it('__proto__, constructor and toString are ordinary keys and pollute nothing', async () => {
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      await setEntry(ts, ns, key, { value: { polluted: true } });
      assert.deepEqual(await valueOf(ns, key), { polluted: true });
    }
    // A value with an own "__proto__" member keeps it as data.
    const put = await call(ts, 'PUT', entryPath(ns, 'proto-value'), {
      body: '{"value":{"__proto__":{"polluted":true},"x":1}}',
    });
    assert.equal(put.status, 200, put.text);
    const read = await getEntry(ns, 'proto-value');
    assert.match(read.text, /"__proto__":\{"polluted":true\}/u);
    assert.ok(Object.hasOwn((read.json as EntryBody).value as object, '__proto__'));
    const keys = (await listing(ns)).items.map((e) => e.key);
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty'])
      assert.ok(keys.includes(key), `${key} is listed`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  });

  void it('__proto__ is an ordinary member of the document a schema checks', async () => {
    // (ajv skips "__proto__" under "properties", so its type cannot be constrained there; "required"
    // and "additionalProperties" see it like any other member.)
    const required = 'keys-schema-required';
    await createNamespace(ts, required, { schema: { document: { type: 'object', required: ['__proto__'] } } });
    const missing = assertProblem(
      await call(ts, 'PUT', entryPath(required, 'other'), { body: { value: 1 } }),
      'schema_violation',
      'required __proto__ missing',
    );
    assert.match(JSON.stringify(missing.violations), /__proto__/u);
    await committed(required, [
      { op: 'set', key: '__proto__', value: 1 },
      { op: 'set', key: 'other', value: 'x' },
    ]);
    assertProblem(
      await call(ts, 'DELETE', entryPath(required, '__proto__')),
      'schema_violation',
      'required __proto__ deleted',
    );
    const closed = 'keys-schema-closed';
    await createNamespace(ts, closed, {
      schema: { document: { type: 'object', properties: { a: {} }, additionalProperties: false } },
    });
    assertProblem(
      await call(ts, 'PUT', entryPath(closed, '__proto__'), { body: { value: 1 } }),
      'schema_violation',
      'additional __proto__',
    );
    await setEntry(ts, closed, 'a', { value: 1 });
  });

  void it('keys with "/", "?", "#", quotes, spaces and Unicode round-trip through the URL', async () => {
    const keys = [
      'a/b/c',
      'what?',
      'why#not',
      'two words',
      '  padded  ',
      'ünïcødé/ключ',
      '日本語/設定',
      '😀/🎉',
      'a+b=c&d',
      'quote\'"',
      'back\\slash',
      'semi;colon',
      'tilde~',
      '[brackets]',
    ];
    for (const key of keys) {
      const written = await setEntry(ts, ns, key, { value: key });
      assert.equal(written.key, key);
      const read = (await getEntry(ns, key)).json as EntryBody;
      assert.deepEqual([read.key, read.value], [key, key]);
    }
    const listed = (await listing(ns, '?limit=1000')).items.map((e) => e.key);
    for (const key of keys) assert.ok(listed.includes(key), `${key} is listed`);
    // A raw "/" in the path works too.
    const raw = await call(ts, 'GET', `/v1/namespaces/${ns}/entries/a/b/c`);
    assert.equal((raw.json as EntryBody).value, 'a/b/c');
    // Prefixes are characters, not UTF-16 units or bytes.
    for (const prefix of ['😀/', '日本語/', 'ünï']) {
      const items = (await listing(ns, `?prefix=${encodeURIComponent(prefix)}`)).items.map((e) => e.key);
      assert.deepEqual(items, keys.filter((k) => k.startsWith(prefix)).sort(), `prefix ${prefix}`);
    }
    // History and diff by such a key.
    const history = (await call(ts, 'GET', `/v1/namespaces/${ns}/history?key=${encodeURIComponent('why#not')}`))
      .json as HistoryPage;
    assert.equal(history.items[0]?.changes[0]?.key, 'why#not');
  });
});
