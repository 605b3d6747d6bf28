// The SQLite store keeps namespace records, settings and the current revision in memory
// (record-memory.ts). These tests read the file through a second connection after every step of
// random sequences of commits (some refused inside their batch), namespace changes and settings,
// and require the store's answers to be what the file holds; they show the answers come from
// memory, read once, and that another connection's commit to the file is answered within a
// millisecond (SQLite's data_version is read at most once a millisecond).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { audit, op, request, set } from '../src/conformance/helpers.js';
import { toNamespace, type NamespaceRow } from '../src/rows.js';
import { SqliteDatabase } from '../src/sqlite/database.js';
import { SqliteRecordMemory } from '../src/sqlite/record-memory.js';
import type { NamespaceRecord } from '../src/types.js';
import { SqliteStore } from '../src/sqlite/sqlite-store.js';

/** Past the millisecond an answer from memory may rest on one data_version read. */
const pastRecheck = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

const runs = Number(process.env.HERALD_PROPERTY_RUNS) > 0 ? Number(process.env.HERALD_PROPERTY_RUNS) : 40;
const names = ['a', 'b'] as const;
const settingNames = ['s1', 's2'] as const;

type Step =
  | { kind: 'burst'; commits: Array<{ ns: 'a' | 'b'; key: number; remove: boolean; stale: boolean }> }
  | { kind: 'update'; ns: 'a' | 'b'; description: string; policy: boolean }
  | { kind: 'recreate'; ns: 'a' | 'b' }
  | { kind: 'setting'; name: 's1' | 's2'; value: string; claim: boolean };

const nsArb = fc.constantFrom(...names);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('burst' as const),
      commits: fc.array(
        fc.record({ ns: nsArb, key: fc.integer({ min: 0, max: 4 }), remove: fc.boolean(), stale: fc.boolean() }),
        { minLength: 1, maxLength: 6 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      ns: nsArb,
      description: fc.string(),
      policy: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recreate' as const), ns: nsArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('setting' as const),
      name: fc.constantFrom(...settingNames),
      value: fc.string(),
      claim: fc.boolean(),
    }),
  },
);

/** At most 3 live entries per namespace, so some commits are refused as `namespace_full` too. */
const limits = { maxEntriesPerNamespace: 3 };

async function run(store: SqliteStore, step: Step): Promise<void> {
  const ignore = () => undefined;
  switch (step.kind) {
    case 'burst':
      // Concurrent: one batch, where a refused commit is rolled back to its savepoint and the others stay.
      await Promise.all(
        step.commits.map((c) =>
          store
            .commit(
              request(c.ns, [c.remove ? op('delete', `k${c.key}`) : set(`k${c.key}`, 'v')], {
                ...(c.stale ? { ifNamespaceRevision: 0 } : {}),
              }),
              audit('entries.commit'),
              limits,
            )
            .catch(ignore),
        ),
      );
      return;
    case 'update':
      await store.updateNamespace(
        step.ns,
        { description: step.description, policy: step.policy ? { releaseOn: 'commit' } : null },
        audit('namespace.update'),
      );
      return;
    case 'recreate':
      await store.deleteNamespace(step.ns, { force: true }, audit('namespace.delete'));
      await store.createNamespace({ name: step.ns, description: '', schema: null }, audit('namespace.create'));
      return;
    case 'setting':
      if (step.claim) await store.claimSetting(step.name, step.value);
      else await store.putSetting(step.name, step.value, audit('setting.put'));
  }
}

async function withStore(body: (store: SqliteStore, file: Database.Database) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-record-memory-'));
  const store = SqliteStore.open({ path: join(dir, 'herald.db') });
  const file = new Database(join(dir, 'herald.db'));
  try {
    await body(store, file);
  } finally {
    file.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function fromFile(file: Database.Database, name: string) {
  const row = file.prepare('SELECT * FROM namespaces WHERE name = ?').get(name) as NamespaceRow | undefined;
  return row && toNamespace(row);
}

void describe('sqlite records kept in memory', () => {
  void it('answer what the file holds after every step of random commits, namespace changes and settings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
        await withStore(async (store, file) => {
          for (const name of names)
            await store.createNamespace({ name, description: '', schema: null }, audit('namespace.create'));
          for (const step of steps) {
            // Read first, so that each step starts with the records remembered.
            for (const name of names) await store.getNamespace(name);
            for (const name of settingNames) await store.getSetting(name);
            await store.currentRevision();
            await run(store, step);
            for (const name of names) assert.deepEqual(await store.getNamespace(name), fromFile(file, name), name);
            for (const name of settingNames)
              assert.equal(
                await store.getSetting(name),
                (file.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)
                  ?.value,
                name,
              );
            assert.equal(
              await store.currentRevision(),
              (file.prepare("SELECT value FROM meta WHERE name = 'revision'").get() as { value: number }).value,
            );
          }
        });
      }),
      { numRuns: runs },
    );
  });

  void it("answers from memory, read once; another connection's commit makes it read the file again", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-record-memory-'));
    const db = SqliteDatabase.open(join(dir, 'herald.db'));
    const other = new Database(join(dir, 'herald.db'));
    try {
      let now = 0;
      const memory = new SqliteRecordMemory(db, () => now);
      let loads = 0;
      const load = (): NamespaceRecord => {
        loads += 1;
        return {
          name: 'a',
          description: `read ${loads}`,
          schema: null,
          policy: null,
          revision: 0,
          entryCount: 0,
          createdAt: 0,
        };
      };
      assert.equal(memory.namespace('a', load)?.description, 'read 1');
      assert.equal(memory.namespace('a', load)?.description, 'read 1');
      assert.equal(
        memory.setting('s', () => 'x'),
        'x',
      );
      assert.equal(
        memory.setting('s', () => 'not read'),
        'x',
      );
      assert.equal(loads, 1);
      // Inside a transaction every read goes to the file, and nothing read there is remembered.
      db.transaction(() => memory.namespace('b', load));
      db.transaction(() => memory.namespace('b', load));
      assert.equal(loads, 3);
      // Another connection commits (another server on the folder, a manual fix): a millisecond on,
      // all is read again.
      other.prepare("INSERT INTO settings (name, value) VALUES ('elsewhere', 'x')").run();
      now += 1;
      assert.equal(memory.namespace('a', load)?.description, 'read 4');
      assert.equal(
        memory.setting('s', () => 'y'),
        'y',
      );
      assert.equal(
        memory.revision(() => 7),
        7,
      );
    } finally {
      other.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('reads data_version at most once a millisecond, before an answer from memory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-record-memory-'));
    const db = SqliteDatabase.open(join(dir, 'herald.db'));
    try {
      let now = 100;
      const memory = new SqliteRecordMemory(db, () => now);
      const read = db.dataVersion.bind(db);
      let checks = 0;
      db.dataVersion = () => {
        checks += 1;
        return read();
      };
      const record = (): NamespaceRecord => ({
        name: 'a',
        description: '',
        schema: null,
        policy: null,
        revision: 0,
        entryCount: 0,
        createdAt: 0,
      });
      memory.namespace('a', record);
      memory.namespace('a', record);
      memory.setting('s', () => 'x');
      memory.revision(() => 1);
      now += 0.5;
      memory.namespace('a', record);
      assert.equal(checks, 1);
      // Reads inside a transaction go to the file, and neither check nor count as a check.
      now += 0.5;
      db.transaction(() => memory.namespace('a', record));
      assert.equal(checks, 1);
      memory.setting('s', () => 'y');
      memory.namespace('a', record);
      memory.revision(() => 1);
      assert.equal(checks, 2);
      now += 5;
      memory.setting('s', () => 'z');
      assert.equal(checks, 3);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('answers within a millisecond what another connection commits to the file', async () => {
    await withStore(async (store, file) => {
      await store.createNamespace({ name: 'a', description: 'mine', schema: null }, audit('namespace.create'));
      await store.putSetting('s1', 'mine', audit('setting.put'));
      await store.commit(request('a', [set('k', 'v')]), audit('entries.commit'), limits);
      assert.equal((await store.getNamespace('a'))?.description, 'mine');
      assert.equal(await store.getSetting('s1'), 'mine');
      assert.equal(await store.currentRevision(), 1);
      file.prepare("UPDATE namespaces SET description = 'from elsewhere' WHERE name = 'a'").run();
      file.prepare("UPDATE settings SET value = 'from elsewhere' WHERE name = 's1'").run();
      file.prepare("UPDATE meta SET value = 99 WHERE name = 'revision'").run();
      await pastRecheck();
      assert.equal((await store.getNamespace('a'))?.description, 'from elsewhere');
      assert.equal(await store.getSetting('s1'), 'from elsewhere');
      assert.equal(await store.currentRevision(), 99);
    });
  });

  void it('a returned record is a copy: changing it changes nothing the store answers next', async () => {
    await withStore(async (store) => {
      await store.createNamespace({ name: 'a', description: 'kept', schema: null }, audit('namespace.create'));
      const first = await store.getNamespace('a');
      assert.ok(first);
      first.description = 'changed by a caller';
      first.revision = 42;
      assert.deepEqual(await store.getNamespace('a'), { ...first, description: 'kept', revision: 0 });
    });
  });
});
