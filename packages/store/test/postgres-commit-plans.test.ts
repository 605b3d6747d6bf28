// The commit round's statements are planned once per connection (herald_commit_round's generic
// plans), on the statistics of that moment. These tests make the plans on empty tables, fill the
// tables afterwards, and count what the round then reads, from PostgreSQL's own statistics: a
// commit of one key must look up what it changes, not scan what is there.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { AuditInput, Change } from '@herald/core';
import { PostgresStore } from '../src/postgres/postgres-store.js';
import { createTestDatabase, type TestDatabase } from '../src/testing/postgres-database.js';

const audit: AuditInput = { actor: 'tester', action: 'entries.commit', target: 'test' };
const noLimit = { maxEntriesPerNamespace: 1_000_000 };
const imported = 6_000;

function set(key: string, text: string): Change {
  return { op: 'set', key, label: '', text, contentType: 'text/plain', tags: {}, secret: false };
}

interface Counters {
  inserted: number;
  updated: number;
  latestIndexReads: number;
  namespaceScans: number;
}

void describe('PostgreSQL commit round plans', () => {
  let db: TestDatabase;
  let store: PostgresStore;
  let admin: pg.Client;

  /** The tables' counters, once PostgreSQL has published at least `inserted` inserted versions. */
  async function countersAfter(inserted: number): Promise<Counters> {
    // A backend publishes its counters at the end of a transaction a second or more after it last
    // did (else ten seconds after it went idle): a small read now and then has it do so soon.
    const deadline = Date.now() + 30_000;
    for (;;) {
      await store.readEntries({ namespace: 'small', key: 'k' });
      const { rows } = await admin.query<{ ins: string; upd: string; reads: string; scans: string }>(
        `SELECT (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'entry_versions') AS ins,
                (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'entry_versions') AS upd,
                (SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'entry_versions_latest') AS reads,
                (SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'namespaces') AS scans`,
      );
      const row = rows[0];
      if (row && Number(row.ins) >= inserted)
        return {
          inserted: Number(row.ins),
          updated: Number(row.upd),
          latestIndexReads: Number(row.reads),
          namespaceScans: Number(row.scans),
        };
      if (Date.now() > deadline) assert.fail(`PostgreSQL published ${row?.ins ?? 'no'} inserts, not ${inserted}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  before(async () => {
    db = await createTestDatabase();
    // One connection, so the commits after the import run on the plans made before it.
    store = await PostgresStore.open({ connectionString: db.url, poolSize: 1 });
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    // No ANALYZE behind the test's back: it would have the plans made again on the new statistics.
    for (const table of ['entry_versions', 'namespaces', 'releases'])
      await admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
  });

  after(async () => {
    await store?.close();
    await admin?.end();
    await db?.drop();
  });

  void it('after a bulk import, a one-key commit looks its key up rather than scanning every latest version', async () => {
    await store.createNamespace({ name: 'small', description: '', schema: null }, audit);
    await store.createNamespace({ name: 'big', description: '', schema: null }, audit);
    // The round's plans are made here, on tables that hold one version.
    await store.commit(
      { namespace: 'small', changes: [set('k', '0')], author: 't', message: '', release: true },
      audit,
      noLimit,
    );
    for (let start = 0; start < imported; start += 1_000) {
      const changes = Array.from({ length: 1_000 }, (_, i) => set(`key-${start + i}`, 'v'));
      await store.commit({ namespace: 'big', changes, author: 't', message: 'import', release: false }, audit, noLimit);
    }
    const before = await countersAfter(1 + imported);

    const commits = 10;
    for (let i = 1; i <= commits; i += 1)
      await store.commit(
        { namespace: 'small', changes: [set('k', String(i))], author: 't', message: '', release: true },
        audit,
        noLimit,
      );
    const then = await countersAfter(before.inserted + commits);

    assert.ok(then.updated - before.updated >= commits, 'each commit superseded the version before');
    const reads = then.latestIndexReads - before.latestIndexReads;
    // A lookup reads one index entry per commit (a few, with the round's own reads); a scan reads
    // all 6,001 latest versions per commit.
    assert.ok(reads < 100, `the ${commits} commits read ${reads} entries of the latest-version index`);
    assert.equal(then.namespaceScans - before.namespaceScans, 0, 'no commit scanned the namespaces table');
    const [small] = await store.readEntries({ namespace: 'small', key: 'k' });
    assert.equal(small?.text, String(commits));
  });
});
