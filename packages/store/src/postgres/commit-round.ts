import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  addressId,
  checkDistinctChanges,
  entryEtag,
  HeraldError,
  planCommit,
  type AuditInput,
  type CommitRequest,
  type Conflict,
  type EntryVersion,
} from '@herald/core';
import { toVersion, type EntryRow } from '../rows.js';
import { checkEntryLimit, namespaceNotFound, namespaceRevisionConflict } from '../rules.js';
import type { CommitResult, ReleaseRecord } from '../types.js';
import { isConnectionError } from './connection.js';
import type { PostgresContext, PostgresDatabase } from './database.js';
import { entryColumns } from './entry-reads.js';
import { lockNamespaces } from './namespaces.js';

/**
 * One group-commit round of the PostgreSQL store: every commit of the round decided in memory,
 * then written in one transaction.
 *
 * ## Revisions: gap-free, strictly increasing, never visible out of order
 *
 * A round's transaction first takes, in a fixed order, a transaction-level advisory lock per
 * namespace it writes, so that its preconditions are checked against a state no other node can
 * change before it commits (READ COMMITTED suffices then). It reads what it needs and decides every
 * outcome in memory. Only then does it allocate revisions, with
 * `UPDATE meta SET value = value + n ... RETURNING value`, and in the few statements left before
 * COMMIT it writes the rows that carry those numbers and appends to the audit chain.
 *
 * The row lock taken by that UPDATE is held until the transaction ends. So:
 * - the next allocation, by any node, waits until this transaction has committed or rolled back;
 *   PostgreSQL wakes the waiter only after the commit is visible to every new snapshot, so its
 *   UPDATE reads the value this one wrote (N), and gets N+1: strictly increasing;
 * - a transaction that rolls back undoes its increment, and the waiter re-reads the old value: the
 *   number is given back, so there are no gaps (a SEQUENCE would leave one);
 * - N+1 is allocated only after N committed, and it commits after it was allocated; a reader's
 *   snapshot that includes transaction N+1 was taken after N+1 committed, hence after N committed,
 *   so it includes N too. No reader, on any node, can see N+1 without N — which is what a watcher
 *   that reads "everything after the revision I have" relies on.
 * The lock is held only for the tail of the transaction (allocation, a few writes, the audit append,
 * COMMIT), not while preconditions are read and checked.
 *
 * ## Deciding before writing
 *
 * No savepoints are needed: a round decides every commit's outcome in memory before writing anything,
 * each commit seeing the effects of the ones before it in the round; a commit that fails (precondition,
 * lock, limit) is simply not written. One rule follows from deciding before allocating: a
 * precondition can never name a version written earlier in the same round (its revision is not
 * known yet, and no client can have read it), so it fails — as it would have serially, unless a
 * client guessed an unannounced revision.
 *
 * ## A COMMIT whose connection breaks
 *
 * If the connection breaks during COMMIT itself, the transaction's fate is looked up with
 * txid_status() so that a commit that did land is acknowledged rather than reported as failed.
 */

/** A commit waiting for its round. */
export interface PendingCommit {
  request: CommitRequest;
  audit: AuditInput;
  maxEntriesPerNamespace: number;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

export type Outcome = { ok: true; result: CommitResult } | { ok: false; error: unknown };

/**
 * One group-commit round in one transaction. Returns each commit's outcome; throws when the
 * transaction as a whole failed (nothing was written then, unless the error says otherwise).
 */
export async function commitRound(
  { db, audit, clock }: PostgresContext,
  client: pg.PoolClient,
  round: PendingCommit[],
): Promise<Outcome[]> {
  await client.query('BEGIN');
  let committing = false;
  let xid: string | undefined;
  const outcomes: Outcome[] = [];
  try {
    const names = [...new Set(round.map((item) => item.request.namespace))];
    await lockNamespaces(client, names);

    // Everything the round's decisions depend on, read under the namespace locks.
    const namespaces = new Map<string, { revision: number; entryCount: number; touched: boolean }>();
    const nsRows = await client.query<{ name: string; revision: number; entry_count: number }>(
      'SELECT name, revision, entry_count FROM namespaces WHERE name = ANY($1::text[])',
      [names],
    );
    for (const row of nsRows.rows)
      namespaces.set(row.name, { revision: row.revision, entryCount: row.entry_count, touched: false });
    const releaseSeqs = new Map<string, number>();
    if (round.some((item) => item.request.release)) {
      const seqRows = await client.query<{ namespace: string; seq: number }>(
        'SELECT namespace, max(seq) AS seq FROM releases WHERE namespace = ANY($1::text[]) GROUP BY namespace',
        [names],
      );
      for (const row of seqRows.rows) releaseSeqs.set(row.namespace, Number(row.seq));
    }
    const wanted = new Map<string, [string, string, string]>();
    for (const item of round) {
      if (!namespaces.has(item.request.namespace)) continue;
      for (const c of item.request.changes)
        wanted.set(slot(item.request.namespace, c), [item.request.namespace, c.key, c.label]);
    }
    /** The latest version of each address (tombstones included), updated as the round's commits are decided. */
    const latest = new Map<string, EntryVersion>();
    const inDatabase = new Set<string>();
    if (wanted.size > 0) {
      const columns = [...wanted.values()];
      const { rows } = await client.query<EntryRow>(
        `SELECT ${entryColumns} FROM entry_versions
         WHERE superseded_at IS NULL AND (namespace, key, label) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`,
        [columns.map((c) => c[0]), columns.map((c) => c[1]), columns.map((c) => c[2])],
      );
      for (const row of rows) {
        latest.set(slot(row.namespace, row), toVersion(row));
        inDatabase.add(slot(row.namespace, row));
      }
    }

    // Decide every commit, in order, each seeing the ones before it. Versions written earlier in
    // the round get their revision only at allocation; until then it is NaN, which equals nothing,
    // and their ETag is a random string, so no precondition can match them.
    const pendingEtag = `pending-${randomUUID()}`;
    const etagOf = (v: EntryVersion): string => (Number.isNaN(v.revision) ? pendingEtag : entryEtag(v, v.revision));
    const origin = new Map<EntryVersion, number>(); // version → index in `accepted`
    const accepted: Array<{ index: number; item: PendingCommit; versions: EntryVersion[]; revision: number }> = [];
    const fixups: Array<() => void> = [];
    const now = clock.now();
    round.forEach((item, index) => {
      const { request } = item;
      try {
        checkDistinctChanges(request.changes);
        const namespace = namespaces.get(request.namespace);
        if (!namespace) throw namespaceNotFound(request.namespace);
        const stale = namespaceRevisionConflict(request, namespace.revision, namespace.touched);
        if (stale) {
          if (namespace.touched) {
            const writer = [...accepted].reverse().find((a) => a.item.request.namespace === request.namespace);
            fixups.push(() => (stale.extensions.namespaceRevision = writer?.revision));
          }
          throw stale;
        }
        const current = new Map<string, EntryVersion>();
        for (const change of request.changes) {
          const version = latest.get(slot(request.namespace, change));
          if (version) current.set(addressId(change), version);
        }
        let plan;
        try {
          plan = planCommit(request, current, etagOf, Number.NaN, now);
        } catch (error) {
          if (error instanceof HeraldError && Array.isArray(error.extensions.conflicts)) {
            for (const conflict of error.extensions.conflicts as Conflict[]) {
              const version = current.get(addressId(conflict));
              if (version && origin.has(version)) {
                const writer = accepted[origin.get(version) as number];
                fixups.push(() => (conflict.actualRevision = writer?.revision ?? null));
              }
            }
          }
          throw error;
        }
        namespace.entryCount = checkEntryLimit(
          request.namespace,
          namespace.entryCount,
          plan.liveDelta,
          item.maxEntriesPerNamespace,
        );
        namespace.touched = true;
        for (const version of plan.versions) {
          latest.set(slot(request.namespace, version), version);
          origin.set(version, accepted.length);
        }
        accepted.push({ index, item, versions: plan.versions, revision: Number.NaN });
        outcomes.push({ ok: true, result: { revision: Number.NaN, versions: plan.versions } });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
    });
    if (accepted.length === 0) {
      await client.query('ROLLBACK');
      return outcomes;
    }

    // The tail: from here to COMMIT, this transaction holds the revision row lock.
    const allocated = await client.query<{ value: number; xid: string }>(
      "UPDATE meta SET value = value + $1 WHERE name = 'revision' RETURNING value, txid_current()::text AS xid",
      [accepted.length],
    );
    const top = (allocated.rows[0] as { value: number }).value;
    xid = allocated.rows[0]?.xid;
    const base = top - accepted.length;
    accepted.forEach((a, i) => {
      a.revision = base + i + 1;
      for (const v of a.versions) v.revision = a.revision;
      outcomes[a.index] = { ok: true, result: { revision: a.revision, versions: a.versions } };
    });
    for (const fix of fixups) fix();

    // Releases of `immediate` namespaces, numbered in commit order under the namespace locks.
    const releases: ReleaseRecord[] = [];
    for (const a of accepted) {
      const { request } = a.item;
      if (!request.release) continue;
      const seq = (releaseSeqs.get(request.namespace) ?? 0) + 1;
      releaseSeqs.set(request.namespace, seq);
      const release: ReleaseRecord = {
        namespace: request.namespace,
        seq,
        revision: a.revision,
        kind: 'commit',
        author: request.author,
        note: request.message,
        createdAt: now,
      };
      releases.push(release);
      outcomes[a.index] = { ok: true, result: { revision: a.revision, versions: a.versions, release } };
    }
    if (releases.length > 0) {
      await client.query(
        `INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[])`,
        [
          releases.map((r) => r.namespace),
          releases.map((r) => r.seq),
          releases.map((r) => r.revision),
          releases.map((r) => r.kind),
          releases.map((r) => r.author),
          releases.map((r) => r.note),
          releases.map((r) => r.createdAt),
        ],
      );
    }

    // Old latest versions are superseded by the round's first write to their address; each of the
    // round's versions by the round's next write to the same address, if any.
    const firstWrite = new Map<string, number>();
    const versions = accepted.flatMap((a) => a.versions);
    const supersededAt: Array<number | null> = versions.map(() => null);
    const lastIndex = new Map<string, number>();
    versions.forEach((v, i) => {
      const id = slot(v.namespace, v);
      if (!firstWrite.has(id)) firstWrite.set(id, v.revision);
      const previous = lastIndex.get(id);
      if (previous !== undefined) supersededAt[previous] = v.revision;
      lastIndex.set(id, i);
    });
    const supersede = [...firstWrite].filter(([id]) => inDatabase.has(id));
    if (supersede.length > 0) {
      await client.query(
        `UPDATE entry_versions e SET superseded_at = s.revision
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS s(namespace, key, label, revision)
         WHERE e.namespace = s.namespace AND e.key = s.key AND e.label = s.label AND e.superseded_at IS NULL`,
        [
          supersede.map(([id]) => (latest.get(id) as EntryVersion).namespace),
          supersede.map(([id]) => (latest.get(id) as EntryVersion).key),
          supersede.map(([id]) => (latest.get(id) as EntryVersion).label),
          supersede.map(([, revision]) => revision),
        ],
      );
    }
    const touched = [...namespaces].filter(([, ns]) => ns.touched);
    await client.query(
      `WITH v AS (
         INSERT INTO entry_versions (namespace, key, label, revision, superseded_at, value, content_type, tags, locked, secret, deleted, author, created_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bytea[], $7::text[], $8::text[],
                              $9::boolean[], $10::boolean[], $11::boolean[], $12::text[], $13::bigint[])
       ), c AS (
         INSERT INTO commits (revision, namespace, author, message, created_at, changes)
         SELECT * FROM unnest($14::bigint[], $15::text[], $16::text[], $17::text[], $18::bigint[], $19::text[])
       )
       UPDATE namespaces n SET revision = u.revision, entry_count = u.entry_count
       FROM unnest($20::text[], $21::bigint[], $22::bigint[]) AS u(name, revision, entry_count)
       WHERE n.name = u.name`,
      [
        versions.map((v) => v.namespace),
        versions.map((v) => v.key),
        versions.map((v) => v.label),
        versions.map((v) => v.revision),
        supersededAt,
        versions.map((v) => Buffer.from(v.text, 'utf8')),
        versions.map((v) => v.contentType),
        versions.map((v) => JSON.stringify(v.tags)),
        versions.map((v) => v.locked),
        versions.map((v) => v.secret),
        versions.map((v) => v.deleted),
        versions.map((v) => v.author),
        versions.map((v) => v.createdAt),
        accepted.map((a) => a.revision),
        accepted.map((a) => a.item.request.namespace),
        accepted.map((a) => a.item.request.author),
        accepted.map((a) => a.item.request.message),
        accepted.map(() => now),
        accepted.map((a) =>
          JSON.stringify(a.item.request.changes.map((c) => ({ op: c.op, key: c.key, label: c.label }))),
        ),
        touched.map(([name]) => name),
        touched.map(([name]) =>
          Math.max(...accepted.filter((a) => a.item.request.namespace === name).map((a) => a.revision)),
        ),
        touched.map(([, ns]) => ns.entryCount),
      ],
    );
    await audit.appendIn(
      client,
      accepted.map((a) => {
        const outcome = outcomes[a.index];
        const release = outcome?.ok ? outcome.result.release : undefined;
        return {
          ...a.item.audit,
          details: { ...a.item.audit.details, revision: a.revision, ...(release ? { releaseSeq: release.seq } : {}) },
        };
      }),
      top,
    );
    committing = true;
    await client.query('COMMIT');
    return outcomes;
  } catch (error) {
    if (committing && isConnectionError(error) && xid !== undefined) {
      // The connection broke during COMMIT: the transaction may or may not have committed.
      const status = await transactionStatus(db, xid);
      // Every outcome was decided and filled in before COMMIT was sent.
      if (status === 'committed') return outcomes;
      if (status === undefined) {
        throw new HeraldError(
          'unavailable',
          'PostgreSQL became unreachable during COMMIT; whether the commit applied is unknown',
          {
            cause: error,
            retryAfter: 1,
            extensions: { outcome: 'unknown' },
          },
        );
      }
    }
    if (!isConnectionError(error)) await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function transactionStatus(
  db: PostgresDatabase,
  xid: string,
): Promise<'committed' | 'aborted' | 'in progress' | undefined> {
  try {
    const { rows } = await db.query<{ status: string | null }>('SELECT txid_status($1::bigint) AS status', [xid]);
    const status = rows[0]?.status;
    return status === 'committed' || status === 'aborted' || status === 'in progress' ? status : undefined;
  } catch {
    return undefined;
  }
}

/** Identity of an entry across namespaces, for the maps of a group-commit round. */
function slot(namespace: string, address: { key: string; label: string }): string {
  return `${namespace}\u0000${addressId(address)}`;
}
