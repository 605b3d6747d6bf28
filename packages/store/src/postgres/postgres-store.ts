import { randomUUID } from 'node:crypto';
import pg from 'pg';
import {
  addressId,
  chainAuditRecord,
  checkDistinctChanges,
  entryEtag,
  HeraldError,
  planCommit,
  systemClock,
  type AuditInput,
  type AuditRecord,
  type Clock,
  type CommitRecord,
  type CommitRequest,
  type Conflict,
  type EntryVersion,
  type NamespaceSchema,
} from '@herald/core';
import type {
  AccessKeyRecord,
  CommitQuery,
  CommitResult,
  CompactionResult,
  EntryQuery,
  HistoryQuery,
  InstanceRecord,
  InstanceReport,
  NamespaceRecord,
  ReleaseKind,
  ReleaseRecord,
  RolloutRecord,
  SigningKeyRecord,
  SnapshotRecord,
  SnapshotStatus,
  Store,
  TokenRecord,
} from '../types.js';
import { groupInstances, type InstanceJoinRow } from '../instance-rows.js';
import {
  advisoryKey32,
  clientConfig,
  defaultTimeouts,
  isConnectionError,
  toStoreError,
  type PostgresTimeouts,
} from './connection.js';
import {
  toAudit,
  toNamespace,
  toRelease,
  toRollout,
  toSnapshot,
  toToken,
  toVersion,
  type AuditRow,
  type EntryRow,
  type NamespaceRow,
  type ReleaseRow,
  type RolloutRow,
  type SnapshotRow,
  type TokenRow,
} from '../rows.js';
import { applyPostgresMigrations } from './migrations.js';

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database`; the database must exist, the schema is migrated at open. */
  connectionString: string;
  clock?: Clock;
  /** Connections in the pool; default 10. One more is used for LISTEN while anyone watches revisions. */
  poolSize?: number;
  /** How often watchers also check the current revision, in case a notification was lost; default 1000 ms. */
  revisionCheckMs?: number;
  /** Giving up on opening a connection; default 5000 ms. */
  connectionTimeoutMs?: number;
  /** Bound on one statement; default 30000 ms. */
  statementTimeoutMs?: number;
  /** Most changes written by one group-commit transaction (a single larger commit still goes alone); default 10000. */
  maxChangesPerBatch?: number;
}

/** NOTIFY channel: the payload is the newest committed revision. */
export const revisionChannel = 'herald_revisions';

/** Advisory-lock class (first key of the two-key form) under which commits lock their namespace. */
const namespaceLockClass = 0x48524c44; // "HRLD"

interface PendingCommit {
  request: CommitRequest;
  audit: AuditInput;
  maxEntriesPerNamespace: number;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; result: CommitResult } | { ok: false; error: unknown };

const entryColumns =
  'namespace, key, label, revision, value, content_type, tags, locked, secret, deleted, author, created_at';

/**
 * The shared store: any number of Herald nodes on one PostgreSQL database.
 *
 * ## Revisions: gap-free, strictly increasing, never visible out of order
 *
 * A commit transaction (one per group-commit round, see below) first takes, in a fixed order, a
 * transaction-level advisory lock per namespace it writes, so that its preconditions are checked
 * against a state no other node can change before it commits (READ COMMITTED suffices then). It
 * reads what it needs and decides every outcome in memory. Only then does it allocate revisions, with
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
 * ## Group commit
 *
 * Because revisions serialise commit tails across the whole cluster, each commit costs at least one
 * WAL flush that nothing else can overlap. So, like the SQLite adapter, commits that arrive while a
 * round is running are queued and written together in the next round: one transaction, one flush.
 * No savepoints are needed: a round decides every commit's outcome in memory before writing anything,
 * each commit seeing the effects of the ones before it in the round; a commit that fails (precondition,
 * lock, limit) is simply not written. Should the round's transaction fail for another reason than the
 * connection (a bug, a constraint), its commits are retried one per transaction so only the culprit fails.
 *
 * One rule follows from deciding before allocating: a precondition can never name a version written
 * earlier in the same round (its revision is not known yet, and no client can have read it), so it
 * fails — as it would have serially, unless a client guessed an unannounced revision.
 *
 * ## Connection loss
 *
 * Any call that meets an unreachable server or a terminated backend rejects with `unavailable`
 * (retryAfter 1); the pool drops broken connections and makes new ones when the server is back. If the
 * connection breaks during COMMIT itself, the transaction's fate is looked up with txid_status() so
 * that a commit that did land is acknowledged rather than reported as failed.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #clock: Clock;
  readonly #clientConfig: pg.ClientConfig;
  readonly #revisionCheckMs: number;
  readonly #maxChangesPerBatch: number;

  #queue: PendingCommit[] = [];
  #draining: Promise<void> | undefined;
  #drainScheduled = false;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  readonly #listeners = new Set<(revision: number) => void>();
  #lastDelivered = 0;
  #watching = false;
  #listenerClient: pg.Client | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #polling = false;

  private constructor(pool: pg.Pool, config: pg.ClientConfig, options: PostgresStoreOptions) {
    this.#pool = pool;
    this.#clientConfig = config;
    this.#clock = options.clock ?? systemClock;
    this.#revisionCheckMs = options.revisionCheckMs ?? 1000;
    this.#maxChangesPerBatch = options.maxChangesPerBatch ?? 10_000;
  }

  /** Connects, migrates the schema (safely, even when several nodes start at once) and returns the store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const timeouts: PostgresTimeouts = {
      connectionTimeoutMs: options.connectionTimeoutMs ?? defaultTimeouts.connectionTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs ?? defaultTimeouts.statementTimeoutMs,
    };
    const config = clientConfig(options.connectionString, timeouts, 'herald');
    const pool = new pg.Pool({ ...config, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle connection whose backend dies emits here; the pool has already dropped it.
    pool.on('error', () => undefined);
    // A new connection is handed out with no 'error' listener of the pool's, and the one #withClient
    // adds comes a microtask later: a FATAL (pg_terminate_backend) in the same socket read as the end
    // of the handshake would crash the process. Query failures still surface through the queries.
    pool.on('connect', (client) => client.on('error', ignore));
    try {
      const client = await checkOut(pool);
      try {
        await applyPostgresMigrations(client);
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      } finally {
        client.off('error', ignore);
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw toStoreError(error);
    }
    return new PostgresStore(pool, config, options);
  }

  // --- revisions ---

  async currentRevision(): Promise<number> {
    return this.#read(async () => this.#meta(this.#pool, 'revision'));
  }

  async compactedRevision(): Promise<number> {
    return this.#read(async () => this.#meta(this.#pool, 'compacted_revision'));
  }

  // --- namespaces ---

  async createNamespace(
    input: { name: string; description: string; schema: NamespaceSchema | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query<NamespaceRow>(
        `INSERT INTO namespaces (name, description, schema, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING RETURNING *`,
        [input.name, input.description, input.schema === null ? null : JSON.stringify(input.schema), this.#clock.now()],
      );
      const row = rows[0];
      if (!row) throw new HeraldError('namespace_exists', `namespace "${input.name}" already exists`);
      await this.#appendAuditIn(client, audit);
      return toNamespace(row);
    });
  }

  async getNamespace(name: string): Promise<NamespaceRecord | undefined> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<NamespaceRow>('SELECT * FROM namespaces WHERE name = $1', [name]);
      return rows[0] && toNamespace(rows[0]);
    });
  }

  async listNamespaces(query: { after?: string; limit: number }): Promise<NamespaceRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<NamespaceRow>(
        'SELECT * FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2',
        [query.after ?? '', query.limit],
      );
      return rows.map(toNamespace);
    });
  }

  async updateNamespace(
    name: string,
    patch: { description?: string; schema?: NamespaceSchema | null; policy?: Record<string, unknown> | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#transaction(async (client) => {
      await lockNamespaces(client, [name]);
      const existing = await requireNamespace(client, name);
      const description = patch.description ?? existing.description;
      const schema = patch.schema === undefined ? existing.schema : patch.schema;
      const policy = patch.policy === undefined ? existing.policy : patch.policy;
      const { rows } = await client.query<NamespaceRow>(
        'UPDATE namespaces SET description = $1, schema = $2, policy = $3 WHERE name = $4 RETURNING *',
        [
          description,
          schema === null ? null : JSON.stringify(schema),
          policy === null ? null : JSON.stringify(policy),
          name,
        ],
      );
      await this.#appendAuditIn(client, audit);
      return toNamespace(rows[0] as NamespaceRow);
    });
  }

  async deleteNamespace(name: string, options: { force: boolean }, audit: AuditInput): Promise<void> {
    // Ordered after the commits this node already accepted, so none of them resurrects the namespace.
    await this.#commitsAcceptedSoFar();
    await this.#transaction(async (client) => {
      await lockNamespaces(client, [name]);
      const existing = await requireNamespace(client, name);
      if (existing.entryCount > 0 && !options.force) {
        throw new HeraldError(
          'namespace_not_empty',
          `namespace "${name}" has ${existing.entryCount} entries; delete them first or force`,
        );
      }
      await client.query('DELETE FROM entry_versions WHERE namespace = $1', [name]);
      await client.query('DELETE FROM commits WHERE namespace = $1', [name]);
      await client.query('DELETE FROM releases WHERE namespace = $1', [name]);
      await client.query('DELETE FROM rollouts WHERE namespace = $1', [name]);
      await client.query('DELETE FROM instance_views WHERE namespace = $1', [name]);
      await client.query('DELETE FROM snapshot_items WHERE namespace = $1', [name]);
      await client.query('DELETE FROM snapshots WHERE namespace = $1', [name]);
      await client.query('DELETE FROM namespaces WHERE name = $1', [name]);
      await this.#appendAuditIn(client, audit);
    });
  }

  // --- commits ---

  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise<CommitResult>((resolve, reject) => {
      this.#queue.push({ request, audit, maxEntriesPerNamespace: limits.maxEntriesPerNamespace, resolve, reject });
      if (!this.#drainScheduled && this.#draining === undefined) {
        // Wait one turn of the event loop so that commits arriving together share a round.
        this.#drainScheduled = true;
        setImmediate(() => this.#startDrain());
      }
    });
  }

  async readEntries(query: EntryQuery): Promise<EntryVersion[]> {
    return this.#read(async () => {
      const params: unknown[] = [query.namespace];
      const param = (value: unknown): string => {
        params.push(value);
        return `$${params.length}`;
      };
      const where = ['namespace = $1', 'NOT deleted'];
      if (query.asOf === undefined) {
        where.push('superseded_at IS NULL');
      } else {
        if (!Number.isInteger(query.asOf) || query.asOf < 0)
          throw new HeraldError('invalid_revision', `revision ${query.asOf} is not a revision`);
        const asOf = param(query.asOf);
        where.push(`revision <= ${asOf}`, `(superseded_at IS NULL OR superseded_at > ${asOf})`);
      }
      if (query.key !== undefined) where.push(`key = ${param(query.key)}`);
      if (query.keyPrefix) {
        const prefix = param(query.keyPrefix);
        where.push(`key >= ${prefix}`, `starts_with(key, ${prefix})`);
      }
      // An empty label list matches nothing (ANY of an empty array), after the as-of checks as in SQLite.
      if (query.labels) where.push(`label = ANY(${param(query.labels)}::text[])`);
      if (query.after) {
        const key = param(query.after.key);
        where.push(`(key > ${key} OR (key = ${key} AND label > ${param(query.after.label)}))`);
      }
      const limit = query.limit === undefined ? 'ALL' : param(Math.max(0, Math.floor(query.limit)));
      const select = `SELECT ${entryColumns} FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY key, label LIMIT ${limit}`;
      if (query.asOf === undefined) {
        const { rows } = await this.#pool.query<EntryRow>(select, params);
        return rows.map(toVersion);
      }
      // As-of reads check the compaction horizon in the same statement (one snapshot) as they read,
      // so a compaction committed in between cannot make them return a half-removed past.
      const { rows } = await this.#pool.query<EntryRow & { current_revision: number; compacted_revision: number }>(
        `SELECT m.current_revision, m.compacted_revision, e.*
         FROM (SELECT max(value) FILTER (WHERE name = 'revision') AS current_revision,
                      max(value) FILTER (WHERE name = 'compacted_revision') AS compacted_revision FROM meta) m
         LEFT JOIN LATERAL (${select}) e ON true
         ORDER BY e.key, e.label`,
        params,
      );
      const head = rows[0] as { current_revision: number; compacted_revision: number };
      checkAsOf(query.asOf, head.current_revision, head.compacted_revision);
      return rows.filter((row) => row.key !== null).map(toVersion);
    });
  }

  async entryHistory(query: HistoryQuery): Promise<EntryVersion[]> {
    return this.#read(async () => {
      const params: unknown[] = [query.namespace, query.limit];
      const where = ['namespace = $1'];
      const add = (sql: string, value: unknown): void => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (query.key !== undefined) add('key = ?', query.key);
      if (query.label !== undefined) add('label = ?', query.label);
      if (query.beforeRevision !== undefined) add('revision < ?', query.beforeRevision);
      if (query.sinceRevision !== undefined) add('revision >= ?', query.sinceRevision);
      const { rows } = await this.#pool.query<EntryRow>(
        `SELECT ${entryColumns} FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY revision ${query.order === 'oldest' ? 'ASC' : 'DESC'}, key, label LIMIT $2`,
        params,
      );
      return rows.map(toVersion);
    });
  }

  async listCommits(query: CommitQuery): Promise<CommitRecord[]> {
    return this.#read(async () => {
      const newest = query.order === 'newest';
      const params: unknown[] = [query.namespace, query.limit];
      let after = '';
      if (query.afterRevision !== undefined) {
        params.push(query.afterRevision);
        after = newest ? ' AND revision < $3' : ' AND revision > $3';
      }
      const { rows } = await this.#pool.query<{
        revision: number;
        namespace: string;
        author: string;
        message: string;
        created_at: number;
        changes: string;
      }>(
        `SELECT * FROM commits WHERE namespace = $1${after} ORDER BY revision ${newest ? 'DESC' : 'ASC'} LIMIT $2`,
        params,
      );
      return rows.map((row) => ({
        revision: row.revision,
        namespace: row.namespace,
        author: row.author,
        message: row.message,
        createdAt: row.created_at,
        changes: JSON.parse(row.changes) as CommitRecord['changes'],
      }));
    });
  }

  async compact(revision: number, audit: AuditInput): Promise<CompactionResult> {
    await this.#commitsAcceptedSoFar();
    return this.#transaction(async (client) => {
      // Serialises compactions (not commits: they never lock this row).
      const already = await this.#meta(client, 'compacted_revision', true);
      const current = await this.#meta(client, 'revision');
      if (!Number.isInteger(revision) || revision < 1 || revision > current) {
        throw new HeraldError(
          'invalid_revision',
          `compaction revision must be between 1 and the current revision ${current}`,
        );
      }
      const pinned = await client.query<{ namespace: string; revision: number }>(
        `SELECT r.namespace, r.revision FROM releases r
         JOIN (SELECT namespace, max(seq) AS seq FROM releases GROUP BY namespace) newest USING (namespace, seq)
         ORDER BY r.revision LIMIT 1`,
      );
      const oldest = pinned.rows[0];
      if (oldest && revision > oldest.revision) {
        throw new HeraldError(
          'invalid_revision',
          `cannot compact past revision ${oldest.revision}: the newest release of "${oldest.namespace}" is at that revision`,
        );
      }
      if (revision <= already) return { revision: already, removedVersions: 0 };
      // Superseded versions no read at or after `revision` can see, and tombstones that are already
      // the past. SKIP LOCKED: a row a concurrent commit is superseding (a tombstone) or a forced
      // namespace delete is removing is left alone rather than waited for — either way it is not
      // needed by any read at or after `revision`, and a later compaction takes what is left.
      const { rows } = await client.query<{ removed: number }>(
        `WITH doomed AS (
           SELECT namespace, key, label, revision FROM entry_versions
           WHERE superseded_at <= $1 OR (superseded_at IS NULL AND deleted AND revision <= $1)
           FOR UPDATE SKIP LOCKED
         ), removed AS (
           DELETE FROM entry_versions e USING doomed d
           WHERE e.namespace = d.namespace AND e.key = d.key AND e.label = d.label AND e.revision = d.revision
           RETURNING 1
         )
         SELECT count(*)::integer AS removed FROM removed`,
        [revision],
      );
      await client.query("UPDATE meta SET value = $1 WHERE name = 'compacted_revision'", [revision]);
      const result = { revision, removedVersions: rows[0]?.removed ?? 0 };
      await this.#appendAuditIn(client, { ...audit, details: { ...audit.details, ...result } });
      return result;
    });
  }

  // --- tokens ---

  async createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query(
        `INSERT INTO tokens (id, name, scopes, token_hash, created_at, created_by, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          token.id,
          token.name,
          JSON.stringify(token.scopes),
          token.tokenHash,
          token.createdAt,
          token.createdBy,
          token.expiresAt,
          token.revokedAt,
        ],
      );
      await this.#appendAuditIn(client, audit);
    });
  }

  async createRelease(
    input: { namespace: string; revision?: number; kind: ReleaseKind; author: string; note: string },
    audit: AuditInput,
  ): Promise<ReleaseRecord> {
    await this.#commitsAcceptedSoFar();
    return this.#transaction(async (client) => {
      await lockNamespaces(client, [input.namespace]);
      const namespace = await requireNamespace(client, input.namespace);
      const revision = input.revision ?? namespace.revision;
      // The compaction horizon is read FOR SHARE (compact() holds it FOR UPDATE), so no compaction
      // can pass this release's revision between this check and COMMIT, nor miss the new release
      // when it checks which revisions releases still pin.
      const horizon = await client.query<{ value: number }>(
        "SELECT value FROM meta WHERE name = 'compacted_revision' FOR SHARE",
      );
      if (input.revision !== undefined) {
        checkAsOf(revision, await this.#meta(client, 'revision'), (horizon.rows[0] as { value: number }).value);
      }
      const { rows } = await client.query<ReleaseRow>(
        `INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at)
         SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6 FROM releases WHERE namespace = $1
         RETURNING *`,
        [input.namespace, revision, input.kind, input.author, input.note, this.#clock.now()],
      );
      const release = toRelease(rows[0] as ReleaseRow);
      await this.#appendAuditIn(client, { ...audit, details: { ...audit.details, seq: release.seq, revision } });
      return release;
    });
  }

  async getRelease(namespace: string, seq?: number): Promise<ReleaseRecord | undefined> {
    return this.#read(async () => {
      const { rows } =
        seq === undefined
          ? await this.#pool.query<ReleaseRow>(
              'SELECT * FROM releases WHERE namespace = $1 ORDER BY seq DESC LIMIT 1',
              [namespace],
            )
          : await this.#pool.query<ReleaseRow>('SELECT * FROM releases WHERE namespace = $1 AND seq = $2', [
              namespace,
              seq,
            ]);
      return rows[0] && toRelease(rows[0]);
    });
  }

  async listReleases(query: { namespace: string; beforeSeq?: number; limit: number }): Promise<ReleaseRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<ReleaseRow>(
        'SELECT * FROM releases WHERE namespace = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3',
        [query.namespace, query.beforeSeq ?? Number.MAX_SAFE_INTEGER, query.limit],
      );
      return rows.map(toRelease);
    });
  }

  async saveRollout(
    rollout: Omit<RolloutRecord, 'version' | 'updatedAt'>,
    expectedVersion: number,
    audit: AuditInput | undefined,
  ): Promise<RolloutRecord> {
    return this.#transaction(async (client) => {
      await lockNamespaces(client, [rollout.namespace]);
      const existing = await client.query<{ version: string | number }>('SELECT version FROM rollouts WHERE id = $1', [
        rollout.id,
      ]);
      const version = Number(existing.rows[0]?.version ?? 0);
      if (version !== expectedVersion) {
        throw new HeraldError(
          'precondition_failed',
          `rollout ${rollout.id} is at version ${version}, not ${expectedVersion}`,
        );
      }
      if (rollout.active) {
        const other = await client.query<{ id: string }>(
          'SELECT id FROM rollouts WHERE namespace = $1 AND active AND id <> $2',
          [rollout.namespace, rollout.id],
        );
        const id = other.rows[0]?.id;
        if (id)
          throw new HeraldError('rollout_active', `rollout ${id} of "${rollout.namespace}" is still active`, {
            extensions: { rolloutId: id },
          });
      }
      const record: RolloutRecord = { ...rollout, version: expectedVersion + 1, updatedAt: this.#clock.now() };
      await client.query(
        `INSERT INTO rollouts (id, namespace, active, state, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET active = excluded.active, state = excluded.state, version = excluded.version, updated_at = excluded.updated_at`,
        [record.id, record.namespace, record.active, JSON.stringify(record.state), record.version, record.updatedAt],
      );
      if (audit) await this.#appendAuditIn(client, audit);
      return record;
    });
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<RolloutRow>('SELECT * FROM rollouts WHERE id = $1', [id]);
      return rows[0] && toRollout(rows[0]);
    });
  }

  async listActiveRollouts(namespace?: string): Promise<RolloutRecord[]> {
    return this.#read(async () => {
      const { rows } =
        namespace === undefined
          ? await this.#pool.query<RolloutRow>('SELECT * FROM rollouts WHERE active ORDER BY namespace')
          : await this.#pool.query<RolloutRow>('SELECT * FROM rollouts WHERE active AND namespace = $1', [namespace]);
      return rows.map(toRollout);
    });
  }

  async listRollouts(namespace: string, limit: number): Promise<RolloutRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<RolloutRow>(
        'SELECT * FROM rollouts WHERE namespace = $1 ORDER BY updated_at DESC, id LIMIT $2',
        [namespace, limit],
      );
      return rows.map(toRollout);
    });
  }

  async putSetting(name: string, value: string, audit: AuditInput): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query(
        'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        [name, value],
      );
      await this.#appendAuditIn(client, audit);
    });
  }

  async getSetting(name: string): Promise<string | undefined> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name]);
      return rows[0]?.value;
    });
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<{
        key_id: string;
        public_key: string;
        encrypted_private_key: string;
        created_at: number;
        endorsed_by: string | null;
      }>('SELECT * FROM signing_keys ORDER BY created_at, key_id');
      return rows.map((row) => ({
        keyId: row.key_id,
        publicKey: row.public_key,
        encryptedPrivateKey: row.encrypted_private_key,
        createdAt: Number(row.created_at),
        endorsedBy: row.endorsed_by === null ? null : (JSON.parse(row.endorsed_by) as SigningKeyRecord['endorsedBy']),
      }));
    });
  }

  async addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query(
        'INSERT INTO signing_keys (key_id, public_key, encrypted_private_key, created_at, endorsed_by) VALUES ($1, $2, $3, $4, $5)',
        [
          key.keyId,
          key.publicKey,
          key.encryptedPrivateKey,
          key.createdAt,
          key.endorsedBy === null ? null : JSON.stringify(key.endorsedBy),
        ],
      );
      await this.#appendAuditIn(client, audit);
    });
  }

  async recordReports(reports: readonly InstanceReport[]): Promise<void> {
    if (reports.length === 0) return;
    // The newest report of each instance and view wins; one statement per table for the whole batch.
    const latest = new Map<string, InstanceReport>();
    for (const r of reports) if ((latest.get(r.instanceId)?.at ?? -1) <= r.at) latest.set(r.instanceId, r);
    const instances = [...latest.values()];
    const views = new Map<string, [InstanceReport, InstanceReport['views'][number]]>();
    for (const r of reports)
      for (const v of r.views) views.set(JSON.stringify([r.instanceId, v.namespace, v.labels]), [r, v]);
    const viewRows = [...views.values()];
    await this.#transaction(async (client) => {
      await client.query(
        `INSERT INTO instances (instance_id, attributes, health, health_detail, last_seen)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
         ON CONFLICT (instance_id) DO UPDATE SET attributes = excluded.attributes, health = excluded.health,
           health_detail = excluded.health_detail, last_seen = excluded.last_seen WHERE excluded.last_seen >= instances.last_seen`,
        [
          instances.map((r) => r.instanceId),
          instances.map((r) => JSON.stringify(r.attributes)),
          instances.map((r) => r.health),
          instances.map((r) => r.healthDetail),
          instances.map((r) => r.at),
        ],
      );
      if (viewRows.length === 0) return;
      await client.query(
        `INSERT INTO instance_views (instance_id, namespace, labels, seq, digest, status, reason, updated_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
         ON CONFLICT (namespace, instance_id, labels) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,
           status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at
           WHERE excluded.updated_at >= instance_views.updated_at`,
        [
          viewRows.map(([r]) => r.instanceId),
          viewRows.map(([, v]) => v.namespace),
          viewRows.map(([, v]) => JSON.stringify(v.labels)),
          viewRows.map(([, v]) => v.seq),
          viewRows.map(([, v]) => v.digest),
          viewRows.map(([, v]) => v.status),
          viewRows.map(([, v]) => v.reason),
          viewRows.map(([r]) => r.at),
        ],
      );
    });
  }

  async listInstances(query: { namespace: string; seenSince: number }): Promise<InstanceRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<InstanceJoinRow>(
        `SELECT i.instance_id, i.attributes, i.health, i.health_detail, i.last_seen,
                v.labels, v.seq, v.digest, v.status, v.reason, v.updated_at
         FROM instance_views v JOIN instances i ON i.instance_id = v.instance_id
         WHERE v.namespace = $1 AND i.last_seen >= $2 ORDER BY i.instance_id, v.labels`,
        [query.namespace, query.seenSince],
      );
      return groupInstances(query.namespace, rows);
    });
  }

  async claimSetting(name: string, value: string): Promise<string> {
    return this.#read(async () => {
      // One statement: the insert either wins or the conflicting row is read back (a no-op update returns it).
      const { rows } = await this.#pool.query<{ value: string }>(
        'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value',
        [name, value],
      );
      return (rows[0] as { value: string }).value;
    });
  }

  async findToken(tokenHash: string): Promise<TokenRecord | undefined> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<TokenRow>('SELECT * FROM tokens WHERE token_hash = $1', [tokenHash]);
      return rows[0] && toToken(rows[0]);
    });
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<TokenRow>('SELECT * FROM tokens ORDER BY created_at, id');
      return rows.map(toToken);
    });
  }

  async revokeToken(id: string, at: number, audit: AuditInput): Promise<TokenRecord> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query<TokenRow>('SELECT * FROM tokens WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0];
      if (!row) throw new HeraldError('token_not_found', `token ${id} does not exist`);
      if (row.revoked_at !== null) return toToken(row);
      await client.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2', [at, id]);
      await this.#appendAuditIn(client, audit);
      return toToken({ ...row, revoked_at: at });
    });
  }

  async createAccessKey(key: AccessKeyRecord, audit: AuditInput): Promise<void> {
    const { token } = key;
    await this.#transaction(async (client) => {
      await client.query(
        `INSERT INTO tokens (id, name, scopes, token_hash, created_at, created_by, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          token.id,
          token.name,
          JSON.stringify(token.scopes),
          token.tokenHash,
          token.createdAt,
          token.createdBy,
          token.expiresAt,
          token.revokedAt,
        ],
      );
      await client.query('INSERT INTO access_keys (token_id, encrypted_secret) VALUES ($1, $2)', [
        token.id,
        key.encryptedSecret,
      ]);
      await this.#appendAuditIn(client, audit);
    });
  }

  async findAccessKey(tokenId: string): Promise<AccessKeyRecord | undefined> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<TokenRow & { encrypted_secret: string }>(
        'SELECT t.*, k.encrypted_secret FROM access_keys k JOIN tokens t ON t.id = k.token_id WHERE k.token_id = $1',
        [tokenId],
      );
      const row = rows[0];
      return row && { token: toToken(row), encryptedSecret: row.encrypted_secret };
    });
  }

  // --- point-in-time reads and snapshots ---

  async namespaceRevisionAt(namespace: string, at: number): Promise<number> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<{ revision: number | null }>(
        'SELECT max(revision) AS revision FROM commits WHERE namespace = $1 AND created_at <= $2',
        [namespace, at],
      );
      return rows[0]?.revision ?? 0;
    });
  }

  async createSnapshot(
    record: SnapshotRecord,
    items: readonly EntryVersion[],
    audit: AuditInput,
  ): Promise<SnapshotRecord> {
    return this.#transaction(async (client) => {
      // The namespace lock orders this after a concurrent delete of the namespace, which removes snapshots too.
      await lockNamespaces(client, [record.namespace]);
      await requireNamespace(client, record.namespace);
      // An archived snapshot past its expiry is gone: its name may be used again.
      const expired = await client.query<{ name: string }>(
        `DELETE FROM snapshots WHERE namespace = $1 AND name = $2 AND status = 'archived' AND expires_at IS NOT NULL AND expires_at <= $3 RETURNING name`,
        [record.namespace, record.name, record.createdAt],
      );
      if (expired.rows.length > 0)
        await client.query('DELETE FROM snapshot_items WHERE namespace = $1 AND snapshot = $2', [
          record.namespace,
          record.name,
        ]);
      const inserted = await client.query(
        `INSERT INTO snapshots (namespace, name, status, filters, composition_type, retention_period, tags, created_at, expires_at, revision, items_count, size, etag)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (namespace, name) DO NOTHING`,
        [
          record.namespace,
          record.name,
          record.status,
          JSON.stringify(record.filters),
          record.compositionType,
          record.retentionPeriod,
          JSON.stringify(record.tags),
          record.createdAt,
          record.expiresAt,
          record.revision,
          record.itemsCount,
          record.size,
          record.etag,
        ],
      );
      if (inserted.rowCount === 0)
        throw new HeraldError('snapshot_exists', `snapshot "${record.name}" already exists in "${record.namespace}"`);
      if (items.length > 0) {
        await client.query(
          `INSERT INTO snapshot_items (namespace, snapshot, key, label, revision, value, content_type, tags, locked, secret, author, created_at)
           SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bytea[], $7::text[], $8::text[], $9::boolean[], $10::boolean[], $11::text[], $12::bigint[])`,
          [
            record.namespace,
            record.name,
            items.map((v) => v.key),
            items.map((v) => v.label),
            items.map((v) => v.revision),
            items.map((v) => Buffer.from(v.text, 'utf8')),
            items.map((v) => v.contentType),
            items.map((v) => JSON.stringify(v.tags)),
            items.map((v) => v.locked),
            items.map((v) => v.secret),
            items.map((v) => v.author),
            items.map((v) => v.createdAt),
          ],
        );
      }
      await this.#appendAuditIn(client, audit);
      return record;
    });
  }

  async getSnapshot(namespace: string, name: string): Promise<SnapshotRecord | undefined> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<SnapshotRow>(
        'SELECT * FROM snapshots WHERE namespace = $1 AND name = $2',
        [namespace, name],
      );
      return rows[0] && toSnapshot(rows[0]);
    });
  }

  async listSnapshots(query: { namespace: string; after?: string; limit: number }): Promise<SnapshotRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<SnapshotRow>(
        'SELECT * FROM snapshots WHERE namespace = $1 AND name > $2 ORDER BY name LIMIT $3',
        [query.namespace, query.after ?? '', query.limit],
      );
      return rows.map(toSnapshot);
    });
  }

  async updateSnapshot(
    namespace: string,
    name: string,
    patch: { status: SnapshotStatus; expiresAt: number | null; etag: string },
    ifEtag: string | undefined,
    audit: AuditInput,
  ): Promise<SnapshotRecord> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query<SnapshotRow>(
        'SELECT * FROM snapshots WHERE namespace = $1 AND name = $2 FOR UPDATE',
        [namespace, name],
      );
      const row = rows[0];
      if (!row) throw new HeraldError('snapshot_not_found', `snapshot "${name}" does not exist in "${namespace}"`);
      if (ifEtag !== undefined && row.etag !== ifEtag) {
        throw new HeraldError('precondition_failed', `snapshot "${name}" has etag "${row.etag}", not "${ifEtag}"`, {
          extensions: { conflicts: [] },
        });
      }
      await client.query(
        'UPDATE snapshots SET status = $1, expires_at = $2, etag = $3 WHERE namespace = $4 AND name = $5',
        [patch.status, patch.expiresAt, patch.etag, namespace, name],
      );
      await this.#appendAuditIn(client, audit);
      return { ...toSnapshot(row), ...patch };
    });
  }

  async readSnapshotItems(query: {
    namespace: string;
    name: string;
    after?: { key: string; label: string };
    limit?: number;
  }): Promise<EntryVersion[]> {
    return this.#read(async () => {
      const params: unknown[] = [query.namespace, query.name];
      let where = 'namespace = $1 AND snapshot = $2';
      if (query.after) {
        params.push(query.after.key, query.after.label);
        where += ' AND (key > $3 OR (key = $3 AND label > $4))';
      }
      let limit = '';
      if (query.limit !== undefined) {
        params.push(Math.max(0, Math.floor(query.limit)));
        limit = ` LIMIT $${params.length}`;
      }
      const { rows } = await this.#pool.query<Omit<EntryRow, 'deleted'>>(
        `SELECT namespace, key, label, revision, value, content_type, tags, locked, secret, author, created_at
         FROM snapshot_items WHERE ${where} ORDER BY key, label${limit}`,
        params,
      );
      return rows.map((row) => toVersion({ ...row, deleted: false }));
    });
  }

  // --- audit ---

  async appendAudit(input: AuditInput): Promise<AuditRecord> {
    return this.#transaction(async (client) => this.#appendAuditIn(client, input));
  }

  async listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    return this.#read(async () => {
      const { rows } = await this.#pool.query<AuditRow>('SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2', [
        query.afterSeq ?? 0,
        query.limit,
      ]);
      return rows.map(toAudit);
    });
  }

  // --- change feed ---

  watchRevisions(listener: (revision: number) => void): () => void {
    this.#listeners.add(listener);
    this.#startWatching();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  // --- lifecycle ---

  /** Finishes the commits already accepted and the calls in flight, then closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      if (this.#queue.length > 0 && this.#draining === undefined) this.#startDrain();
      await this.#draining;
      await Promise.allSettled([...this.#inflight]);
      clearInterval(this.#pollTimer);
      clearTimeout(this.#reconnectTimer);
      const listener = this.#listenerClient;
      this.#listenerClient = undefined;
      await listener?.end().catch(() => undefined);
      await this.#pool.end().catch(() => undefined);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals: group commit ---

  #startDrain(): void {
    this.#drainScheduled = false;
    if (this.#draining !== undefined || this.#queue.length === 0) return;
    this.#draining = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#runRound(this.#takeRound());
    } finally {
      // Cleared in the same step as the loop saw an empty queue: a commit arriving after this
      // schedules a new drain, one arriving before it was taken by the loop.
      this.#draining = undefined;
    }
  }

  #takeRound(): PendingCommit[] {
    let changes = 0;
    let count = 0;
    for (const item of this.#queue) {
      changes += item.request.changes.length;
      if (count > 0 && changes > this.#maxChangesPerBatch) break;
      count += 1;
    }
    return this.#queue.splice(0, count);
  }

  /** Resolves once every commit accepted before the call has settled. */
  async #commitsAcceptedSoFar(): Promise<void> {
    if (this.#closed) throw closedError();
    const last = this.#queue.at(-1);
    if (last === undefined && this.#draining === undefined) return;
    await new Promise<void>((resolve) => {
      if (last === undefined) {
        void this.#draining?.then(() => resolve());
        return;
      }
      const { resolve: done, reject: failed } = last;
      last.resolve = (result) => {
        done(result);
        resolve();
      };
      last.reject = (error) => {
        failed(error);
        resolve();
      };
    });
  }

  async #runRound(round: PendingCommit[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.#withClient((client) => this.#commitRound(client, round));
    } catch (error) {
      if (round.length > 1 && !(error instanceof HeraldError) && !isConnectionError(error)) {
        // Nothing was written; find the commit that broke the round by trying each on its own.
        for (const item of round) await this.#runRound([item]);
        return;
      }
      const failure = toStoreError(error);
      for (const item of round) item.reject(failure);
      return;
    }
    let newest = 0;
    round.forEach((item, i) => {
      const outcome = outcomes[i] as Outcome;
      if (outcome.ok) {
        newest = Math.max(newest, outcome.result.revision);
        item.resolve(outcome.result);
      } else {
        item.reject(outcome.error);
      }
    });
    if (newest > 0) this.#deliver(newest);
  }

  /**
   * One group-commit round in one transaction. Returns each commit's outcome; throws when the
   * transaction as a whole failed (nothing was written then, unless the error says otherwise).
   */
  async #commitRound(client: pg.PoolClient, round: PendingCommit[]): Promise<Outcome[]> {
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
      const now = this.#clock.now();
      round.forEach((item, index) => {
        const { request } = item;
        try {
          checkDistinctChanges(request.changes);
          const namespace = namespaces.get(request.namespace);
          if (!namespace)
            throw new HeraldError('namespace_not_found', `namespace "${request.namespace}" does not exist`);
          if (
            request.ifNamespaceRevision !== undefined &&
            (namespace.touched || namespace.revision > request.ifNamespaceRevision)
          ) {
            const error = new HeraldError(
              'precondition_failed',
              `namespace "${request.namespace}" changed after revision ${request.ifNamespaceRevision}`,
              { extensions: { conflicts: [], namespaceRevision: namespace.revision } },
            );
            if (namespace.touched) {
              const writer = [...accepted].reverse().find((a) => a.item.request.namespace === request.namespace);
              fixups.push(() => (error.extensions.namespaceRevision = writer?.revision));
            }
            throw error;
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
          const entryCount = namespace.entryCount + plan.liveDelta;
          if (plan.liveDelta > 0 && entryCount > item.maxEntriesPerNamespace) {
            throw new HeraldError(
              'namespace_full',
              `namespace "${request.namespace}" would hold ${entryCount} entries; the limit is ${item.maxEntriesPerNamespace}`,
            );
          }
          namespace.entryCount = entryCount;
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
      await this.#appendAuditIn(
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
        const status = await this.#transactionStatus(xid);
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

  async #transactionStatus(xid: string): Promise<'committed' | 'aborted' | 'in progress' | undefined> {
    try {
      const { rows } = await this.#pool.query<{ status: string | null }>('SELECT txid_status($1::bigint) AS status', [
        xid,
      ]);
      const status = rows[0]?.status;
      return status === 'committed' || status === 'aborted' || status === 'in progress' ? status : undefined;
    } catch {
      return undefined;
    }
  }

  // --- internals: audit ---

  /**
   * Appends records to the audit chain inside the caller's transaction. The head row's lock makes
   * appends from every node one chain; it is held to the end of the transaction. With `revision`,
   * the newest revision is also announced to every node's watchers (delivered at COMMIT).
   */
  async #appendAuditIn(client: pg.ClientBase, input: AuditInput): Promise<AuditRecord>;
  async #appendAuditIn(client: pg.ClientBase, inputs: AuditInput[], revision: number): Promise<AuditRecord[]>;
  async #appendAuditIn(
    client: pg.ClientBase,
    inputs: AuditInput | AuditInput[],
    revision?: number,
  ): Promise<AuditRecord | AuditRecord[]> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const { rows } = await client.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE',
    );
    let previous = rows[0] as { seq: number; hash: string };
    const now = this.#clock.now();
    const records = list.map((input) => {
      const record = chainAuditRecord(previous, input, now);
      previous = record;
      return record;
    });
    await client.query(
      `WITH a AS (
         INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       ), h AS (
         UPDATE audit_head SET seq = $9, hash = $10 WHERE id = 1
       )
       SELECT CASE WHEN $11::bigint IS NULL THEN NULL ELSE pg_notify('${revisionChannel}', $11::text) END`,
      [
        records.map((r) => r.seq),
        records.map((r) => r.at),
        records.map((r) => r.actor),
        records.map((r) => r.action),
        records.map((r) => r.target),
        records.map((r) => JSON.stringify(r.details)),
        records.map((r) => r.prevHash),
        records.map((r) => r.hash),
        previous.seq,
        previous.hash,
        revision ?? null,
      ],
    );
    return Array.isArray(inputs) ? records : (records[0] as AuditRecord);
  }

  // --- internals: watching ---

  #startWatching(): void {
    if (this.#watching || this.#closed) return;
    this.#watching = true;
    void this.#connectListener();
    this.#pollTimer = setInterval(() => void this.#poll(), this.#revisionCheckMs);
    this.#pollTimer.unref();
  }

  async #connectListener(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ ...this.#clientConfig, application_name: 'herald-listen' });
    let lost = false;
    const onLost = (): void => {
      if (lost) return;
      lost = true;
      if (this.#listenerClient === client) this.#listenerClient = undefined;
      void client.end().catch(() => undefined);
      if (!this.#closed && this.#reconnectTimer === undefined) {
        this.#reconnectTimer = setTimeout(() => {
          this.#reconnectTimer = undefined;
          void this.#connectListener();
        }, this.#revisionCheckMs);
        this.#reconnectTimer.unref();
      }
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.channel === revisionChannel) this.#deliver(Number(message.payload));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${revisionChannel}`);
    } catch {
      onLost();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listenerClient = client;
    // Catch up on anything committed while there was no listener.
    void this.#poll();
  }

  /**
   * The safety net under LISTEN/NOTIFY: reads the current revision. It runs on the listening
   * connection when there is one, so that it also proves that connection alive (a query on a dead
   * one fails within the query timeout, and the listener is then reconnected).
   */
  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    const listener = this.#listenerClient;
    try {
      const revision = await this.#meta(listener ?? this.#pool, 'revision');
      this.#deliver(revision);
    } catch {
      if (listener && this.#listenerClient === listener)
        listener.emit('error', new Error('the listening connection failed its check'));
    } finally {
      this.#polling = false;
    }
  }

  #deliver(revision: number): void {
    if (!Number.isInteger(revision) || revision <= this.#lastDelivered || this.#closed) return;
    this.#lastDelivered = revision;
    for (const listener of [...this.#listeners]) {
      try {
        listener(revision);
      } catch (error) {
        // A listener's bug must not stop the others, nor the store; surface it as uncaught.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  // --- internals: plumbing ---

  async #meta(
    queryable: pg.Pool | pg.ClientBase,
    name: 'revision' | 'compacted_revision',
    forUpdate = false,
  ): Promise<number> {
    const { rows } = await queryable.query<{ value: number }>(
      `SELECT value FROM meta WHERE name = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [name],
    );
    return (rows[0] as { value: number }).value;
  }

  /** Runs a read on the pool, mapping connection failures to `unavailable`. */
  async #read<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError();
    return this.#track(work());
  }

  /** Runs `work` in one transaction on one pooled connection. */
  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError();
    return this.#track(
      this.#withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await work(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          if (!isConnectionError(error)) await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    );
  }

  /** Lends a pooled connection; one that met a connection error is destroyed rather than reused. */
  async #withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await checkOut(this.#pool);
    } catch (error) {
      throw toStoreError(error);
    }
    try {
      const result = await work(client);
      client.off('error', ignore);
      client.release();
      return result;
    } catch (error) {
      client.off('error', ignore);
      client.release(isConnectionError(error) ? (error as Error) : undefined);
      throw error;
    }
  }

  async #track<T>(promise: Promise<T>): Promise<T> {
    this.#inflight.add(promise);
    try {
      return await promise;
    } catch (error) {
      throw toStoreError(error);
    } finally {
      this.#inflight.delete(promise);
    }
  }
}

function ignore(): void {}

/**
 * Checks a connection out of the pool with an 'error' listener attached in the same tick as the
 * pool hands it over. The pool removes its own listener at that moment, and a backend terminated
 * during connection setup can deliver its FATAL error in the same packet as ReadyForQuery: with
 * `await pool.connect()` that error would be emitted before our listener is attached (the promise
 * resolves a microtask later), and an 'error' event without a listener kills the process.
 * The caller removes `ignore` before releasing the connection.
 */
function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error || !client) {
        reject(error ?? new Error('the pool returned no connection'));
        return;
      }
      client.on('error', ignore);
      resolve(client);
    });
  });
}

function closedError(): HeraldError {
  return new HeraldError('shutting_down', 'the store is closed');
}

/** Identity of an entry across namespaces, for the maps of a group-commit round. */
function slot(namespace: string, address: { key: string; label: string }): string {
  return `${namespace}\u0000${addressId(address)}`;
}

/**
 * Takes the transaction-level advisory lock of each namespace, in key order so that two rounds that
 * share namespaces cannot deadlock. Released at COMMIT or ROLLBACK.
 */
async function lockNamespaces(client: pg.ClientBase, names: readonly string[]): Promise<void> {
  const keys = [...new Set(names.map((name) => advisoryKey32(`namespace:${name}`)))].sort((a, b) => a - b);
  await client.query('SELECT pg_advisory_xact_lock($1::integer, k) FROM unnest($2::integer[]) AS k', [
    namespaceLockClass,
    keys,
  ]);
}

async function requireNamespace(client: pg.ClientBase, name: string): Promise<NamespaceRecord> {
  const { rows } = await client.query<NamespaceRow>('SELECT * FROM namespaces WHERE name = $1', [name]);
  if (!rows[0]) throw new HeraldError('namespace_not_found', `namespace "${name}" does not exist`);
  return toNamespace(rows[0]);
}

function checkAsOf(asOf: number, current: number, compacted: number): void {
  if (!Number.isInteger(asOf) || asOf < 0)
    throw new HeraldError('invalid_revision', `revision ${asOf} is not a revision`);
  if (asOf < compacted) {
    throw new HeraldError('revision_compacted', `history before revision ${compacted} was compacted`, {
      extensions: { compactedRevision: compacted },
    });
  }
  if (asOf > current)
    throw new HeraldError('revision_not_found', `revision ${asOf} is newer than the current revision ${current}`);
}
