// A release's view derived from the previous release's (only the keys written between them read
// and rehashed) must be the view read whole, key for key, in the same order, with the same
// digest, and its delta the same as a diff of the whole views. Random histories (fast-check) of
// commits over labels in and out of the stack, secret and plain values, deletions, commits without
// a release between releases, compactions, and the namespace deleted and made again, on a real
// SQLite store and on the real PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  defaultLimits,
  diffViews,
  SecretCipher,
  systemClock,
  type AuditInput,
  type Change,
  type ViewSpec,
} from '@herald/core';
import { PostgresStore, SqliteStore, type Store } from '@herald/store';
import { createTestDatabase } from '@herald/testkit';
import { KeyRing } from '../src/delivery/keyring.js';
import { StoreViewOrigin, ViewService, type ComputedView } from '../src/delivery/views.js';
import { EntryCodec } from '../src/entry-codec.js';

const configuredRuns = Number(process.env.HERALD_PROPERTY_RUNS);
const sqliteRuns = Number.isSafeInteger(configuredRuns) && configuredRuns > 0 ? configuredRuns : 40;
/** A database each: PostgreSQL's runs cost more. */
const postgresRuns = Math.max(1, Math.ceil(sqliteRuns / 3));
const audit: AuditInput = { actor: 'tester', action: 'entries.commit', target: 'test' };
const noLimit = { maxEntriesPerNamespace: 1_000_000 };
const keys = ['a', 'b', 'c', 'd', 'e'];
/** `dev` is in no view's stack: writes to it must change nothing. */
const labels = ['', 'prod', 'dev'];
const specs: Array<{ labels: string[]; secrets: boolean }> = [
  { labels: [''], secrets: false },
  { labels: ['', 'prod'], secrets: false },
  { labels: ['', 'prod'], secrets: true },
];

type Step =
  | {
      kind: 'commit';
      release: boolean;
      changes: Array<
        { key: string; label: string; value: unknown; secret: boolean } | { key: string; label: string; deleted: true }
      >;
    }
  | { kind: 'compact' }
  | { kind: 'recreate' };

const value = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.constantFrom('x', 'y'),
  fc.record({ n: fc.integer({ min: 0, max: 2 }) }),
);
const change = fc.oneof(
  fc.record({ key: fc.constantFrom(...keys), label: fc.constantFrom(...labels), value, secret: fc.boolean() }),
  fc.record({ key: fc.constantFrom(...keys), label: fc.constantFrom(...labels), deleted: fc.constant(true as const) }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      release: fc.boolean(),
      changes: fc.array(change, { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'recreate' as const }) },
);

/** A fresh, empty store for one run, and how to be rid of it. */
type OpenStore = (run: number) => Promise<{ store: Store; close: () => Promise<void> }>;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-views-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const openSqlite: OpenStore = async (run) => {
  const store = SqliteStore.open({ path: join(dir, `herald-${run}.db`) });
  return { store, close: () => store.close() };
};

const openPostgres: OpenStore = async () => {
  const db = await createTestDatabase();
  const store = await PostgresStore.open({ connectionString: db.url });
  return {
    store,
    close: async () => {
      await store.close();
      await db.drop();
    },
  };
};

checkDerivedViews('SQLite', openSqlite, sqliteRuns);
checkDerivedViews('PostgreSQL', openPostgres, postgresRuns);

function checkDerivedViews(adapter: string, open: OpenStore, numRuns: number): void {
  void describe(`views derived from the previous release (${adapter})`, () => {
    /** A store of its own for each run: compaction is the whole store's, and a run compacts. */
    let store: Store;
    let close: (() => Promise<void>) | undefined;
    let codec: EntryCodec;
    let keyRing: KeyRing;
    let run = 0;
    let derivedViews = 0;
    let releases = 0;

    after(async () => {
      await close?.();
    });

    /** The store's change for a step's change: sealed as the API seals it; a delete of nothing is skipped. */
    async function toChanges(
      namespace: string,
      changes: Extract<Step, { kind: 'commit' }>['changes'],
    ): Promise<Change[]> {
      const out: Change[] = [];
      const seen = new Set<string>();
      for (const c of changes) {
        const address = `${c.key}\u0000${c.label}`;
        if (seen.has(address)) continue;
        seen.add(address);
        if ('deleted' in c) {
          const [live] = await store.readEntries({ namespace, key: c.key, labels: [c.label] });
          if (live) out.push({ op: 'delete', key: c.key, label: c.label });
          continue;
        }
        const encoded = codec.encodeValue(c.key, c.value, undefined);
        const text = codec.seal({ namespace, key: c.key, label: c.label }, encoded.text, c.secret);
        out.push({
          op: 'set',
          key: c.key,
          label: c.label,
          text,
          contentType: encoded.contentType,
          tags: {},
          secret: c.secret,
        });
      }
      return out;
    }

    void it('is the view read whole, with the same digest and delta, after every release', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
          run += 1;
          await close?.();
          ({ store, close } = await open(run));
          const cipher = new SecretCipher(SecretCipher.generateKey());
          codec = new EntryCodec(cipher, defaultLimits);
          keyRing = new KeyRing({ store, cipher, clock: systemClock });
          await keyRing.load();
          const namespace = 'ns';
          await store.createNamespace({ name: namespace, description: '', schema: null }, audit);
          const origin = new StoreViewOrigin({ store, codec, keys: keyRing, deriveFromKeys: 0 });
          const derived = new ViewService(origin);
          const whole = new StoreViewOrigin({ store, codec, keys: keyRing });
          const held = new Map<string, { derived: ComputedView; whole: ComputedView }>();
          for (const s of steps) {
            if (s.kind === 'compact') {
              // As far as the store allows: up to the namespace's newest release.
              const newest = await store.getRelease(namespace);
              if (newest) await store.compact(newest.revision, audit);
              continue;
            }
            if (s.kind === 'recreate') {
              // Its releases are numbered from 1 again: no view of the namespace before may stand for one.
              await store.deleteNamespace(namespace, { force: true }, audit);
              await store.createNamespace({ name: namespace, description: '', schema: null }, audit);
              held.clear();
              continue;
            }
            const changes = await toChanges(namespace, s.changes);
            if (changes.length === 0) continue;
            await store.commit({ namespace, changes, author: 't', message: '', release: s.release }, audit, noLimit);
            if (!s.release) continue;
            const record = await store.getRelease(namespace);
            assert.ok(record);
            const release = { namespace, seq: record.seq, revision: record.revision, createdAt: record.createdAt };
            releases += 1;
            for (const { labels: stack, secrets } of specs) {
              const spec: ViewSpec = { namespace, labels: stack };
              const got = await derived.at(spec, secrets, release);
              const want = await whole.compute(spec, secrets, record.seq);
              assert.ok(want);
              assert.deepEqual(Object.keys(got.values), Object.keys(want.values), 'the same keys, in the same order');
              assert.deepEqual(got.values, want.values);
              assert.equal(got.digest, want.digest);
              const id = `${stack.join(',')}|${secrets}`;
              const before = held.get(id);
              if (before) {
                const frame = derived.deltaFrame(before.derived, got).toString('utf8');
                const data = JSON.parse(frame.slice(frame.indexOf('data: ') + 6, frame.lastIndexOf('\n\n'))) as {
                  set: unknown;
                  remove: unknown;
                };
                const expected = diffViews(before.whole.values, want.values);
                assert.deepEqual(data.set, JSON.parse(JSON.stringify(expected.set)));
                assert.deepEqual(data.remove, expected.remove);
              }
              held.set(id, { derived: got, whole: want });
            }
          }
          derivedViews += origin.derivedViews;
        }),
        { numRuns },
      );
      // The derivation itself was what was checked, not only the whole reads it falls back to.
      assert.ok(derivedViews > releases, `${derivedViews} views derived over ${releases} releases of three views each`);
    });
  });
}
