/**
 * The one conformance suite every Store adapter runs (undici's `cacheStoreTests` is the model):
 * `storeConformanceTests('sqlite', factory)` registers node:test suites that exercise every method
 * of the Store interface against a fresh store per test. An adapter is correct when this passes;
 * a behaviour that is not pinned here is not part of the contract.
 *
 * The factory must give an empty store that uses the system clock (timestamps are checked against
 * Date.now()). The suite closes the store itself; `cleanup` then frees what the factory made.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  AuditChainVerifier,
  entryEtag,
  isHeraldError,
  type AuditInput,
  type AuditRecord,
  type Change,
  type CommitRecord,
  type CommitRequest,
  type Conflict,
  type EntryVersion,
  type ErrorCode,
  type NamespaceSchema,
} from '@herald/core';
import type {
  CommitResult,
  InstanceReport,
  RolloutRecord,
  SigningKeyRecord,
  SnapshotRecord,
  Store,
  TokenRecord,
} from '../types.js';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const noLimit = { maxEntriesPerNamespace: 1_000_000 };

function audit(action: string, target = 'test', details?: Record<string, unknown>): AuditInput {
  return details === undefined ? { actor: 'tester', action, target } : { actor: 'tester', action, target, details };
}

function set(key: string, text: string, label = '', extra: Partial<Extract<Change, { op: 'set' }>> = {}): Change {
  return { op: 'set', key, label, text, contentType: 'text/plain', tags: {}, secret: false, ...extra };
}

function op(kind: 'delete' | 'lock' | 'unlock', key: string, label = '', extra: Partial<Change> = {}): Change {
  return { op: kind, key, label, ...extra } as Change;
}

function request(namespace: string, changes: Change[], extra: Partial<CommitRequest> = {}): CommitRequest {
  return {
    namespace,
    changes,
    author: 'alice',
    message: `change ${changes.map((c) => `${c.op} ${c.key}`).join(', ')}`,
    ...extra,
  };
}

async function commit(
  store: Store,
  namespace: string,
  changes: Change[],
  extra: Partial<CommitRequest> = {},
): Promise<CommitResult> {
  return store.commit(request(namespace, changes, extra), audit('entries.commit', `namespace:${namespace}`), noLimit);
}

async function createNs(store: Store, name: string, schema: NamespaceSchema | null = null): Promise<void> {
  await store.createNamespace(
    { name, description: `the ${name} namespace`, schema },
    audit('namespace.create', `namespace:${name}`),
  );
}

/** Asserts that `promise` rejects with a HeraldError of `code`; returns the error for more checks. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<{ code: string; extensions: Record<string, unknown> }> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected a rejection with ${code}, but the call succeeded`);
  assert.ok(isHeraldError(caught), `expected a HeraldError with ${code}, got ${inspect(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  return caught;
}

async function allAudit(store: Store): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (;;) {
    const page = await store.listAudit({ afterSeq: records.at(-1)?.seq ?? 0, limit: 100 });
    records.push(...page);
    if (page.length < 100) return records;
  }
}

/** Everything a failed mutation must leave as it was. */
async function snapshot(store: Store, namespace: string): Promise<unknown> {
  return {
    revision: await store.currentRevision(),
    namespace: await store.getNamespace(namespace),
    entries: await store.readEntries({ namespace }),
    history: await store.entryHistory({ namespace, limit: 1000 }),
    commits: await store.listCommits({ namespace, order: 'oldest', limit: 1000 }),
    audit: await allAudit(store),
  };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortByAddress<T extends { key: string; label: string }>(items: T[]): T[] {
  return [...items].sort((x, y) => byteOrder(x.key, y.key) || byteOrder(x.label, y.label));
}

function addresses(versions: readonly EntryVersion[]): string[] {
  return versions.map((v) => `${v.key}|${v.label}`);
}

function conflictsOf(error: { extensions: Record<string, unknown> }): Conflict[] {
  const conflicts = error.extensions.conflicts;
  assert.ok(Array.isArray(conflicts), 'precondition_failed must list its conflicts in extensions.conflicts');
  return conflicts as Conflict[];
}

function token(id: string, createdAt: number, extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id,
    name: `token ${id}`,
    scopes: [
      { namespaces: 'pay*', role: 'writer', secrets: true },
      { namespaces: '*', role: 'reader' },
    ],
    tokenHash: `hash-of-${id}`.padEnd(64, '0'),
    createdAt,
    createdBy: 'admin',
    expiresAt: null,
    revokedAt: null,
    ...extra,
  };
}

/** Resolves when `predicate` holds; fails (rather than hangs) after a generous bound. */
async function eventually(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function storeConformanceTests(name: string, factory: StoreFactory): void {
  /** One test on a fresh store, closed and cleaned up whatever happens. */
  function test(title: string, body: (store: Store) => Promise<void>): void {
    void it(title, async () => {
      const { store, cleanup } = await factory();
      try {
        await body(store);
      } finally {
        try {
          await store.close();
        } finally {
          await cleanup();
        }
      }
    });
  }

  void describe(`Store conformance: ${name}`, () => {
    void describe('namespaces', () => {
      test('createNamespace returns the record and getNamespace reads it back', async (store) => {
        const schema: NamespaceSchema = {
          document: { type: 'object', required: ['a'] },
          prefixes: [{ prefix: 'db/', schema: { type: 'integer' } }],
        };
        const before = Date.now();
        const created = await store.createNamespace(
          { name: 'payments', description: 'money', schema },
          audit('namespace.create'),
        );
        const after = Date.now();
        assert.equal(created.name, 'payments');
        assert.equal(created.description, 'money');
        assert.deepEqual(created.schema, schema);
        assert.equal(created.revision, 0);
        assert.equal(created.entryCount, 0);
        assert.ok(created.createdAt >= before && created.createdAt <= after, 'createdAt is the time of creation');
        assert.deepEqual(await store.getNamespace('payments'), created);
        await store.createNamespace({ name: 'plain', description: '', schema: null }, audit('namespace.create'));
        assert.equal((await store.getNamespace('plain'))?.schema, null);
        assert.equal((await store.getNamespace('plain'))?.description, '');
      });

      test('createNamespace refuses an existing name with namespace_exists and records nothing', async (store) => {
        await createNs(store, 'payments');
        const before = await snapshot(store, 'payments');
        await rejectsWith(
          store.createNamespace({ name: 'payments', description: 'again', schema: null }, audit('namespace.create')),
          'namespace_exists',
        );
        assert.deepEqual(await snapshot(store, 'payments'), before);
      });

      test('getNamespace of a missing namespace is undefined', async (store) => {
        assert.equal(await store.getNamespace('nope'), undefined);
      });

      test('listNamespaces returns names in byte order, paged with after and limit', async (store) => {
        // Byte order puts "-" < "." < digits < "_" < letters; a locale collation would not.
        const names = ['b', 'a-1', 'a.1', 'a_1', 'a1', 'a', '0z'];
        for (const n of names) await createNs(store, n);
        const expected = [...names].sort(byteOrder);
        const all = await store.listNamespaces({ limit: 100 });
        assert.deepEqual(
          all.map((n) => n.name),
          expected,
        );
        const paged: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listNamespaces(after === undefined ? { limit: 3 } : { after, limit: 3 });
          assert.ok(page.length <= 3);
          paged.push(...page.map((n) => n.name));
          if (page.length < 3) break;
          after = page.at(-1)?.name;
        }
        assert.deepEqual(paged, expected);
        assert.deepEqual(
          await store.listNamespaces({ after: 'a.1', limit: 2 }).then((p) => p.map((n) => n.name)),
          expected.slice(expected.indexOf('a.1') + 1, expected.indexOf('a.1') + 3),
        );
      });

      test('updateNamespace changes only what the patch names', async (store) => {
        const schema: NamespaceSchema = { document: { type: 'object' } };
        const created = await store.createNamespace(
          { name: 'app', description: 'first', schema },
          audit('namespace.create'),
        );
        await commit(store, 'app', [set('a', '1')]);
        const described = await store.updateNamespace('app', { description: 'second' }, audit('namespace.update'));
        assert.equal(described.description, 'second');
        assert.deepEqual(described.schema, schema, 'a patch without schema keeps the schema');
        assert.equal(described.revision, 1, 'updating metadata is not a commit');
        assert.equal(described.entryCount, 1);
        assert.equal(described.createdAt, created.createdAt);
        const newSchema: NamespaceSchema = { prefixes: [{ prefix: 'x', schema: { type: 'string' } }] };
        const reschemed = await store.updateNamespace('app', { schema: newSchema }, audit('namespace.update'));
        assert.equal(reschemed.description, 'second', 'a patch without description keeps the description');
        assert.deepEqual(reschemed.schema, newSchema);
        const cleared = await store.updateNamespace('app', { schema: null }, audit('namespace.update'));
        assert.equal(cleared.schema, null);
        assert.deepEqual(await store.getNamespace('app'), cleared);
        assert.equal(await store.currentRevision(), 1);
        await rejectsWith(
          store.updateNamespace('missing', { description: 'x' }, audit('namespace.update')),
          'namespace_not_found',
        );
      });

      test('deleteNamespace removes an empty namespace; a missing one is namespace_not_found', async (store) => {
        await createNs(store, 'a');
        await createNs(store, 'b');
        await store.deleteNamespace('a', { force: false }, audit('namespace.delete'));
        assert.equal(await store.getNamespace('a'), undefined);
        assert.deepEqual(
          (await store.listNamespaces({ limit: 10 })).map((n) => n.name),
          ['b'],
        );
        await rejectsWith(
          store.deleteNamespace('a', { force: false }, audit('namespace.delete')),
          'namespace_not_found',
        );
      });

      test('deleteNamespace refuses live entries unless forced, and changes nothing', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1'), set('b', '2')]);
        const before = await snapshot(store, 'app');
        await rejectsWith(
          store.deleteNamespace('app', { force: false }, audit('namespace.delete')),
          'namespace_not_empty',
        );
        assert.deepEqual(await snapshot(store, 'app'), before);
      });

      test('deleteNamespace counts only live entries: deleted ones do not block it', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1')]);
        await commit(store, 'app', [op('delete', 'a')]);
        await store.deleteNamespace('app', { force: false }, audit('namespace.delete'));
        assert.equal(await store.getNamespace('app'), undefined);
      });

      test('forced deleteNamespace removes entries, history and commits; the name starts afresh', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        await commit(store, 'app', [set('a', '1'), set('b', '2', 'prod')]);
        await commit(store, 'app', [set('a', '3'), op('lock', 'b', 'prod')]);
        await commit(store, 'other', [set('keep', 'me')]);
        await store.deleteNamespace('app', { force: true }, audit('namespace.delete'));
        assert.equal(await store.getNamespace('app'), undefined);
        assert.equal(await store.currentRevision(), 3, 'the store revision never goes back');
        await createNs(store, 'app');
        const fresh = await store.getNamespace('app');
        assert.equal(fresh?.revision, 0);
        assert.equal(fresh?.entryCount, 0);
        assert.deepEqual(await store.readEntries({ namespace: 'app' }), []);
        assert.deepEqual(
          await store.readEntries({ namespace: 'app', asOf: 2 }),
          [],
          'no as-of read sees the old namespace',
        );
        assert.deepEqual(await store.entryHistory({ namespace: 'app', limit: 100 }), []);
        assert.deepEqual(await store.listCommits({ namespace: 'app', order: 'newest', limit: 100 }), []);
        // A locked entry of the old namespace is gone too: the same key can be written.
        const next = await commit(store, 'app', [set('b', 'new', 'prod')]);
        assert.equal(next.revision, 4, 'revisions continue after a delete; none is reused');
        assert.equal((await store.readEntries({ namespace: 'other' })).length, 1, 'other namespaces are untouched');
      });
    });

    void describe('commits', () => {
      test('commits take consecutive store-wide revisions starting at 1', async (store) => {
        assert.equal(await store.currentRevision(), 0);
        await createNs(store, 'a');
        await createNs(store, 'b');
        assert.equal(await store.currentRevision(), 0, 'namespace creation takes no revision');
        assert.equal((await commit(store, 'a', [set('x', '1')])).revision, 1);
        assert.equal((await commit(store, 'b', [set('x', '1')])).revision, 2);
        assert.equal((await commit(store, 'a', [set('y', '1')])).revision, 3);
        assert.equal(await store.currentRevision(), 3);
        assert.equal((await store.getNamespace('a'))?.revision, 3);
        assert.equal((await store.getNamespace('b'))?.revision, 2);
      });

      test('a commit returns the versions it wrote, as readEntries reads them', async (store) => {
        await createNs(store, 'app');
        const before = Date.now();
        const result = await commit(
          store,
          'app',
          [
            set('db/url', '{"host":"h"}', 'prod', {
              contentType: 'application/json',
              tags: { owner: 'team-a', ü: 'ß' },
            }),
            set('token', 'c2VjcmV0', '', { secret: true }),
          ],
          { author: 'bob', message: 'first' },
        );
        const after = Date.now();
        assert.equal(result.revision, 1);
        assert.equal(result.versions.length, 2);
        const [url, secret] = result.versions;
        assert.deepEqual(
          { ...url, createdAt: 0 },
          {
            namespace: 'app',
            key: 'db/url',
            label: 'prod',
            revision: 1,
            text: '{"host":"h"}',
            contentType: 'application/json',
            tags: { owner: 'team-a', ü: 'ß' },
            locked: false,
            secret: false,
            deleted: false,
            author: 'bob',
            createdAt: 0,
          },
        );
        assert.ok(url !== undefined && url.createdAt >= before && url.createdAt <= after);
        assert.equal(secret?.secret, true);
        assert.deepEqual(await store.readEntries({ namespace: 'app' }), sortByAddress(result.versions));
      });

      test('values, tags and content types round-trip exactly', async (store) => {
        await createNs(store, 'app');
        const texts = [
          '',
          ' padded ',
          'line\r\nbreak\n',
          'nul\u0000inside',
          '😀 emoji ｚ é',
          'x'.repeat(100_000),
          '{"a":[1,2.50,"\\u0000"]}',
        ];
        const changes = texts.map((text, i) =>
          set(`k${i}`, text, '', {
            contentType: `text/plain; charset=utf-8; v=${i}`,
            tags: {
              [`t${i}`]: text
                .slice(0, 20)
                .replace(/[\r\n]/gu, '')
                .replaceAll('\u0000', ''),
            },
          }),
        );
        await commit(store, 'app', changes);
        const read = await store.readEntries({ namespace: 'app' });
        assert.deepEqual(
          read.map((v) => [v.text, v.contentType, v.tags]),
          sortByAddress(changes as Array<Extract<Change, { op: 'set' }>>).map((c) => [c.text, c.contentType, c.tags]),
        );
      });

      test('a multi-change commit applies every change at one revision and is one commit', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('seed', '0')]);
        const result = await commit(
          store,
          'app',
          [set('a', '1'), set('a', '2', 'prod'), set('b', '3'), op('delete', 'seed')],
          { message: 'batch' },
        );
        assert.equal(result.revision, 2);
        const entries = await store.readEntries({ namespace: 'app' });
        assert.deepEqual(addresses(entries), ['a|', 'a|prod', 'b|']);
        assert.ok(entries.every((e) => e.revision === 2));
        const commits = await store.listCommits({ namespace: 'app', order: 'newest', limit: 10 });
        assert.equal(commits.length, 2);
        assert.deepEqual(commits[0]?.changes, [
          { op: 'set', key: 'a', label: '' },
          { op: 'set', key: 'a', label: 'prod' },
          { op: 'set', key: 'b', label: '' },
          { op: 'delete', key: 'seed', label: '' },
        ]);
        assert.equal((await store.getNamespace('app'))?.entryCount, 3);
      });

      test('a commit that fails part-way changes nothing', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('x', '1')]);
        const before = await snapshot(store, 'app');
        await rejectsWith(
          commit(store, 'app', [set('y', '2'), set('x', '3'), op('delete', 'missing')]),
          'entry_not_found',
        );
        assert.deepEqual(await snapshot(store, 'app'), before);
        // The next commit takes the next revision: the failed one used none.
        assert.equal((await commit(store, 'app', [set('y', '2')])).revision, 2);
      });

      test('a commit to a missing namespace fails with namespace_not_found', async (store) => {
        await rejectsWith(commit(store, 'ghost', [set('a', '1')]), 'namespace_not_found');
        assert.equal(await store.currentRevision(), 0);
        assert.deepEqual(await allAudit(store), []);
      });

      test('a commit naming one entry twice fails with duplicate_change and changes nothing', async (store) => {
        await createNs(store, 'app');
        const before = await snapshot(store, 'app');
        await rejectsWith(commit(store, 'app', [set('a', '1'), set('a', '2')]), 'duplicate_change');
        assert.deepEqual(await snapshot(store, 'app'), before);
      });

      test('entryCount follows sets, overwrites, deletes, locks and re-creation', async (store) => {
        await createNs(store, 'app');
        const count = async (): Promise<number | undefined> => (await store.getNamespace('app'))?.entryCount;
        await commit(store, 'app', [set('a', '1'), set('a', '1', 'prod'), set('b', '1')]);
        assert.equal(await count(), 3);
        await commit(store, 'app', [set('a', '2')]);
        assert.equal(await count(), 3, 'an overwrite adds no entry');
        await commit(store, 'app', [op('lock', 'b')]);
        assert.equal(await count(), 3);
        await commit(store, 'app', [op('delete', 'a', 'prod')]);
        assert.equal(await count(), 2);
        await commit(store, 'app', [set('a', '3', 'prod'), set('c', '1')]);
        assert.equal(await count(), 4);
      });

      test('an overwrite keeps one live version and the old one in history', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', 'old')]);
        await commit(store, 'app', [set('a', 'new')]);
        const live = await store.readEntries({ namespace: 'app' });
        assert.deepEqual(
          live.map((v) => [v.text, v.revision]),
          [['new', 2]],
        );
        const history = await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 10 });
        assert.deepEqual(
          history.map((v) => [v.text, v.revision]),
          [
            ['new', 2],
            ['old', 1],
          ],
        );
      });
    });

    void describe('preconditions', () => {
      test('ifRevision passes on the current revision and fails, listing the conflict, on any other', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1')]);
        await commit(store, 'app', [set('a', '2')]);
        const before = await snapshot(store, 'app');
        const error = await rejectsWith(
          commit(store, 'app', [set('a', 'stale', '', { ifRevision: 1 })]),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'revision 1', actualRevision: 2 }]);
        assert.deepEqual(await snapshot(store, 'app'), before);
        const ok = await commit(store, 'app', [set('a', 'fresh', '', { ifRevision: 2 })]);
        assert.equal(ok.revision, 3);
        assert.equal((await store.readEntries({ namespace: 'app', key: 'a' }))[0]?.text, 'fresh');
      });

      test('ifRevision 0 means the entry must not exist', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1', '', { ifRevision: 0 })]);
        const error = await rejectsWith(
          commit(store, 'app', [set('a', '2', '', { ifRevision: 0 })]),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'absent', actualRevision: 1 }]);
        assert.equal((await store.readEntries({ namespace: 'app' }))[0]?.text, '1');
      });

      test('ifEtag passes on the current ETag and fails on a stale or missing one', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1', 'prod')]);
        const etag1 = entryEtag({ namespace: 'app', key: 'a', label: 'prod' }, 1);
        await commit(store, 'app', [set('a', '2', 'prod', { ifEtag: etag1 })]);
        const before = await snapshot(store, 'app');
        const stale = await rejectsWith(
          commit(store, 'app', [set('a', '3', 'prod', { ifEtag: etag1 })]),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(stale), [
          { key: 'a', label: 'prod', expected: `etag "${etag1}"`, actualRevision: 2 },
        ]);
        const missingEtag = entryEtag({ namespace: 'app', key: 'b', label: '' }, 1);
        const missing = await rejectsWith(
          commit(store, 'app', [set('b', '1', '', { ifEtag: missingEtag })]),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(missing), [
          { key: 'b', label: '', expected: `etag "${missingEtag}"`, actualRevision: null },
        ]);
        assert.deepEqual(await snapshot(store, 'app'), before);
        const etag2 = entryEtag({ namespace: 'app', key: 'a', label: 'prod' }, 2);
        assert.equal((await commit(store, 'app', [op('delete', 'a', 'prod', { ifEtag: etag2 })])).revision, 3);
      });

      test('ifAbsent fails on a live entry and passes on a new or deleted one', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1', '', { ifAbsent: true })]);
        const error = await rejectsWith(
          commit(store, 'app', [set('a', '2', '', { ifAbsent: true })]),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'absent', actualRevision: 1 }]);
        await commit(store, 'app', [op('delete', 'a')]);
        const recreated = await commit(store, 'app', [set('a', '3', '', { ifAbsent: true })]);
        assert.equal(recreated.revision, 3);
      });

      test('every failed precondition of a commit is listed, and nothing is written', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1'), set('b', '1')]);
        const before = await snapshot(store, 'app');
        const error = await rejectsWith(
          commit(store, 'app', [
            set('a', 'x', '', { ifRevision: 7 }),
            set('c', 'new', '', { ifAbsent: true }),
            set('b', 'x', '', { ifAbsent: true }),
          ]),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(error), [
          { key: 'a', label: '', expected: 'revision 7', actualRevision: 1 },
          { key: 'b', label: '', expected: 'absent', actualRevision: 1 },
        ]);
        assert.deepEqual(await snapshot(store, 'app'), before);
      });

      test('ifNamespaceRevision fails once the namespace moved, but not for commits elsewhere', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        await commit(store, 'app', [set('a', '1')]);
        await commit(store, 'other', [set('a', '1')]);
        // The store moved to 2, the namespace is still at 1.
        assert.equal((await commit(store, 'app', [set('b', '1')], { ifNamespaceRevision: 1 })).revision, 3);
        const before = await snapshot(store, 'app');
        const error = await rejectsWith(
          commit(store, 'app', [set('c', '1')], { ifNamespaceRevision: 2 }),
          'precondition_failed',
        );
        assert.deepEqual(conflictsOf(error), []);
        assert.deepEqual(await snapshot(store, 'app'), before);
        assert.equal((await commit(store, 'app', [set('c', '1')], { ifNamespaceRevision: 3 })).revision, 4);
      });
    });

    void describe('locks and deletes', () => {
      test('a locked entry refuses set and delete with entry_locked until unlocked', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', 'value', 'prod', { tags: { t: '1' } })]);
        const locked = await commit(store, 'app', [op('lock', 'a', 'prod')]);
        assert.equal(locked.versions[0]?.locked, true);
        assert.equal(locked.versions[0]?.text, 'value', 'locking keeps the value');
        assert.deepEqual(locked.versions[0]?.tags, { t: '1' });
        const live = await store.readEntries({ namespace: 'app' });
        assert.equal(live.length, 1, 'a locked entry is still readable');
        assert.equal(live[0]?.locked, true);
        const before = await snapshot(store, 'app');
        await rejectsWith(commit(store, 'app', [set('a', 'other', 'prod')]), 'entry_locked');
        await rejectsWith(commit(store, 'app', [op('delete', 'a', 'prod')]), 'entry_locked');
        await rejectsWith(commit(store, 'app', [set('b', 'fine'), set('a', 'other', 'prod')]), 'entry_locked');
        assert.deepEqual(await snapshot(store, 'app'), before);
        const unlocked = await commit(store, 'app', [op('unlock', 'a', 'prod')]);
        assert.equal(unlocked.versions[0]?.locked, false);
        const written = await commit(store, 'app', [set('a', 'other', 'prod')]);
        assert.equal(written.versions[0]?.text, 'other');
        assert.equal(written.versions[0]?.locked, false);
      });

      test('lock and unlock of a missing entry fail with entry_not_found', async (store) => {
        await createNs(store, 'app');
        await rejectsWith(commit(store, 'app', [op('lock', 'a')]), 'entry_not_found');
        await rejectsWith(commit(store, 'app', [op('unlock', 'a')]), 'entry_not_found');
        assert.equal(await store.currentRevision(), 0);
      });

      test('delete removes an entry from current reads; deleting a missing or deleted entry is entry_not_found', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1'), set('a', '1', 'prod')]);
        await rejectsWith(commit(store, 'app', [op('delete', 'nope')]), 'entry_not_found');
        await rejectsWith(commit(store, 'app', [op('delete', 'a', 'other-label')]), 'entry_not_found');
        const deleted = await commit(store, 'app', [op('delete', 'a')]);
        assert.equal(deleted.versions[0]?.deleted, true);
        assert.deepEqual(addresses(await store.readEntries({ namespace: 'app' })), ['a|prod']);
        await rejectsWith(commit(store, 'app', [op('delete', 'a')]), 'entry_not_found');
        assert.equal(await store.currentRevision(), 2);
      });
    });

    void describe('limits', () => {
      test('namespace_full refuses new entries past maxEntriesPerNamespace, counting every label', async (store) => {
        await createNs(store, 'app');
        const limits = { maxEntriesPerNamespace: 3 };
        const write = (changes: Change[]): Promise<CommitResult> =>
          store.commit(request('app', changes), audit('entries.commit'), limits);
        await write([set('a', '1'), set('a', '1', 'prod'), set('b', '1')]);
        const before = await snapshot(store, 'app');
        await rejectsWith(write([set('c', '1')]), 'namespace_full');
        await rejectsWith(write([set('b', '2'), set('c', '1')]), 'namespace_full');
        assert.deepEqual(await snapshot(store, 'app'), before);
        assert.equal((await write([set('a', '2')])).revision, 2, 'an overwrite of a full namespace is fine');
        assert.equal(
          (await write([op('delete', 'b'), set('c', '1')])).revision,
          3,
          'a commit that keeps the count is fine',
        );
        await write([op('delete', 'c')]);
        assert.equal((await write([set('d', '1')])).revision, 5, 'room made by a delete can be used');
        assert.equal((await store.getNamespace('app'))?.entryCount, 3);
      });
    });

    void describe('concurrency', () => {
      test('concurrent commits get distinct, consecutive revisions', async (store) => {
        const namespaces = ['a', 'b', 'c'];
        for (const n of namespaces) await createNs(store, n);
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            commit(store, namespaces[i % 3] as string, [set(`k${i}`, String(i))], { message: `m${i}` }),
          ),
        );
        const revisions = results.map((r) => r.revision).sort((x, y) => x - y);
        assert.deepEqual(
          revisions,
          Array.from({ length: 60 }, (_, i) => i + 1),
        );
        assert.equal(await store.currentRevision(), 60);
        for (const [i, result] of results.entries()) {
          const ns = namespaces[i % 3] as string;
          const [entry] = await store.readEntries({ namespace: ns, key: `k${i}` });
          assert.equal(entry?.revision, result.revision);
          assert.equal(entry?.text, String(i));
        }
        const commits = (
          await Promise.all(namespaces.map((ns) => store.listCommits({ namespace: ns, order: 'oldest', limit: 100 })))
        ).flat();
        assert.deepEqual(
          commits.map((c) => c.revision).sort((x, y) => x - y),
          revisions,
        );
        for (const c of commits)
          assert.equal(
            results[Number(c.message.slice(1))]?.revision,
            c.revision,
            'each commit record carries its own revision',
          );
      });

      test('concurrent commits with the same ifRevision: exactly one wins', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('counter', '0')]);
        const outcomes = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) =>
            commit(store, 'app', [set('counter', `writer ${i}`, '', { ifRevision: 1 })]),
          ),
        );
        const winners = outcomes.filter((o): o is PromiseFulfilledResult<CommitResult> => o.status === 'fulfilled');
        assert.equal(winners.length, 1);
        for (const o of outcomes) {
          if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'precondition_failed');
        }
        const [entry] = await store.readEntries({ namespace: 'app', key: 'counter' });
        assert.equal(entry?.revision, winners[0]?.value.revision);
        assert.equal(entry?.text, winners[0]?.value.versions[0]?.text);
        assert.equal(await store.currentRevision(), 2);
      });

      test('concurrent creates with ifAbsent: exactly one wins', async (store) => {
        await createNs(store, 'app');
        const outcomes = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) =>
            commit(store, 'app', [set('lock/owner', `node ${i}`, '', { ifAbsent: true })]),
          ),
        );
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        for (const o of outcomes) {
          if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'precondition_failed');
        }
        assert.equal((await store.getNamespace('app'))?.entryCount, 1);
      });

      test('concurrent commits on one entry each build on the previous one', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '0')]);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => commit(store, 'app', [set('a', String(i + 1))])),
        );
        const history = await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 100 });
        assert.equal(history.length, 21);
        assert.deepEqual(
          history.map((v) => v.revision),
          Array.from({ length: 21 }, (_, i) => 21 - i),
        );
        const newest = results.reduce((a, b) => (a.revision > b.revision ? a : b));
        assert.equal((await store.readEntries({ namespace: 'app' }))[0]?.text, newest.versions[0]?.text);
        assert.equal((await store.getNamespace('app'))?.entryCount, 1);
      });
    });

    void describe('reads', () => {
      const keys = ['a', 'a/b', 'aB', 'B', 'a-', 'a_b', 'axb', 'é', 'ｚ', '😀', '😀/x', 'db/pool/max', 'db/url', 'dbx'];

      async function seed(store: Store): Promise<EntryVersion[]> {
        await createNs(store, 'app');
        await createNs(store, 'zzz');
        await commit(store, 'zzz', [set('a', 'elsewhere')]);
        const changes = keys.flatMap((key, i) => [
          set(key, `v${i}`),
          ...(i % 2 === 0 ? [set(key, `p${i}`, 'prod'), set(key, `P${i}`, 'Prod')] : []),
        ]);
        return (await commit(store, 'app', changes)).versions;
      }

      test('readEntries returns the live entries of one namespace in (key, label) byte order', async (store) => {
        const written = await seed(store);
        const read = await store.readEntries({ namespace: 'app' });
        assert.deepEqual(read, sortByAddress(written));
        assert.deepEqual(await store.readEntries({ namespace: 'missing' }), []);
      });

      test('readEntries filters by exact key, by key prefix and by labels', async (store) => {
        await seed(store);
        const find = async (query: Omit<Parameters<Store['readEntries']>[0], 'namespace'>): Promise<string[]> =>
          addresses(await store.readEntries({ namespace: 'app', ...query }));
        assert.deepEqual(await find({ key: 'a' }), ['a|', 'a|Prod', 'a|prod']);
        assert.deepEqual(await find({ key: 'a', labels: ['prod'] }), ['a|prod']);
        assert.deepEqual(await find({ keyPrefix: 'db/' }), ['db/pool/max|', 'db/url|', 'db/url|Prod', 'db/url|prod']);
        // "_" must match itself only: an adapter using LIKE without escaping would also return "axb".
        assert.deepEqual(await find({ keyPrefix: 'a_' }), ['a_b|']);
        // Prefixes are compared by characters, not UTF-16 units or bytes.
        assert.deepEqual(await find({ keyPrefix: '😀' }), ['😀|', '😀/x|', '😀/x|Prod', '😀/x|prod']);
        assert.deepEqual(await find({ keyPrefix: 'é' }), ['é|']);
        assert.deepEqual(await find({ keyPrefix: 'nothing' }), []);
        assert.deepEqual(await find({ labels: [] }), [], 'an empty label filter matches nothing');
        const prod = await find({ labels: ['prod'] });
        assert.equal(prod.length, 7);
        assert.ok(prod.every((a) => a.endsWith('|prod')));
        const some = await find({ labels: ['', 'Prod'], keyPrefix: 'a' });
        assert.deepEqual(some, [
          'a|',
          'a|Prod',
          'a-|',
          'a-|Prod',
          'a/b|',
          'aB|',
          'aB|Prod',
          'a_b|',
          'axb|',
          'axb|Prod',
        ]);
      });

      test('readEntries pages with after and limit', async (store) => {
        const all = sortByAddress(await seed(store));
        const paged: EntryVersion[] = [];
        let after: { key: string; label: string } | undefined;
        for (;;) {
          const page = await store.readEntries(
            after === undefined ? { namespace: 'app', limit: 4 } : { namespace: 'app', after, limit: 4 },
          );
          assert.ok(page.length <= 4);
          paged.push(...page);
          if (page.length < 4) break;
          const last = page.at(-1) as EntryVersion;
          after = { key: last.key, label: last.label };
        }
        assert.deepEqual(paged, all);
        // "after" sits between two labels of one key.
        assert.deepEqual(
          addresses(await store.readEntries({ namespace: 'app', after: { key: 'a', label: 'Prod' }, limit: 2 })),
          ['a|prod', 'a-|'],
        );
        assert.deepEqual(await store.readEntries({ namespace: 'app', limit: 0 }), []);
        assert.equal((await store.readEntries({ namespace: 'app', limit: 3 })).length, 3);
      });

      test('readEntries asOf reads the namespace as it was, deletes and overwrites included', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        await commit(store, 'app', [set('a', 'a1'), set('b', 'b1')]); // 1
        await commit(store, 'other', [set('x', 'x')]); // 2
        await commit(store, 'app', [set('a', 'a2'), set('c', 'c1')]); // 3
        await commit(store, 'app', [op('delete', 'b')]); // 4
        await commit(store, 'app', [op('lock', 'a')]); // 5
        await commit(store, 'app', [set('b', 'b2'), op('delete', 'c')]); // 6
        const at = async (asOf: number): Promise<Array<[string, string, number, boolean]>> =>
          (await store.readEntries({ namespace: 'app', asOf })).map((v) => [v.key, v.text, v.revision, v.locked]);
        assert.deepEqual(await at(0), []);
        assert.deepEqual(await at(1), [
          ['a', 'a1', 1, false],
          ['b', 'b1', 1, false],
        ]);
        assert.deepEqual(await at(2), [
          ['a', 'a1', 1, false],
          ['b', 'b1', 1, false],
        ]);
        assert.deepEqual(await at(3), [
          ['a', 'a2', 3, false],
          ['b', 'b1', 1, false],
          ['c', 'c1', 3, false],
        ]);
        assert.deepEqual(await at(4), [
          ['a', 'a2', 3, false],
          ['c', 'c1', 3, false],
        ]);
        assert.deepEqual(await at(5), [
          ['a', 'a2', 5, true],
          ['c', 'c1', 3, false],
        ]);
        assert.deepEqual(await at(6), [
          ['a', 'a2', 5, true],
          ['b', 'b2', 6, false],
        ]);
        assert.deepEqual(
          await store.readEntries({ namespace: 'app', asOf: 6 }),
          await store.readEntries({ namespace: 'app' }),
        );
        assert.deepEqual(addresses(await store.readEntries({ namespace: 'app', asOf: 3, keyPrefix: 'b' })), ['b|']);
        assert.deepEqual(
          addresses(await store.readEntries({ namespace: 'app', asOf: 3, after: { key: 'a', label: '' }, limit: 1 })),
          ['b|'],
        );
        await rejectsWith(store.readEntries({ namespace: 'app', asOf: 7 }), 'revision_not_found');
        await rejectsWith(store.readEntries({ namespace: 'app', asOf: -1 }), 'invalid_revision');
        await rejectsWith(store.readEntries({ namespace: 'app', asOf: 1.5 }), 'invalid_revision');
      });
    });

    void describe('history', () => {
      test('entryHistory lists versions newest first, tombstones included, paged by beforeRevision', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', 'v1'), set('a', 'p1', 'prod')]); // 1
        await commit(store, 'app', [set('a', 'v2')]); // 2
        await commit(store, 'app', [op('lock', 'a')]); // 3
        await commit(store, 'app', [op('unlock', 'a'), set('b', 'b1')]); // 4
        await commit(store, 'app', [op('delete', 'a')]); // 5
        await commit(store, 'app', [set('a', 'v3')]); // 6
        const history = await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 100 });
        assert.deepEqual(
          history.map((v) => [v.revision, v.text, v.locked, v.deleted]),
          [
            [6, 'v3', false, false],
            [5, 'v2', false, true],
            [4, 'v2', false, false],
            [3, 'v2', true, false],
            [2, 'v2', false, false],
            [1, 'v1', false, false],
          ],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 2 })).map((v) => v.revision),
          [6, 5],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', key: 'a', label: '', beforeRevision: 5, limit: 2 })).map(
            (v) => v.revision,
          ),
          [4, 3],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', key: 'a', label: '', beforeRevision: 2, limit: 2 })).map(
            (v) => v.revision,
          ),
          [1],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', key: 'a', label: 'prod', limit: 10 })).map((v) => v.text),
          ['p1'],
        );
        // Every label of a key, and the whole namespace: newest first, then (key, label).
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', key: 'a', limit: 100 })).map((v) => `${v.revision}:${v.label}`),
          ['6:', '5:', '4:', '3:', '2:', '1:', '1:prod'],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', beforeRevision: 5, limit: 3 })).map(
            (v) => `${v.revision}:${v.key}:${v.label}`,
          ),
          ['4:a:', '4:b:', '3:a:'],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', sinceRevision: 4, limit: 100 })).map(
            (v) => `${v.revision}:${v.key}:${v.label}`,
          ),
          ['6:a:', '5:a:', '4:a:', '4:b:'],
        );
        assert.deepEqual(
          (
            await store.entryHistory({
              namespace: 'app',
              key: 'a',
              label: '',
              sinceRevision: 2,
              beforeRevision: 5,
              limit: 100,
            })
          ).map((v) => v.revision),
          [4, 3, 2],
        );
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', order: 'oldest', sinceRevision: 1, limit: 4 })).map(
            (v) => `${v.revision}:${v.key}:${v.label}`,
          ),
          ['1:a:', '1:a:prod', '2:a:', '3:a:'],
          'oldest first: revision ascending, then (key, label)',
        );
        assert.deepEqual(
          (
            await store.entryHistory({
              namespace: 'app',
              key: 'a',
              label: '',
              order: 'oldest',
              sinceRevision: 4,
              limit: 2,
            })
          ).map((v) => v.revision),
          [4, 5],
        );
        assert.deepEqual(await store.entryHistory({ namespace: 'app', key: 'zzz', limit: 10 }), []);
      });

      test('listCommits lists a namespace’s commits newest or oldest first, paged by afterRevision', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        const before = Date.now();
        for (let i = 1; i <= 5; i += 1) {
          await commit(store, 'app', [set(`k${i}`, 'x')], { author: `author${i}`, message: `message ${i}` });
          await commit(store, 'other', [set(`k${i}`, 'x')]);
        }
        await commit(store, 'app', [op('delete', 'k1'), op('lock', 'k2')], { author: 'z', message: 'two' });
        const after = Date.now();
        const newest = await store.listCommits({ namespace: 'app', order: 'newest', limit: 100 });
        assert.deepEqual(
          newest.map((c) => c.revision),
          [11, 9, 7, 5, 3, 1],
        );
        const first = newest.at(-1) as CommitRecord;
        assert.deepEqual(
          { ...first, createdAt: 0 },
          {
            revision: 1,
            namespace: 'app',
            author: 'author1',
            message: 'message 1',
            createdAt: 0,
            changes: [{ op: 'set', key: 'k1', label: '' }],
          },
        );
        assert.ok(first.createdAt >= before && first.createdAt <= after);
        assert.deepEqual(newest[0]?.changes, [
          { op: 'delete', key: 'k1', label: '' },
          { op: 'lock', key: 'k2', label: '' },
        ]);
        const oldest = await store.listCommits({ namespace: 'app', order: 'oldest', limit: 100 });
        assert.deepEqual(oldest, [...newest].reverse());
        assert.deepEqual(
          (await store.listCommits({ namespace: 'app', order: 'newest', afterRevision: 9, limit: 2 })).map(
            (c) => c.revision,
          ),
          [7, 5],
        );
        assert.deepEqual(
          (await store.listCommits({ namespace: 'app', order: 'oldest', afterRevision: 5, limit: 2 })).map(
            (c) => c.revision,
          ),
          [7, 9],
        );
        assert.deepEqual(
          await store.listCommits({ namespace: 'app', order: 'oldest', afterRevision: 11, limit: 2 }),
          [],
        );
        assert.deepEqual(
          await store.listCommits({ namespace: 'app', order: 'newest', afterRevision: 1, limit: 2 }),
          [],
        );
        assert.deepEqual(await store.listCommits({ namespace: 'missing', order: 'newest', limit: 2 }), []);
      });
    });

    void describe('compaction', () => {
      async function seedHistory(store: Store): Promise<void> {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', 'a1')]); // 1
        await commit(store, 'app', [set('a', 'a2')]); // 2
        await commit(store, 'app', [set('b', 'b1')]); // 3
        await commit(store, 'app', [op('delete', 'b')]); // 4
        await commit(store, 'app', [set('a', 'a3'), set('c', 'c1')]); // 5
      }

      test('compact drops what no read at or after it can see, and is audited', async (store) => {
        await seedHistory(store);
        const reads = new Map<number, EntryVersion[]>();
        for (const r of [4, 5]) reads.set(r, await store.readEntries({ namespace: 'app', asOf: r }));
        const current = await store.readEntries({ namespace: 'app' });
        const auditBefore = (await allAudit(store)).length;
        assert.equal(await store.compactedRevision(), 0);
        const result = await store.compact(4, audit('store.compact', 'store', { by: 'test' }));
        // a@1 (superseded at 2), b@3 (superseded at 4) and the tombstone b@4 are gone; a@2 is still
        // what revision 4 sees.
        assert.deepEqual(result, { revision: 4, removedVersions: 3 });
        assert.equal(await store.compactedRevision(), 4);
        const compacted = await rejectsWith(store.readEntries({ namespace: 'app', asOf: 3 }), 'revision_compacted');
        assert.equal(compacted.extensions.compactedRevision, 4);
        await rejectsWith(store.readEntries({ namespace: 'app', asOf: 0 }), 'revision_compacted');
        for (const r of [4, 5])
          assert.deepEqual(
            await store.readEntries({ namespace: 'app', asOf: r }),
            reads.get(r),
            `as-of ${r} is unchanged`,
          );
        assert.deepEqual(await store.readEntries({ namespace: 'app' }), current);
        assert.deepEqual(
          (await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 10 })).map((v) => v.revision),
          [5, 2],
        );
        assert.deepEqual(await store.entryHistory({ namespace: 'app', key: 'b', label: '', limit: 10 }), []);
        const records = await allAudit(store);
        assert.equal(records.length, auditBefore + 1);
        assert.equal(records.at(-1)?.action, 'store.compact');
        assert.deepEqual(records.at(-1)?.details, { by: 'test', revision: 4, removedVersions: 3 });
        assert.equal(await store.currentRevision(), 5, 'compaction takes no revision');
        // Writing after compaction works, including to an entry whose tombstone was dropped.
        const again = await commit(store, 'app', [set('b', 'b2', '', { ifAbsent: true })]);
        assert.equal(again.revision, 6);
        assert.equal((await store.getNamespace('app'))?.entryCount, 3);
        assert.deepEqual(await store.readEntries({ namespace: 'app', asOf: 5 }), reads.get(5));
      });

      test('compact at or below the compacted revision does nothing; bad revisions are invalid_revision', async (store) => {
        await seedHistory(store);
        await store.compact(3, audit('store.compact'));
        const auditCount = (await allAudit(store)).length;
        assert.deepEqual(await store.compact(2, audit('store.compact')), { revision: 3, removedVersions: 0 });
        assert.deepEqual(await store.compact(3, audit('store.compact')), { revision: 3, removedVersions: 0 });
        assert.equal(await store.compactedRevision(), 3);
        await rejectsWith(store.compact(0, audit('store.compact')), 'invalid_revision');
        await rejectsWith(store.compact(6, audit('store.compact')), 'invalid_revision');
        await rejectsWith(store.compact(4.5, audit('store.compact')), 'invalid_revision');
        assert.equal((await allAudit(store)).length, auditCount, 'compactions that did nothing are not audited');
        assert.equal(await store.compactedRevision(), 3);
        const later = await store.compact(5, audit('store.compact'));
        assert.equal(later.revision, 5);
        assert.equal(await store.compactedRevision(), 5);
        assert.deepEqual(
          (await store.readEntries({ namespace: 'app', asOf: 5 })).map((v) => v.text),
          ['a3', 'c1'],
        );
      });
    });

    void describe('tokens', () => {
      test('createToken, findToken by hash, listTokens in creation order', async (store) => {
        const t2 = token('t2', 2000, { expiresAt: 9000 });
        const t1 = token('t1', 1000);
        const t0 = token('t0', 2000);
        for (const t of [t2, t1, t0]) await store.createToken(t, audit('token.create', `token:${t.id}`));
        assert.deepEqual(await store.findToken(t2.tokenHash), t2);
        assert.deepEqual(await store.findToken(t1.tokenHash), t1);
        assert.equal(await store.findToken('0'.repeat(64)), undefined);
        assert.deepEqual(await store.listTokens(), [t1, t0, t2]);
      });

      test('revokeToken sets revokedAt once; an unknown token is token_not_found', async (store) => {
        const t = token('t1', 1000);
        await store.createToken(t, audit('token.create'));
        const revoked = await store.revokeToken('t1', 5000, audit('token.revoke', 'token:t1'));
        assert.deepEqual(revoked, { ...t, revokedAt: 5000 });
        assert.deepEqual(await store.findToken(t.tokenHash), revoked);
        const auditCount = (await allAudit(store)).length;
        const again = await store.revokeToken('t1', 9000, audit('token.revoke', 'token:t1'));
        assert.equal(again.revokedAt, 5000, 'a second revoke keeps the first time');
        assert.equal((await allAudit(store)).length, auditCount, 'and records nothing');
        await rejectsWith(store.revokeToken('nope', 1, audit('token.revoke')), 'token_not_found');
        assert.equal((await allAudit(store)).length, auditCount);
      });
    });

    void describe('releases', () => {
      test('createRelease numbers releases per namespace, at the namespace revision unless told', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        await commit(store, 'app', [set('a', '1')]); // 1
        await commit(store, 'other', [set('a', '1')]); // 2
        const before = Date.now();
        const first = await store.createRelease(
          { namespace: 'app', kind: 'manual', author: 'alice', note: 'first' },
          audit('release.create', 'namespace:app'),
        );
        const after = Date.now();
        assert.deepEqual(
          { ...first, createdAt: 0 },
          { namespace: 'app', seq: 1, revision: 1, kind: 'manual', author: 'alice', note: 'first', createdAt: 0 },
        );
        assert.ok(first.createdAt >= before && first.createdAt <= after);
        const pinned = await store.createRelease(
          { namespace: 'app', revision: 2, kind: 'rollback', author: 'bob', note: '' },
          audit('release.create'),
        );
        assert.equal(pinned.seq, 2);
        assert.equal(pinned.revision, 2);
        const elsewhere = await store.createRelease(
          { namespace: 'other', kind: 'commit', author: 'c', note: '' },
          audit('release.create'),
        );
        assert.equal(elsewhere.seq, 1, 'seq counts per namespace');
        assert.equal(elsewhere.revision, 2);
        assert.deepEqual(await store.getRelease('app'), pinned, 'without seq: the newest');
        assert.deepEqual(await store.getRelease('app', 1), first);
        assert.equal(await store.getRelease('app', 3), undefined);
        assert.equal(await store.getRelease('missing'), undefined);
        const records = await allAudit(store);
        assert.deepEqual(
          records.filter((r) => r.action === 'release.create').map((r) => r.details),
          [
            { seq: 1, revision: 1 },
            { seq: 2, revision: 2 },
            { seq: 1, revision: 2 },
          ],
        );
      });

      test('createRelease refuses a missing namespace and revisions that do not exist (yet)', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1')]);
        const input = { kind: 'manual' as const, author: 'a', note: '' };
        await rejectsWith(
          store.createRelease({ ...input, namespace: 'ghost' }, audit('release.create')),
          'namespace_not_found',
        );
        await rejectsWith(
          store.createRelease({ ...input, namespace: 'app', revision: 2 }, audit('release.create')),
          'revision_not_found',
        );
        await rejectsWith(
          store.createRelease({ ...input, namespace: 'app', revision: -1 }, audit('release.create')),
          'invalid_revision',
        );
        await commit(store, 'app', [set('a', '2')]);
        await store.compact(2, audit('store.compact'));
        await rejectsWith(
          store.createRelease({ ...input, namespace: 'app', revision: 1 }, audit('release.create')),
          'revision_compacted',
        );
        assert.equal(await store.getRelease('app'), undefined, 'nothing was released');
      });

      test('listReleases lists newest first, paged by beforeSeq; concurrent releases get distinct seqs', async (store) => {
        await createNs(store, 'app');
        const made = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.createRelease(
              { namespace: 'app', kind: 'manual', author: 'a', note: `n${i}` },
              audit('release.create'),
            ),
          ),
        );
        assert.deepEqual(
          made.map((r) => r.seq).sort((x, y) => x - y),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
        assert.deepEqual(
          (await store.listReleases({ namespace: 'app', limit: 3 })).map((r) => r.seq),
          [8, 7, 6],
        );
        assert.deepEqual(
          (await store.listReleases({ namespace: 'app', beforeSeq: 6, limit: 3 })).map((r) => r.seq),
          [5, 4, 3],
        );
        assert.deepEqual(
          (await store.listReleases({ namespace: 'app', beforeSeq: 2, limit: 3 })).map((r) => r.seq),
          [1],
        );
        const listed = await store.listReleases({ namespace: 'app', limit: 100 });
        assert.deepEqual(
          listed,
          [...made].sort((x, y) => y.seq - x.seq),
        );
        assert.deepEqual(await store.listReleases({ namespace: 'missing', limit: 3 }), []);
      });
    });

    void describe('rollouts', () => {
      const rollout = (
        id: string,
        namespace: string,
        active: boolean,
        state: Record<string, unknown> = { phase: 'wave', wave: 0 },
      ): Omit<RolloutRecord, 'version' | 'updatedAt'> => ({
        id,
        namespace,
        active,
        state,
      });

      test('saveRollout creates at version 1 and updates only from the version read', async (store) => {
        await createNs(store, 'app');
        const before = Date.now();
        const created = await store.saveRollout(
          rollout('r1', 'app', true, { waves: [{ percent: 1 }], nested: { ok: true } }),
          0,
          audit('rollout.start'),
        );
        assert.equal(created.version, 1);
        assert.ok(created.updatedAt >= before && created.updatedAt <= Date.now());
        assert.deepEqual(await store.getRollout('r1'), created);
        const stale = await rejectsWith(
          store.saveRollout(rollout('r1', 'app', true, { overwritten: true }), 0, undefined),
          'precondition_failed',
        );
        assert.ok(stale);
        await rejectsWith(
          store.saveRollout(rollout('r1', 'app', true, { overwritten: true }), 2, undefined),
          'precondition_failed',
        );
        await rejectsWith(store.saveRollout(rollout('r-new', 'app', false), 1, undefined), 'precondition_failed');
        assert.deepEqual(await store.getRollout('r1'), created, 'a refused save changes nothing');
        const updated = await store.saveRollout(rollout('r1', 'app', true, { phase: 'bake' }), 1, undefined);
        assert.equal(updated.version, 2);
        assert.deepEqual(updated.state, { phase: 'bake' });
        assert.deepEqual(await store.getRollout('r1'), updated);
        assert.equal(await store.getRollout('nope'), undefined);
      });

      test('saveRollout appends its audit record only when given one', async (store) => {
        await createNs(store, 'app');
        const count = (): Promise<number> => allAudit(store).then((r) => r.length);
        const start = await count();
        await store.saveRollout(rollout('r1', 'app', true), 0, audit('rollout.start', 'rollout:r1'));
        assert.equal(await count(), start + 1);
        await store.saveRollout(rollout('r1', 'app', true), 1, undefined);
        assert.equal(await count(), start + 1);
        await rejectsWith(
          store.saveRollout(rollout('r1', 'app', true), 1, audit('rollout.pause')),
          'precondition_failed',
        );
        assert.equal(await count(), start + 1, 'a refused save records nothing');
      });

      test('at most one active rollout per namespace: rollout_active names the other one', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        await store.saveRollout(rollout('r1', 'app', true), 0, undefined);
        const error = await rejectsWith(store.saveRollout(rollout('r2', 'app', true), 0, undefined), 'rollout_active');
        assert.equal(error.extensions.rolloutId, 'r1');
        assert.equal(await store.getRollout('r2'), undefined);
        await store.saveRollout(rollout('r3', 'other', true), 0, undefined);
        await store.saveRollout(rollout('r2', 'app', false), 0, undefined);
        await store.saveRollout(rollout('r1', 'app', false, { phase: 'done' }), 1, undefined);
        const r2 = await store.saveRollout(rollout('r2', 'app', true), 1, undefined);
        assert.equal(r2.version, 2);
        assert.deepEqual(
          (await store.listActiveRollouts('app')).map((r) => r.id),
          ['r2'],
        );
        assert.deepEqual(
          (await store.listActiveRollouts()).map((r) => r.id),
          ['r2', 'r3'],
          'all namespaces, in namespace order',
        );
        assert.deepEqual(await store.listActiveRollouts('missing'), []);
      });

      test('listRollouts lists a namespace’s rollouts, most recently saved first', async (store) => {
        await createNs(store, 'app');
        const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));
        await store.saveRollout(rollout('a', 'app', false), 0, undefined);
        await pause();
        await store.saveRollout(rollout('b', 'app', false), 0, undefined);
        await pause();
        await store.saveRollout(rollout('c', 'app', false), 0, undefined);
        await pause();
        await store.saveRollout(rollout('a', 'app', false, { again: true }), 1, undefined);
        assert.deepEqual(
          (await store.listRollouts('app', 10)).map((r) => r.id),
          ['a', 'c', 'b'],
        );
        assert.deepEqual(
          (await store.listRollouts('app', 2)).map((r) => r.id),
          ['a', 'c'],
        );
        assert.deepEqual(await store.listRollouts('missing', 10), []);
      });

      test('concurrent saves from the same version: exactly one wins', async (store) => {
        await createNs(store, 'app');
        await store.saveRollout(rollout('r1', 'app', true), 0, undefined);
        const outcomes = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            store.saveRollout(rollout('r1', 'app', true, { writer: i }), 1, undefined),
          ),
        );
        const winners = outcomes.filter((o): o is PromiseFulfilledResult<RolloutRecord> => o.status === 'fulfilled');
        assert.equal(winners.length, 1);
        for (const o of outcomes)
          if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'precondition_failed');
        assert.deepEqual(await store.getRollout('r1'), winners[0]?.value);
        const starts = await Promise.allSettled(
          Array.from({ length: 6 }, (_, i) => store.saveRollout(rollout(`new${i}`, 'app', true), 0, undefined)),
        );
        assert.ok(
          starts.every((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'rollout_active'),
        );
      });
    });

    void describe('signing keys', () => {
      test('addSigningKey stores keys, audited; listSigningKeys lists them oldest first', async (store) => {
        const k2: SigningKeyRecord = {
          keyId: 'k2',
          publicKey: 'pub2',
          encryptedPrivateKey: 'enc2',
          createdAt: 2000,
          endorsedBy: { keyId: 'k1', signature: 'sig' },
        };
        const k1: SigningKeyRecord = {
          keyId: 'k1',
          publicKey: 'pub1',
          encryptedPrivateKey: 'enc1',
          createdAt: 1000,
          endorsedBy: null,
        };
        const k0: SigningKeyRecord = {
          keyId: 'k0',
          publicKey: 'pub0',
          encryptedPrivateKey: 'enc0',
          createdAt: 2000,
          endorsedBy: null,
        };
        for (const key of [k2, k1, k0]) await store.addSigningKey(key, audit('signing-key.add', `key:${key.keyId}`));
        assert.deepEqual(await store.listSigningKeys(), [k1, k0, k2]);
        assert.deepEqual(
          (await allAudit(store)).map((r) => r.target),
          ['key:k2', 'key:k1', 'key:k0'],
        );
      });
    });

    void describe('instances', () => {
      const report = (
        instanceId: string,
        at: number,
        views: InstanceReport['views'],
        extra: Partial<InstanceReport> = {},
      ): InstanceReport => ({
        instanceId,
        attributes: { region: 'eu', zone: 'eu-1' },
        health: 'ok',
        healthDetail: '',
        views,
        at,
        ...extra,
      });
      const view = (
        namespace: string,
        labels: string[],
        seq: number,
        status: 'applied' | 'rejected' = 'applied',
        reason = '',
      ): InstanceReport['views'][number] => ({
        namespace,
        labels,
        seq,
        digest: `d${seq}`,
        status,
        reason,
      });

      test('recordReports keeps the latest report of each instance; listInstances filters by namespace and last seen', async (store) => {
        await store.recordReports([]);
        await store.recordReports([
          report('i-2', 1000, [view('app', ['default', 'prod'], 3), view('other', [], 1)]),
          report('i-1', 1000, [view('app', ['default'], 2)]),
          report('i-3', 500, [view('app', ['default'], 1)]),
          report('i-4', 1000, [view('other', [], 1)]),
        ]);
        await store.recordReports([
          report('i-1', 2000, [view('app', ['default'], 4, 'rejected', 'digest mismatch')], {
            health: 'degraded',
            healthDetail: 'slow',
            attributes: { region: 'us' },
          }),
          // An older report arriving late changes nothing.
          report('i-2', 900, [view('app', ['default', 'prod'], 1)], { health: 'failing' }),
        ]);
        const instances = await store.listInstances({ namespace: 'app', seenSince: 1000 });
        assert.deepEqual(instances, [
          {
            instanceId: 'i-1',
            attributes: { region: 'us' },
            health: 'degraded',
            healthDetail: 'slow',
            lastSeen: 2000,
            views: [
              {
                namespace: 'app',
                labels: ['default'],
                seq: 4,
                digest: 'd4',
                status: 'rejected',
                reason: 'digest mismatch',
                updatedAt: 2000,
              },
            ],
          },
          {
            instanceId: 'i-2',
            attributes: { region: 'eu', zone: 'eu-1' },
            health: 'ok',
            healthDetail: '',
            lastSeen: 1000,
            views: [
              {
                namespace: 'app',
                labels: ['default', 'prod'],
                seq: 3,
                digest: 'd3',
                status: 'applied',
                reason: '',
                updatedAt: 1000,
              },
            ],
          },
        ]);
        assert.deepEqual(
          (await store.listInstances({ namespace: 'app', seenSince: 0 })).map((i) => i.instanceId),
          ['i-1', 'i-2', 'i-3'],
        );
        assert.deepEqual(
          (await store.listInstances({ namespace: 'other', seenSince: 0 })).map((i) => i.instanceId),
          ['i-2', 'i-4'],
        );
        assert.deepEqual(await store.listInstances({ namespace: 'app', seenSince: 3000 }), []);
      });
    });

    void describe('settings', () => {
      test('putSetting sets and overwrites, audited; getSetting reads it', async (store) => {
        assert.equal(await store.getSetting('policy'), undefined);
        await store.putSetting('policy', '{"a":1}', audit('settings.put', 'setting:policy'));
        assert.equal(await store.getSetting('policy'), '{"a":1}');
        await store.putSetting('policy', '', audit('settings.put', 'setting:policy'));
        assert.equal(await store.getSetting('policy'), '');
        assert.equal((await allAudit(store)).length, 2);
        assert.equal(await store.claimSetting('policy', 'claimed'), '', 'a put value is what a claim finds');
      });

      test('claimSetting: the first value wins, and every later claim returns it', async (store) => {
        assert.equal(await store.claimSetting('key-fingerprint', 'abc'), 'abc');
        assert.equal(await store.claimSetting('key-fingerprint', 'other'), 'abc');
        assert.equal(await store.claimSetting('empty', ''), '');
        assert.equal(await store.claimSetting('empty', 'x'), '');
        const raced = await Promise.all(Array.from({ length: 10 }, (_, i) => store.claimSetting('raced', `v${i}`)));
        assert.equal(new Set(raced).size, 1, 'concurrent claims all see one winner');
        assert.match(raced[0] as string, /^v\d$/u);
        assert.equal(await store.claimSetting('raced', 'late'), raced[0]);
      });
    });

    void describe('access keys', () => {
      test('createAccessKey makes a token and its key at once; findAccessKey finds it by token id, and sees revocation', async (store) => {
        const t = token('k1', 1000, { scopes: [{ namespaces: 'app', role: 'reader' }] });
        await store.createAccessKey(
          { token: t, encryptedSecret: 'v1:sealed' },
          audit('token.create', 'token:k1', { azure: true }),
        );
        assert.deepEqual(await store.findAccessKey('k1'), { token: t, encryptedSecret: 'v1:sealed' });
        assert.deepEqual(await store.findToken(t.tokenHash), t, 'it is a token like any other');
        assert.deepEqual(
          (await store.listTokens()).map((x) => x.id),
          ['k1'],
        );
        await store.createToken(token('plain', 2000), audit('token.create'));
        assert.equal(await store.findAccessKey('plain'), undefined, 'a plain token is not an access key');
        assert.equal(await store.findAccessKey('nope'), undefined);
        await store.revokeToken('k1', 5000, audit('token.revoke', 'token:k1'));
        assert.equal((await store.findAccessKey('k1'))?.token.revokedAt, 5000);
        assert.deepEqual(
          (await allAudit(store)).map((r) => r.action),
          ['token.create', 'token.create', 'token.revoke'],
        );
      });

      test('createAccessKey with a taken id writes nothing', async (store) => {
        await store.createToken(token('k1', 1000), audit('token.create'));
        const before = await allAudit(store);
        await assert.rejects(
          store.createAccessKey(
            { token: token('k1', 2000, { tokenHash: 'other'.padEnd(64, '0') }), encryptedSecret: 's' },
            audit('token.create'),
          ),
        );
        assert.equal(await store.findAccessKey('k1'), undefined);
        assert.deepEqual(await allAudit(store), before);
      });
    });

    void describe('point-in-time reads', () => {
      test('namespaceRevisionAt is the newest commit of the namespace at or before a time', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        const before = Date.now() - 1;
        assert.equal(await store.namespaceRevisionAt('app', Date.now()), 0);
        const r1 = await commit(store, 'app', [set('a', '1')]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        const between = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 5));
        await commit(store, 'other', [set('a', '1')]);
        const r3 = await commit(store, 'app', [set('a', '2')]);
        assert.equal(await store.namespaceRevisionAt('app', before), 0);
        assert.equal(await store.namespaceRevisionAt('app', between), r1.revision);
        assert.equal(await store.namespaceRevisionAt('app', Date.now() + 1000), r3.revision);
        assert.equal(await store.namespaceRevisionAt('other', between), 0);
        assert.equal(await store.namespaceRevisionAt('missing', Date.now()), 0);
      });
    });

    void describe('snapshots', () => {
      const record = (name: string, extra: Partial<SnapshotRecord> = {}): SnapshotRecord => ({
        namespace: 'app',
        name,
        status: 'ready',
        filters: [
          { key: 'a*', label: '' },
          { key: 'b', tags: ['t=1'] },
        ],
        compositionType: 'key',
        retentionPeriod: 3600,
        tags: { team: 'x' },
        createdAt: 1000,
        expiresAt: null,
        revision: 0,
        itemsCount: 0,
        size: 0,
        etag: `etag-${name}`,
        ...extra,
      });

      test('createSnapshot keeps a copy of its items that later commits do not change', async (store) => {
        await createNs(store, 'app');
        const first = await commit(store, 'app', [
          set('a1', 'one'),
          set('a2', 'two', 'prod', { tags: { t: '1' } }),
          set('zz', '{}', '', { contentType: 'application/json' }),
        ]);
        const items = await store.readEntries({ namespace: 'app' });
        const snap = record('s1', { revision: first.revision, itemsCount: items.length, size: 42 });
        assert.deepEqual(await store.createSnapshot(snap, items, audit('snapshot.create', 'namespace:app')), snap);
        await commit(store, 'app', [set('a1', 'changed'), op('delete', 'zz')]);
        assert.deepEqual(await store.getSnapshot('app', 's1'), snap);
        assert.deepEqual(await store.readSnapshotItems({ namespace: 'app', name: 's1' }), items);
        assert.deepEqual(
          addresses(
            await store.readSnapshotItems({ namespace: 'app', name: 's1', after: { key: 'a1', label: '' }, limit: 1 }),
          ),
          ['a2|prod'],
        );
        assert.deepEqual(
          addresses(
            await store.readSnapshotItems({ namespace: 'app', name: 's1', after: { key: 'a2', label: 'prod' } }),
          ),
          ['zz|'],
        );
        assert.deepEqual(await store.readSnapshotItems({ namespace: 'app', name: 'missing' }), []);
        assert.equal(await store.getSnapshot('app', 'missing'), undefined);
        assert.equal(await store.getSnapshot('other', 's1'), undefined);
      });

      test('a snapshot name is taken until the archived snapshot expires; an empty snapshot is fine', async (store) => {
        await createNs(store, 'app');
        await store.createSnapshot(record('s1'), [], audit('snapshot.create'));
        const before = await allAudit(store);
        await rejectsWith(
          store.createSnapshot(record('s1', { createdAt: 99_999 }), [], audit('snapshot.create')),
          'snapshot_exists',
        );
        await rejectsWith(
          store.createSnapshot(record('s1', { namespace: 'nope' }), [], audit('snapshot.create')),
          'namespace_not_found',
        );
        assert.deepEqual(await allAudit(store), before, 'failures record nothing');
        await store.updateSnapshot(
          'app',
          's1',
          { status: 'archived', expiresAt: 5000, etag: 'e2' },
          undefined,
          audit('snapshot.archive'),
        );
        await rejectsWith(
          store.createSnapshot(record('s1', { createdAt: 4999 }), [], audit('snapshot.create')),
          'snapshot_exists',
        );
        const replacement = record('s1', { createdAt: 5000, etag: 'e3' });
        await store.createSnapshot(replacement, [], audit('snapshot.create'));
        assert.deepEqual(await store.getSnapshot('app', 's1'), replacement);
      });

      test('updateSnapshot sets status, expiry and etag, honours ifEtag; listSnapshots pages by name', async (store) => {
        await createNs(store, 'app');
        await createNs(store, 'other');
        for (const name of ['c', 'a', 'b']) await store.createSnapshot(record(name), [], audit('snapshot.create'));
        await store.createSnapshot(record('a', { namespace: 'other' }), [], audit('snapshot.create'));
        const archived = await store.updateSnapshot(
          'app',
          'b',
          { status: 'archived', expiresAt: 9000, etag: 'e2' },
          'etag-b',
          audit('snapshot.archive'),
        );
        assert.deepEqual(archived, record('b', { status: 'archived', expiresAt: 9000, etag: 'e2' }));
        assert.deepEqual(await store.getSnapshot('app', 'b'), archived);
        const count = (await allAudit(store)).length;
        await rejectsWith(
          store.updateSnapshot('app', 'b', { status: 'ready', expiresAt: null, etag: 'e3' }, 'etag-b', audit('x')),
          'precondition_failed',
        );
        await rejectsWith(
          store.updateSnapshot('app', 'zz', { status: 'ready', expiresAt: null, etag: 'e3' }, undefined, audit('x')),
          'snapshot_not_found',
        );
        assert.equal((await allAudit(store)).length, count);
        assert.deepEqual(
          (await store.listSnapshots({ namespace: 'app', limit: 10 })).map((x) => x.name),
          ['a', 'b', 'c'],
        );
        assert.deepEqual(
          (await store.listSnapshots({ namespace: 'app', after: 'a', limit: 1 })).map((x) => x.name),
          ['b'],
        );
        assert.deepEqual(
          (await store.listSnapshots({ namespace: 'other', limit: 10 })).map((x) => x.namespace),
          ['other'],
        );
      });

      test('deleting a namespace removes its snapshots and their items', async (store) => {
        await createNs(store, 'app');
        await commit(store, 'app', [set('a', '1')]);
        await store.createSnapshot(
          record('s1'),
          await store.readEntries({ namespace: 'app' }),
          audit('snapshot.create'),
        );
        await store.deleteNamespace('app', { force: true }, audit('namespace.delete'));
        await createNs(store, 'app');
        assert.equal(await store.getSnapshot('app', 's1'), undefined);
        assert.deepEqual(await store.readSnapshotItems({ namespace: 'app', name: 's1' }), []);
        await store.createSnapshot(record('s1'), [], audit('snapshot.create'));
      });
    });

    void describe('audit', () => {
      test('every mutating call appends exactly one record, and the chain verifies', async (store) => {
        const expected: Array<{ action: string; target: string; details: Record<string, unknown> }> = [];
        const check = async (): Promise<void> => {
          const records = await allAudit(store);
          assert.deepEqual(
            records.map((r) => ({ action: r.action, target: r.target, details: r.details })),
            expected,
          );
          assert.ok(records.every((r) => r.actor === 'tester'));
        };
        await store.createNamespace(
          { name: 'app', description: '', schema: null },
          audit('namespace.create', 'namespace:app', { why: 'test' }),
        );
        expected.push({ action: 'namespace.create', target: 'namespace:app', details: { why: 'test' } });
        await check();
        await store.updateNamespace('app', { description: 'd' }, audit('namespace.update', 'namespace:app'));
        expected.push({ action: 'namespace.update', target: 'namespace:app', details: {} });
        await check();
        await store.commit(
          request('app', [set('a', '1'), set('b', '2')]),
          audit('entries.commit', 'namespace:app', { keys: 2 }),
          noLimit,
        );
        expected.push({ action: 'entries.commit', target: 'namespace:app', details: { keys: 2, revision: 1 } });
        await check();
        await store.commit(request('app', [set('a', '3')]), audit('entries.commit', 'namespace:app'), noLimit);
        expected.push({ action: 'entries.commit', target: 'namespace:app', details: { revision: 2 } });
        await store.compact(2, audit('store.compact', 'store'));
        expected.push({ action: 'store.compact', target: 'store', details: { revision: 2, removedVersions: 1 } });
        await check();
        await store.createToken(token('t', 1), audit('token.create', 'token:t'));
        expected.push({ action: 'token.create', target: 'token:t', details: {} });
        await store.revokeToken('t', 2, audit('token.revoke', 'token:t'));
        expected.push({ action: 'token.revoke', target: 'token:t', details: {} });
        await check();
        const appended = await store.appendAudit(
          audit('login', 'user:x', { ip: '127.0.0.1', nested: { ok: true, n: 1.5 } }),
        );
        expected.push({
          action: 'login',
          target: 'user:x',
          details: { ip: '127.0.0.1', nested: { ok: true, n: 1.5 } },
        });
        await store.deleteNamespace('app', { force: true }, audit('namespace.delete', 'namespace:app'));
        expected.push({ action: 'namespace.delete', target: 'namespace:app', details: {} });
        await check();
        // Failures record nothing.
        await rejectsWith(
          store.updateNamespace('app', { description: 'x' }, audit('namespace.update')),
          'namespace_not_found',
        );
        await rejectsWith(
          store.deleteNamespace('app', { force: true }, audit('namespace.delete')),
          'namespace_not_found',
        );
        await rejectsWith(commit(store, 'app', [set('a', '1')]), 'namespace_not_found');
        await check();

        const records = await allAudit(store);
        assert.deepEqual(
          records.map((r) => r.seq),
          expected.map((_, i) => i + 1),
        );
        assert.deepEqual(records[7], appended, 'appendAudit returns the record as stored');
        const verifier = new AuditChainVerifier();
        for (const r of records) verifier.add(r);
        const verdict = verifier.result();
        assert.equal(verdict.ok, true, JSON.stringify(verdict.firstBad));
        assert.equal(verdict.count, expected.length);
        assert.equal(verdict.head, records.at(-1)?.hash);
        // The verifier is not a rubber stamp: a changed record fails it.
        const tampered = new AuditChainVerifier();
        for (const r of records) tampered.add(r.seq === 3 ? { ...r, target: 'namespace:other' } : r);
        assert.equal(tampered.result().ok, false);
      });

      test('listAudit pages with afterSeq and limit', async (store) => {
        for (let i = 0; i < 7; i += 1) await store.appendAudit(audit(`a${i}`));
        assert.deepEqual(
          (await store.listAudit({ limit: 3 })).map((r) => r.seq),
          [1, 2, 3],
        );
        assert.deepEqual(
          (await store.listAudit({ afterSeq: 3, limit: 3 })).map((r) => r.action),
          ['a3', 'a4', 'a5'],
        );
        assert.deepEqual(
          (await store.listAudit({ afterSeq: 6, limit: 3 })).map((r) => r.seq),
          [7],
        );
        assert.deepEqual(await store.listAudit({ afterSeq: 7, limit: 3 }), []);
      });

      test('concurrent audited calls keep one unbroken chain', async (store) => {
        await createNs(store, 'app');
        await Promise.all([
          ...Array.from({ length: 25 }, (_, i) => store.appendAudit(audit(`event${i}`))),
          ...Array.from({ length: 25 }, (_, i) => commit(store, 'app', [set(`k${i}`, 'v')])),
          ...Array.from({ length: 5 }, (_, i) => store.createToken(token(`t${i}`, i), audit('token.create'))),
        ]);
        const records = await allAudit(store);
        assert.equal(records.length, 56);
        const verifier = new AuditChainVerifier();
        for (const r of records) verifier.add(r);
        assert.equal(verifier.result().ok, true, JSON.stringify(verifier.result().firstBad));
        const revisions = records
          .filter((r) => r.action === 'entries.commit')
          .map((r) => r.details.revision as number)
          .sort((a, b) => a - b);
        assert.deepEqual(
          revisions,
          Array.from({ length: 25 }, (_, i) => i + 1),
        );
      });
    });

    void describe('watchRevisions', () => {
      test('listeners hear new revisions; an unsubscribed one hears no more', async (store) => {
        await createNs(store, 'app');
        const heardA: number[] = [];
        const heardB: number[] = [];
        const stopA = store.watchRevisions((r) => heardA.push(r));
        store.watchRevisions((r) => heardB.push(r));
        const first = await commit(store, 'app', [set('a', '1')]);
        await eventually(
          () => heardA.includes(first.revision) && heardB.includes(first.revision),
          'both listeners to hear revision 1',
        );
        stopA();
        const countA = heardA.length;
        const second = await commit(store, 'app', [set('a', '2')]);
        await eventually(() => heardB.includes(second.revision), 'the remaining listener to hear revision 2');
        const third = await commit(store, 'app', [set('a', '3')]);
        await eventually(() => heardB.includes(third.revision), 'the remaining listener to hear revision 3');
        assert.equal(heardA.length, countA, 'the unsubscribed listener heard nothing more');
        assert.ok(heardA.every((r) => r <= first.revision));
        for (let i = 1; i < heardB.length; i += 1)
          assert.ok((heardB[i] as number) > (heardB[i - 1] as number), 'revisions only grow');
      });
    });

    void describe('close', () => {
      test('close finishes accepted commits, is idempotent, and later calls fail with shutting_down', async (store) => {
        await createNs(store, 'app');
        const pending = commit(store, 'app', [set('a', '1')]);
        await store.close();
        assert.equal((await pending).revision, 1, 'a commit accepted before close completes');
        await store.close();
        await rejectsWith(store.currentRevision(), 'shutting_down');
        await rejectsWith(store.readEntries({ namespace: 'app' }), 'shutting_down');
        await rejectsWith(commit(store, 'app', [set('b', '1')]), 'shutting_down');
        await rejectsWith(store.appendAudit(audit('x')), 'shutting_down');
      });
    });
  });
}
