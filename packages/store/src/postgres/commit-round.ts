import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  addressId,
  chainAuditRecord,
  checkDistinctChanges,
  entryEtag,
  HeraldError,
  planCommit,
  type AuditInput,
  type AuditRecord,
  type CommitRequest,
  type Conflict,
  type EntryVersion,
} from '@herald/core';
import { checkEntryLimit, namespaceNotFound, namespaceRevisionConflict } from '../rules.js';
import type { CommitResult, ReleaseRecord } from '../types.js';
import { isConnectionError } from './connection.js';
import type { PostgresContext, PostgresDatabase } from './database.js';
import { lockNamespaces, namespaceLockClass, namespaceLockKeys } from './namespaces.js';
import { encodeChange, type RecordChange } from './record-cache.js';
import { slot, type NamespaceBasis, type RoundBasis, type RoundBasisMemory } from './round-basis.js';

/**
 * One group-commit round of the PostgreSQL store: every commit of the round decided in memory on a
 * basis (the state it depends on), then written by one call of `herald_commit_round` (migrations.ts)
 * that first checks that basis is still current.
 *
 * ## Revisions: gap-free, strictly increasing, never visible out of order
 *
 * `herald_commit_round` takes, in a fixed order, a transaction-level advisory lock per namespace it
 * writes, so that no other node can change those namespaces before it commits (READ COMMITTED
 * suffices then), and checks their rows and newest releases against the basis. Only then does it
 * allocate the round's revisions, with `UPDATE meta SET value = value + n WHERE value = <basis>`, and
 * in the few statements left before COMMIT it writes the rows that carry those numbers and appends
 * the round's records to the audit chain (whose head must be the basis's too).
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
 * The lock is held only inside that one call and its COMMIT.
 *
 * ## The basis: from memory first, under locks when it is contended
 *
 * A round is first decided on what this node remembers from its own last round (`round-basis.ts`):
 * with one writing node that is exact, and the round costs one statement, its own transaction: one
 * round trip, one WAL flush. If the check finds the basis stale (another node or another kind of
 * write intervened), nothing is written and the round is decided again on a basis read afresh; if
 * that one is stale too, or if any commit of the round would be refused (a refusal must not rest on
 * a remembered state), the round takes its namespaces' locks first, reads its basis under them, and
 * then writes: that basis can only be outdated by another namespace's commit or audit record, and
 * the round is then simply tried again.
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
 * ## A commit whose connection breaks
 *
 * If the connection breaks while the round commits (during the call that is its own transaction, or
 * during COMMIT), its fate is looked up (is its first audit record there?) so that a commit that did
 * land is acknowledged rather than reported as failed.
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

/** Rounds decided on a basis without locks before the round takes its namespaces' locks. */
const unlockedAttempts = 2;
/** How long rounds go straight to the namespaces' locks after a round found its basis stale. */
const contendedMs = 250;
/** Rounds under the namespaces' locks before giving up (each outdated only by other namespaces' writes). */
const lockedAttempts = 10;

/**
 * One group-commit round. Returns each commit's outcome; throws when the round as a whole failed
 * (nothing was written then, unless the error says otherwise).
 */
export async function commitRound(
  context: PostgresContext,
  memory: RoundBasisMemory,
  client: pg.PoolClient,
  round: PendingCommit[],
): Promise<Outcome[]> {
  const names = [...new Set(round.map((item) => item.request.namespace))];
  const addresses = new Map<string, [string, string, string]>();
  for (const { request } of round)
    for (const c of request.changes) addresses.set(slot(request.namespace, c), [request.namespace, c.key, c.label]);
  const wanted = [...addresses.values()];

  const contended = memory.contendedUntil > context.clock.now();
  for (let attempt = 0; attempt < (contended ? 0 : unlockedAttempts); attempt += 1) {
    const basis = await memory.basis(client, names, wanted, attempt > 0);
    const decision = decide(round, basis, context.clock.now());
    if (decision.outcomes.some((outcome) => !outcome.ok)) break;
    const outcomes = await writeRound(context, memory, client, decision, basis, false);
    if (outcomes) return outcomes;
    memory.stale(basis);
    // Another writer is active: for a while, wait for the locks before deciding rather than after.
    memory.contendedUntil = context.clock.now() + contendedMs;
  }
  for (let attempt = 0; attempt < lockedAttempts; attempt += 1) {
    await client.query('BEGIN');
    let basis: RoundBasis;
    try {
      await lockNamespaces(client, names);
      basis = await memory.basis(client, names, wanted, true);
    } catch (error) {
      if (!isConnectionError(error)) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    const decision = decide(round, basis, context.clock.now());
    if (decision.accepted.length === 0) {
      await client.query('ROLLBACK');
      return decision.outcomes;
    }
    const outcomes = await writeRound(context, memory, client, decision, basis, true);
    if (outcomes) return outcomes;
    memory.stale(basis);
  }
  throw new HeraldError('unavailable', 'the commit round met other writes on every attempt; try again', {
    retryAfter: 1,
  });
}

interface Accepted {
  index: number;
  item: PendingCommit;
  versions: EntryVersion[];
  revision: number;
}

/** A round decided on a basis: each commit's outcome, and what the accepted ones write. */
interface Decision {
  outcomes: Outcome[];
  accepted: Accepted[];
  /** Fill in, once revisions are allocated, the revisions that refusals name. */
  fixups: Array<() => void>;
  namespaces: Map<string, NamespaceBasis & { touched: boolean }>;
  /** Addresses with a latest version in the database before the round. */
  inDatabase: Set<string>;
  now: number;
}

/** Decides every commit, in order, each seeing the ones before it. */
function decide(round: PendingCommit[], basis: RoundBasis, now: number): Decision {
  const namespaces = new Map([...basis.namespaces].map(([name, ns]) => [name, { ...ns, touched: false }]));
  /** The latest version of each address (tombstones included), updated as the round's commits are decided. */
  const latest = new Map(basis.latest);
  const inDatabase = new Set(basis.latest.keys());
  // Versions written earlier in the round get their revision only at allocation; until then it is
  // NaN, which equals nothing, and their ETag is a random string, so no precondition can match them.
  const pendingEtag = `pending-${randomUUID()}`;
  const etagOf = (v: EntryVersion): string => (Number.isNaN(v.revision) ? pendingEtag : entryEtag(v, v.revision));
  const origin = new Map<EntryVersion, number>(); // version → index in `accepted`
  const accepted: Accepted[] = [];
  const outcomes: Outcome[] = [];
  const fixups: Array<() => void> = [];
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
  return { outcomes, accepted, fixups, namespaces, inDatabase, now };
}

/** The arguments of `herald_commit_round` for a decided round, numbered from the basis. */
function prepareWrite(decision: Decision, basis: RoundBasis) {
  const { accepted, namespaces, inDatabase, now } = decision;
  const base = basis.revision;
  const top = base + accepted.length;
  accepted.forEach((a, i) => {
    a.revision = base + i + 1;
    for (const v of a.versions) v.revision = a.revision;
  });

  // Releases of `immediate` namespaces, numbered in commit order.
  const releaseSeqs = new Map([...namespaces].map(([name, ns]) => [name, ns.releaseSeq]));
  const releases = new Map<Accepted, ReleaseRecord>();
  for (const a of accepted) {
    const { request } = a.item;
    if (!request.release) continue;
    const seq = (releaseSeqs.get(request.namespace) ?? 0) + 1;
    releaseSeqs.set(request.namespace, seq);
    releases.set(a, {
      namespace: request.namespace,
      seq,
      revision: a.revision,
      kind: 'commit',
      author: request.author,
      note: request.message,
      createdAt: now,
    });
  }

  // Old latest versions are superseded by the round's first write to their address; each of the
  // round's versions by the round's next write to the same address, if any.
  const versions = accepted.flatMap((a) => a.versions);
  const firstWrite = new Map<string, EntryVersion>();
  const supersededAt: Array<number | null> = versions.map(() => null);
  const lastIndex = new Map<string, number>();
  versions.forEach((v, i) => {
    const id = slot(v.namespace, v);
    if (!firstWrite.has(id)) firstWrite.set(id, v);
    const previous = lastIndex.get(id);
    if (previous !== undefined) supersededAt[previous] = v.revision;
    lastIndex.set(id, i);
  });
  const supersede = [...firstWrite].filter(([id]) => inDatabase.has(id)).map(([, v]) => v);
  const newest = [...lastIndex.values()].map((i) => versions[i] as EntryVersion);

  let previous: { seq: number; hash: string } = basis.auditHead;
  const records: AuditRecord[] = accepted.map((a) => {
    const release = releases.get(a);
    const record = chainAuditRecord(
      previous,
      {
        ...a.item.audit,
        details: { ...a.item.audit.details, revision: a.revision, ...(release ? { releaseSeq: release.seq } : {}) },
      },
      now,
    );
    previous = record;
    return record;
  });

  const after = new Map<string, NamespaceBasis>();
  for (const [name, ns] of namespaces) {
    const writers = accepted.filter((a) => a.item.request.namespace === name);
    after.set(name, {
      revision: writers.length > 0 ? Math.max(...writers.map((a) => a.revision)) : ns.revision,
      entryCount: ns.entryCount,
      releaseSeq: releaseSeqs.get(name) ?? ns.releaseSeq,
    });
  }
  const touched = [...namespaces].filter(([, ns]) => ns.touched).map(([name]) => name);
  const written = new Map<string, Set<string>>(touched.map((name) => [name, new Set()]));
  for (const v of versions) written.get(v.namespace)?.add(addressId(v));
  const announce = (addresses: boolean): RecordChange => ({
    kind: 'commits',
    namespaces: touched.map((name) => {
      const ns = after.get(name) as NamespaceBasis;
      return [name, ns.revision, ns.entryCount];
    }),
    round: {
      from: base,
      to: top,
      headBefore: [basis.auditHead.seq, basis.auditHead.hash],
      head: [previous.seq, previous.hash],
      namespaces: touched.map((name) => [
        name,
        (namespaces.get(name) as NamespaceBasis).revision,
        (after.get(name) as NamespaceBasis).releaseSeq,
        addresses ? [...(written.get(name) as Set<string>)] : null,
      ]),
    },
  });
  // NOTIFY payloads are limited to 8000 bytes: without the addresses, the other nodes read the
  // namespaces' entries again; without anything, they start their caches afresh.
  let change: RecordChange | undefined = announce(true);
  let payload = encodeChange(change);
  if (Buffer.byteLength(payload) > 7000) {
    change = announce(false);
    payload = encodeChange(change);
  }
  if (Buffer.byteLength(payload) > 7000) {
    change = undefined;
    payload = 'reset';
  }
  const checked = [...basis.namespaces];
  const release = [...releases.values()];
  const params: unknown[] = [
    namespaceLockClass,
    namespaceLockKeys([...namespaces.keys()]),
    checked.map(([name]) => name),
    checked.map(([, ns]) => ns.revision),
    checked.map(([, ns]) => ns.entryCount),
    checked.map(([, ns]) => ns.releaseSeq),
    checked.map(([name]) => (after.get(name) as NamespaceBasis).revision),
    checked.map(([name]) => (after.get(name) as NamespaceBasis).entryCount),
    base,
    accepted.length,
    basis.auditHead.seq,
    basis.auditHead.hash,
    release.map((r) => r.namespace),
    release.map((r) => r.seq),
    release.map((r) => r.revision),
    release.map((r) => r.kind),
    release.map((r) => r.author),
    release.map((r) => r.note),
    release.map((r) => r.createdAt),
    supersede.map((v) => v.namespace),
    supersede.map((v) => v.key),
    supersede.map((v) => v.label),
    supersede.map((v) => v.revision),
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
    accepted.map((a) => JSON.stringify(a.item.request.changes.map((c) => ({ op: c.op, key: c.key, label: c.label })))),
    records.map((r) => r.seq),
    records.map((r) => r.at),
    records.map((r) => r.actor),
    records.map((r) => r.action),
    records.map((r) => r.target),
    records.map((r) => JSON.stringify(r.details)),
    records.map((r) => r.prevHash),
    records.map((r) => r.hash),
    payload,
  ];
  return { params, top, releases, after, newest, change, head: previous, first: records[0] as AuditRecord };
}

const commitRoundCall = `SELECT herald_commit_round(${Array.from({ length: 51 }, (_, i) => `$${i + 1}`).join(', ')}) AS written`;

/**
 * Writes a decided round. Alone, the call is its own transaction: one round trip, one WAL flush.
 * After BEGIN (`begun`, under the namespaces' locks) it is followed by COMMIT. Returns the outcomes,
 * or undefined when the basis proved stale (nothing was written, the transaction is over).
 */
async function writeRound(
  { db, records }: PostgresContext,
  memory: RoundBasisMemory,
  client: pg.PoolClient,
  decision: Decision,
  basis: RoundBasis,
  begun: boolean,
): Promise<Outcome[] | undefined> {
  const write = prepareWrite(decision, basis);
  let written: boolean;
  try {
    const { rows } = await client.query<{ written: boolean }>(commitRoundCall, write.params);
    written = rows[0]?.written === true;
  } catch (error) {
    if (isConnectionError(error)) {
      // Alone, the call was the commit: it may have landed.
      if (begun) throw error;
      await settleOutcome(db, write, error);
      written = true;
    } else {
      if (begun) await client.query('ROLLBACK').catch(() => undefined);
      if ((error as { code?: unknown }).code === 'HR409') return undefined; // the audit head moved
      throw error;
    }
  }
  if (begun) {
    try {
      await client.query('COMMIT');
    } catch (error) {
      if (!written || !isConnectionError(error)) throw error;
      await settleOutcome(db, write, error);
    }
  }
  if (!written) return undefined;

  memory.committed(write.top, write.head, write.after, write.newest);
  if (write.change) records.apply(write.change);
  else records.reset();
  const outcomes = decision.outcomes;
  for (const a of decision.accepted) {
    const release = write.releases.get(a);
    outcomes[a.index] = {
      ok: true,
      result: { revision: a.revision, versions: a.versions, ...(release ? { release } : {}) },
    };
  }
  for (const fix of decision.fixups) fix();
  return outcomes;
}

/**
 * The connection broke while the round's transaction was committing: it may or may not have
 * committed. Once no transaction holds the round's namespaces' locks (an in-flight one has then
 * ended), its first audit record tells (its hash covers the round's content and time): returns if
 * it is there; throws `error` if another record took its place, `unavailable` with outcome `unknown`
 * if there is none or PostgreSQL cannot be asked.
 */
async function settleOutcome(
  db: PostgresDatabase,
  { params, first }: { params: unknown[]; first: AuditRecord },
  error: unknown,
): Promise<void> {
  let hash: string | undefined;
  try {
    await db.query('SELECT pg_advisory_xact_lock_shared($1::integer, k) FROM unnest($2::integer[]) AS k', [
      params[0],
      params[1],
    ]);
    const { rows } = await db.query<{ hash: string }>('SELECT hash FROM audit WHERE seq = $1', [first.seq]);
    hash = rows[0]?.hash;
  } catch {
    hash = undefined;
  }
  if (hash === first.hash) return;
  if (hash !== undefined) throw error;
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
