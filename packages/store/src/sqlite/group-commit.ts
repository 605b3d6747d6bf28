import {
  addressId,
  checkDistinctChanges,
  entryEtag,
  HeraldError,
  planCommit,
  type AuditInput,
  type CommitRequest,
  type EntryVersion,
} from '@herald/core';
import type { RevisionListeners } from '../revision-listeners.js';
import { toVersion, type EntryRow } from '../rows.js';
import { checkEntryLimit, namespaceRevisionConflict, storeClosed } from '../rules.js';
import type { CommitResult, NamespaceRecord } from '../types.js';
import type { SqliteContext } from './database.js';
import { requireNamespace } from './namespaces.js';
import { insertRelease, lastReleaseSeq } from './releases.js';

interface PendingCommit {
  request: CommitRequest;
  audit: AuditInput;
  maxEntriesPerNamespace: number;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

/** `entryCount`: the namespace's live entries after the commit, for the records kept in memory. */
type Outcome = { ok: true; result: CommitResult; entryCount: number } | { ok: false; error: unknown };

/**
 * What a batch's commits are decided on: read from the file at most once per batch, inside its
 * transaction (which holds the write lock, so nothing else changes it), and carried from each
 * commit to the next. A commit's savepoint may be rolled back, so what it wrote is carried on only
 * once its savepoint was released (`carry`).
 */
interface BatchState {
  revision: number;
  auditHead: { seq: number; hash: string } | undefined;
  /** Each namespace the batch has written or read so far, as the batch's last released commit left it. */
  namespaces: Map<string, NamespaceRecord>;
  releaseSeqs: Map<string, number>;
}

/** What one commit of a batch wrote into the state the next one is decided on. */
interface Written {
  revision: number;
  auditHead: { seq: number; hash: string };
  namespace: NamespaceRecord;
  releaseSeq: number | undefined;
}

/**
 * How long a batch waits, at most, for as many commits as the last one held. One durable COMMIT
 * blocks the event loop for the fsync (0.25 ms on a quiet disk, several on a busy one): with 16
 * writers, flushing at the first turn of the event loop wrote batches of 6 on average (one in
 * eight a single commit) while the others were still being parsed; waiting for them makes one fsync
 * serve the whole group, and the event loop parses them meanwhile.
 */
const gatherMs = 1;

/**
 * Commits in SQLite. better-sqlite3 is synchronous, so concurrent commits are queued and written
 * together, one transaction (one fsync) per batch, each in its own savepoint so that a failed
 * precondition undoes only itself. A batch is written at the next turn of the event loop when it
 * holds as many commits as the last one did (always so for a single writer), else when that many
 * have come or `gatherMs` has passed, whichever is first; then the next batch expects as many as
 * this one held (or a quarter fewer than the last expected, if more), so the wait follows the
 * number of writers up at once and down within a few batches.
 */
export class SqliteGroupCommit {
  readonly #context: SqliteContext;
  readonly #listeners: RevisionListeners;
  #pending: PendingCommit[] = [];
  #flushScheduled = false;
  #gatherTimer: NodeJS.Timeout | undefined;
  /** How many commits the next batch waits for: the last batch's size, or a little less than the one before. */
  #expected = 1;

  constructor(context: SqliteContext, listeners: RevisionListeners) {
    this.#context = context;
    this.#listeners = listeners;
  }

  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult> {
    if (this.#context.db.closed) return Promise.reject(storeClosed());
    return new Promise<CommitResult>((resolve, reject) => {
      this.#pending.push({ request, audit, maxEntriesPerNamespace: limits.maxEntriesPerNamespace, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#gathered());
      } else if (this.#gatherTimer !== undefined && this.#pending.length >= this.#expected) {
        // As many as expected: written at the end of this turn, with any that arrive in it too.
        clearTimeout(this.#gatherTimer);
        this.#gatherTimer = undefined;
        setImmediate(() => this.flush());
      }
    });
  }

  /** The first turn of the event loop since the batch's first commit has ended. */
  #gathered(): void {
    if (!this.#flushScheduled || this.#gatherTimer !== undefined) return;
    if (this.#pending.length >= this.#expected) {
      this.flush();
      return;
    }
    // Not the store's clock: this schedules I/O like the setImmediate above, it measures no time a
    // user sees, and a manual clock in a test would leave commits waiting forever. Referenced, so
    // commits still waiting keep the process alive until they are written.
    // eslint-disable-next-line no-restricted-syntax
    this.#gatherTimer = setTimeout(() => this.flush(), gatherMs);
  }

  /** Runs queued commits now; for operations that must be ordered after them. */
  async acceptedSoFar(): Promise<void> {
    this.#context.db.assertOpen();
    this.flush();
  }

  /** Writes the queued commits in one transaction and settles each. */
  flush(): void {
    const { db } = this.#context;
    clearTimeout(this.#gatherTimer);
    this.#gatherTimer = undefined;
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    // Down by a quarter at most per batch: a batch cut short by the timer is often one that a
    // busy client was slow to fill, not a sign that the writers have gone.
    this.#expected = Math.max(batch.length, Math.floor((this.#expected * 3) / 4));
    if (db.closed) {
      for (const item of batch) item.reject(storeClosed());
      return;
    }
    const outcomes: Outcome[] = [];
    try {
      db.exec('BEGIN IMMEDIATE');
      const state: BatchState = {
        revision: db.meta('revision'),
        auditHead: this.#context.audit.head(),
        namespaces: new Map(),
        releaseSeqs: new Map(),
      };
      for (const item of batch) {
        db.exec('SAVEPOINT one_commit');
        try {
          const { written, ...outcome } = this.#apply(item, state);
          db.exec('RELEASE one_commit');
          outcomes.push({ ok: true, ...outcome });
          carry(state, written);
        } catch (error) {
          db.exec('ROLLBACK TO one_commit');
          db.exec('RELEASE one_commit');
          outcomes.push({ ok: false, error });
        }
      }
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      const failure = new HeraldError('unavailable', 'the store could not write the commit', {
        cause: error,
        retryAfter: 1,
      });
      for (const item of batch) item.reject(failure);
      return;
    }
    const written: Array<[string, number, number]> = [];
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) written.push([item.request.namespace, outcome.result.revision, outcome.entryCount]);
    });
    const newest = written.reduce((max, [, revision]) => Math.max(max, revision), 0);
    // Before anyone hears of the commits, so whoever reads next reads them.
    this.#context.memory.committed(written, newest);
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) item.resolve(outcome.result);
      else item.reject(outcome?.error);
    });
    if (newest > 0) this.#listeners.deliver(newest);
  }

  #apply(item: PendingCommit, state: BatchState): { result: CommitResult; entryCount: number; written: Written } {
    const { db, audit, clock } = this.#context;
    const { request } = item;
    checkDistinctChanges(request.changes);
    let namespace = state.namespaces.get(request.namespace);
    if (!namespace) {
      namespace = requireNamespace(db, request.namespace);
      state.namespaces.set(request.namespace, namespace);
    }
    const stale = namespaceRevisionConflict(request, namespace.revision);
    if (stale) throw stale;
    const latest = db.prepare(
      'SELECT rowid AS row_id, * FROM entry_versions WHERE namespace = ? AND key = ? AND label = ? AND superseded_at IS NULL',
    );
    const current = new Map<string, EntryVersion>();
    /** The row of each address's latest version, which the commit's new version supersedes. */
    const supersededRows = new Map<string, number>();
    for (const change of request.changes) {
      const row = latest.get(request.namespace, change.key, change.label) as
        (EntryRow & { row_id: number }) | undefined;
      if (row) {
        current.set(addressId(change), toVersion(row));
        supersededRows.set(addressId(change), row.row_id);
      }
    }
    const revision = state.revision + 1;
    const now = clock.now();
    const plan = planCommit(request, current, (v) => entryEtag(v, v.revision), revision, now);
    const entryCount = checkEntryLimit(
      request.namespace,
      namespace.entryCount,
      plan.liveDelta,
      item.maxEntriesPerNamespace,
    );
    const supersede = db.prepare('UPDATE entry_versions SET superseded_at = ? WHERE rowid = ?');
    const insert = db.prepare(
      `INSERT INTO entry_versions (namespace, key, label, revision, superseded_at, text, content_type, tags, locked, secret, deleted, author, created_at)
       VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const v of plan.versions) {
      const row = supersededRows.get(addressId(v));
      if (row !== undefined) supersede.run(revision, row);
      insert.run(
        v.namespace,
        v.key,
        v.label,
        v.revision,
        v.text,
        v.contentType,
        JSON.stringify(v.tags),
        +v.locked,
        +v.secret,
        +v.deleted,
        v.author,
        v.createdAt,
      );
    }
    const changes = request.changes.map((c) => ({ op: c.op, key: c.key, label: c.label }));
    db.prepare(
      'INSERT INTO commits (revision, namespace, author, message, created_at, changes) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(revision, request.namespace, request.author, request.message, now, JSON.stringify(changes));
    db.prepare('UPDATE namespaces SET revision = ?, entry_count = ? WHERE name = ?').run(
      revision,
      entryCount,
      request.namespace,
    );
    db.prepare("UPDATE meta SET value = ? WHERE name = 'revision'").run(revision);
    const release = request.release
      ? insertRelease(
          this.#context,
          { namespace: request.namespace, revision, kind: 'commit', author: request.author, note: request.message },
          state.releaseSeqs.get(request.namespace) ?? lastReleaseSeq(db, request.namespace),
        )
      : undefined;
    const record = audit.appendAfter(state.auditHead, {
      ...item.audit,
      details: { ...item.audit.details, revision, ...(release ? { releaseSeq: release.seq } : {}) },
    });
    return {
      result: { revision, versions: plan.versions, ...(release ? { release } : {}) },
      entryCount,
      written: {
        revision,
        auditHead: { seq: record.seq, hash: record.hash },
        namespace: { ...namespace, revision, entryCount },
        releaseSeq: release?.seq,
      },
    };
  }
}

/** A commit's savepoint was released: the batch's next commit is decided on what it wrote. */
function carry(state: BatchState, written: Written): void {
  state.revision = written.revision;
  state.auditHead = written.auditHead;
  state.namespaces.set(written.namespace.name, written.namespace);
  if (written.releaseSeq !== undefined) state.releaseSeqs.set(written.namespace.name, written.releaseSeq);
}
