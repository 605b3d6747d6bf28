import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
import { sqliteMigrations } from './migrations.js';

export interface SqliteStoreOptions {
  /** Path of the database file; parent folders are created. */
  path: string;
  clock?: Clock;
}

interface PendingCommit {
  request: CommitRequest;
  audit: AuditInput;
  maxEntriesPerNamespace: number;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so an acknowledged
 * commit survives a crash of the process and of the machine. better-sqlite3 is synchronous, so
 * concurrent commits are queued and written together, one transaction (one fsync) per turn of
 * the event loop, each in its own savepoint so that a failed precondition undoes only itself.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #clock: Clock;
  #pending: PendingCommit[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #revisionListeners = new Set<(revision: number) => void>();
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    mkdirSync(dirname(options.path), { recursive: true });
    const db = new Database(options.path);
    try {
      db.pragma('journal_mode = WAL');
      // FULL, not NORMAL: with NORMAL a power loss can roll back commits already acknowledged.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteStore(db, options.clock ?? systemClock);
  }

  async currentRevision(): Promise<number> {
    return this.#meta('revision');
  }

  async compactedRevision(): Promise<number> {
    return this.#meta('compacted_revision');
  }

  async createNamespace(
    input: { name: string; description: string; schema: NamespaceSchema | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#transaction(() => {
      const now = this.#clock.now();
      const inserted = this.#prepare(
        'INSERT INTO namespaces (name, description, schema, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
      ).run(input.name, input.description, input.schema === null ? null : JSON.stringify(input.schema), now);
      if (inserted.changes === 0) throw new HeraldError('namespace_exists', `namespace "${input.name}" already exists`);
      this.#appendAuditSync(audit);
      return this.#namespaceSync(input.name) as NamespaceRecord;
    });
  }

  async getNamespace(name: string): Promise<NamespaceRecord | undefined> {
    this.#assertOpen();
    return this.#namespaceSync(name);
  }

  async listNamespaces(query: { after?: string; limit: number }): Promise<NamespaceRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare('SELECT * FROM namespaces WHERE name > ? ORDER BY name LIMIT ?').all(
      query.after ?? '',
      query.limit,
    ) as NamespaceRow[];
    return rows.map(toNamespace);
  }

  async updateNamespace(
    name: string,
    patch: { description?: string; schema?: NamespaceSchema | null; policy?: Record<string, unknown> | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#transaction(() => {
      const existing = this.#requireNamespaceSync(name);
      const description = patch.description ?? existing.description;
      const schema = patch.schema === undefined ? existing.schema : patch.schema;
      const policy = patch.policy === undefined ? existing.policy : patch.policy;
      this.#prepare('UPDATE namespaces SET description = ?, schema = ?, policy = ? WHERE name = ?').run(
        description,
        schema === null ? null : JSON.stringify(schema),
        policy === null ? null : JSON.stringify(policy),
        name,
      );
      this.#appendAuditSync(audit);
      return this.#namespaceSync(name) as NamespaceRecord;
    });
  }

  async deleteNamespace(name: string, options: { force: boolean }, audit: AuditInput): Promise<void> {
    // Queued behind pending commits, so a commit accepted before the delete is not resurrected after it.
    await this.#flushNow();
    this.#transaction(() => {
      const existing = this.#requireNamespaceSync(name);
      if (existing.entryCount > 0 && !options.force) {
        throw new HeraldError(
          'namespace_not_empty',
          `namespace "${name}" has ${existing.entryCount} entries; delete them first or force`,
        );
      }
      this.#prepare('DELETE FROM entry_versions WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM commits WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM releases WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM rollouts WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM instance_views WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM snapshot_items WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM snapshots WHERE namespace = ?').run(name);
      this.#prepare('DELETE FROM namespaces WHERE name = ?').run(name);
      this.#appendAuditSync(audit);
    });
  }

  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise<CommitResult>((resolve, reject) => {
      this.#pending.push({ request, audit, maxEntriesPerNamespace: limits.maxEntriesPerNamespace, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  async readEntries(query: EntryQuery): Promise<EntryVersion[]> {
    this.#assertOpen();
    const where = ['namespace = @namespace', 'deleted = 0'];
    const params: Record<string, unknown> = { namespace: query.namespace };
    if (query.asOf === undefined) {
      where.push('superseded_at IS NULL');
    } else {
      this.#checkAsOf(query.asOf);
      where.push('revision <= @asOf', '(superseded_at IS NULL OR superseded_at > @asOf)');
      params.asOf = query.asOf;
    }
    if (query.key !== undefined) {
      where.push('key = @key');
      params.key = query.key;
    }
    if (query.keyPrefix) {
      where.push('key >= @prefix', 'substr(key, 1, @prefixLength) = @prefix');
      params.prefix = query.keyPrefix;
      // SQLite's substr counts characters (code points), not UTF-16 units: '😀'.length is 2.
      params.prefixLength = [...query.keyPrefix].length;
    }
    if (query.labels) {
      if (query.labels.length === 0) return [];
      where.push(`label IN (${query.labels.map((_, i) => `@label${i}`).join(', ')})`);
      query.labels.forEach((label, i) => (params[`label${i}`] = label));
    }
    if (query.after) {
      where.push('(key > @afterKey OR (key = @afterKey AND label > @afterLabel))');
      params.afterKey = query.after.key;
      params.afterLabel = query.after.label;
    }
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
    const rows = this.#prepare(
      `SELECT * FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY key, label${limit}`,
    ).all(params) as EntryRow[];
    return rows.map(toVersion);
  }

  async entryHistory(query: HistoryQuery): Promise<EntryVersion[]> {
    this.#assertOpen();
    const where = ['namespace = @namespace'];
    const params: Record<string, unknown> = { namespace: query.namespace, limit: query.limit };
    if (query.key !== undefined) {
      where.push('key = @key');
      params.key = query.key;
    }
    if (query.label !== undefined) {
      where.push('label = @label');
      params.label = query.label;
    }
    if (query.beforeRevision !== undefined) {
      where.push('revision < @before');
      params.before = query.beforeRevision;
    }
    if (query.sinceRevision !== undefined) {
      where.push('revision >= @since');
      params.since = query.sinceRevision;
    }
    const rows = this.#prepare(
      `SELECT * FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY revision ${query.order === 'oldest' ? 'ASC' : 'DESC'}, key, label LIMIT @limit`,
    ).all(params) as EntryRow[];
    return rows.map(toVersion);
  }

  async listCommits(query: CommitQuery): Promise<CommitRecord[]> {
    this.#assertOpen();
    const newest = query.order === 'newest';
    const after = query.afterRevision === undefined ? '' : newest ? ' AND revision < @after' : ' AND revision > @after';
    const rows = this.#prepare(
      `SELECT * FROM commits WHERE namespace = @namespace${after} ORDER BY revision ${newest ? 'DESC' : 'ASC'} LIMIT @limit`,
    ).all({ namespace: query.namespace, after: query.afterRevision, limit: query.limit }) as Array<{
      revision: number;
      namespace: string;
      author: string;
      message: string;
      created_at: number;
      changes: string;
    }>;
    return rows.map((row) => ({
      revision: row.revision,
      namespace: row.namespace,
      author: row.author,
      message: row.message,
      createdAt: row.created_at,
      changes: JSON.parse(row.changes) as CommitRecord['changes'],
    }));
  }

  async compact(revision: number, audit: AuditInput): Promise<CompactionResult> {
    await this.#flushNow();
    return this.#transaction(() => {
      const current = this.#meta('revision');
      if (!Number.isInteger(revision) || revision < 1 || revision > current) {
        throw new HeraldError(
          'invalid_revision',
          `compaction revision must be between 1 and the current revision ${current}`,
        );
      }
      const pinned = this.#prepare(
        'SELECT namespace, max(seq) AS seq, revision FROM releases GROUP BY namespace ORDER BY revision LIMIT 1',
      ).get() as { namespace: string; revision: number } | undefined;
      if (pinned && revision > pinned.revision) {
        throw new HeraldError(
          'invalid_revision',
          `cannot compact past revision ${pinned.revision}: the newest release of "${pinned.namespace}" is at that revision`,
        );
      }
      const already = this.#meta('compacted_revision');
      if (revision <= already) return { revision: already, removedVersions: 0 };
      // Superseded versions no read at or after `revision` can see, and tombstones that are already the past.
      const superseded = this.#prepare('DELETE FROM entry_versions WHERE superseded_at <= ?').run(revision);
      const tombstones = this.#prepare(
        'DELETE FROM entry_versions WHERE superseded_at IS NULL AND deleted = 1 AND revision <= ?',
      ).run(revision);
      this.#prepare("UPDATE meta SET value = ? WHERE name = 'compacted_revision'").run(revision);
      const result = { revision, removedVersions: superseded.changes + tombstones.changes };
      this.#appendAuditSync({ ...audit, details: { ...audit.details, ...result } });
      return result;
    });
  }

  async createRelease(
    input: { namespace: string; revision?: number; kind: ReleaseKind; author: string; note: string },
    audit: AuditInput,
  ): Promise<ReleaseRecord> {
    await this.#flushNow();
    return this.#transaction(() => {
      const namespace = this.#requireNamespaceSync(input.namespace);
      const revision = input.revision ?? namespace.revision;
      if (input.revision !== undefined) this.#checkAsOf(revision);
      const release = this.#insertReleaseSync({ ...input, revision });
      this.#appendAuditSync({ ...audit, details: { ...audit.details, seq: release.seq, revision } });
      return release;
    });
  }

  async getRelease(namespace: string, seq?: number): Promise<ReleaseRecord | undefined> {
    this.#assertOpen();
    const row = (
      seq === undefined
        ? this.#prepare('SELECT * FROM releases WHERE namespace = ? ORDER BY seq DESC LIMIT 1').get(namespace)
        : this.#prepare('SELECT * FROM releases WHERE namespace = ? AND seq = ?').get(namespace, seq)
    ) as ReleaseRow | undefined;
    return row && toRelease(row);
  }

  async listReleases(query: { namespace: string; beforeSeq?: number; limit: number }): Promise<ReleaseRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare('SELECT * FROM releases WHERE namespace = ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(
      query.namespace,
      query.beforeSeq ?? Number.MAX_SAFE_INTEGER,
      query.limit,
    ) as ReleaseRow[];
    return rows.map(toRelease);
  }

  async saveRollout(
    rollout: Omit<RolloutRecord, 'version' | 'updatedAt'>,
    expectedVersion: number,
    audit: AuditInput | undefined,
  ): Promise<RolloutRecord> {
    return this.#transaction(() => {
      const existing = this.#prepare('SELECT version FROM rollouts WHERE id = ?').get(rollout.id) as
        { version: number } | undefined;
      if ((existing?.version ?? 0) !== expectedVersion) {
        throw new HeraldError(
          'precondition_failed',
          `rollout ${rollout.id} is at version ${existing?.version ?? 0}, not ${expectedVersion}`,
        );
      }
      if (rollout.active) {
        const other = this.#prepare('SELECT id FROM rollouts WHERE namespace = ? AND active = 1 AND id <> ?').get(
          rollout.namespace,
          rollout.id,
        ) as { id: string } | undefined;
        if (other)
          throw new HeraldError('rollout_active', `rollout ${other.id} of "${rollout.namespace}" is still active`, {
            extensions: { rolloutId: other.id },
          });
      }
      const record: RolloutRecord = { ...rollout, version: expectedVersion + 1, updatedAt: this.#clock.now() };
      this.#prepare(
        `INSERT INTO rollouts (id, namespace, active, state, version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET active = excluded.active, state = excluded.state, version = excluded.version, updated_at = excluded.updated_at`,
      ).run(
        record.id,
        record.namespace,
        +record.active,
        JSON.stringify(record.state),
        record.version,
        record.updatedAt,
      );
      if (audit) this.#appendAuditSync(audit);
      return record;
    });
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    this.#assertOpen();
    const row = this.#prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as RolloutRow | undefined;
    return row && toRollout(row);
  }

  async listActiveRollouts(namespace?: string): Promise<RolloutRecord[]> {
    this.#assertOpen();
    const rows = (
      namespace === undefined
        ? this.#prepare('SELECT * FROM rollouts WHERE active = 1 ORDER BY namespace').all()
        : this.#prepare('SELECT * FROM rollouts WHERE active = 1 AND namespace = ?').all(namespace)
    ) as RolloutRow[];
    return rows.map(toRollout);
  }

  async listRollouts(namespace: string, limit: number): Promise<RolloutRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare('SELECT * FROM rollouts WHERE namespace = ? ORDER BY updated_at DESC, id LIMIT ?').all(
      namespace,
      limit,
    ) as RolloutRow[];
    return rows.map(toRollout);
  }

  async putSetting(name: string, value: string, audit: AuditInput): Promise<void> {
    this.#transaction(() => {
      this.#prepare(
        'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      ).run(name, value);
      this.#appendAuditSync(audit);
    });
  }

  async getSetting(name: string): Promise<string | undefined> {
    this.#assertOpen();
    return (this.#prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)
      ?.value;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare('SELECT * FROM signing_keys ORDER BY created_at, key_id').all() as Array<{
      key_id: string;
      public_key: string;
      encrypted_private_key: string;
      created_at: number;
      endorsed_by: string | null;
    }>;
    return rows.map((row) => ({
      keyId: row.key_id,
      publicKey: row.public_key,
      encryptedPrivateKey: row.encrypted_private_key,
      createdAt: row.created_at,
      endorsedBy: row.endorsed_by === null ? null : (JSON.parse(row.endorsed_by) as SigningKeyRecord['endorsedBy']),
    }));
  }

  async addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void> {
    this.#transaction(() => {
      this.#prepare(
        'INSERT INTO signing_keys (key_id, public_key, encrypted_private_key, created_at, endorsed_by) VALUES (?, ?, ?, ?, ?)',
      ).run(
        key.keyId,
        key.publicKey,
        key.encryptedPrivateKey,
        key.createdAt,
        key.endorsedBy === null ? null : JSON.stringify(key.endorsedBy),
      );
      this.#appendAuditSync(audit);
    });
  }

  async recordReports(reports: readonly InstanceReport[]): Promise<void> {
    if (reports.length === 0) return;
    this.#transaction(() => {
      const instance = this.#prepare(
        `INSERT INTO instances (instance_id, attributes, health, health_detail, last_seen) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (instance_id) DO UPDATE SET attributes = excluded.attributes, health = excluded.health,
           health_detail = excluded.health_detail, last_seen = excluded.last_seen WHERE excluded.last_seen >= instances.last_seen`,
      );
      const view = this.#prepare(
        `INSERT INTO instance_views (instance_id, namespace, labels, seq, digest, status, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, instance_id, labels) DO UPDATE SET seq = excluded.seq, digest = excluded.digest, status = excluded.status,
           reason = excluded.reason, updated_at = excluded.updated_at WHERE excluded.updated_at >= instance_views.updated_at`,
      );
      for (const report of reports) {
        instance.run(
          report.instanceId,
          JSON.stringify(report.attributes),
          report.health,
          report.healthDetail,
          report.at,
        );
        for (const v of report.views) {
          view.run(
            report.instanceId,
            v.namespace,
            JSON.stringify(v.labels),
            v.seq,
            v.digest,
            v.status,
            v.reason,
            report.at,
          );
        }
      }
    });
  }

  async listInstances(query: { namespace: string; seenSince: number }): Promise<InstanceRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare(
      `SELECT i.instance_id, i.attributes, i.health, i.health_detail, i.last_seen,
              v.labels, v.seq, v.digest, v.status, v.reason, v.updated_at
       FROM instance_views v JOIN instances i ON i.instance_id = v.instance_id
       WHERE v.namespace = ? AND i.last_seen >= ? ORDER BY i.instance_id, v.labels`,
    ).all(query.namespace, query.seenSince) as InstanceJoinRow[];
    return groupInstances(query.namespace, rows);
  }

  async createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    this.#transaction(() => {
      this.#prepare(
        'INSERT INTO tokens (id, name, scopes, token_hash, created_at, created_by, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        token.id,
        token.name,
        JSON.stringify(token.scopes),
        token.tokenHash,
        token.createdAt,
        token.createdBy,
        token.expiresAt,
        token.revokedAt,
      );
      this.#appendAuditSync(audit);
    });
  }

  async findToken(tokenHash: string): Promise<TokenRecord | undefined> {
    this.#assertOpen();
    const row = this.#prepare('SELECT * FROM tokens WHERE token_hash = ?').get(tokenHash) as TokenRow | undefined;
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    this.#assertOpen();
    return (this.#prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken);
  }

  async revokeToken(id: string, at: number, audit: AuditInput): Promise<TokenRecord> {
    return this.#transaction(() => {
      const row = this.#prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
      if (!row) throw new HeraldError('token_not_found', `token ${id} does not exist`);
      if (row.revoked_at === null) {
        this.#prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?').run(at, id);
        this.#appendAuditSync(audit);
      }
      return toToken(this.#prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow);
    });
  }

  async createAccessKey(key: AccessKeyRecord, audit: AuditInput): Promise<void> {
    const { token } = key;
    this.#transaction(() => {
      this.#prepare(
        'INSERT INTO tokens (id, name, scopes, token_hash, created_at, created_by, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        token.id,
        token.name,
        JSON.stringify(token.scopes),
        token.tokenHash,
        token.createdAt,
        token.createdBy,
        token.expiresAt,
        token.revokedAt,
      );
      this.#prepare('INSERT INTO access_keys (token_id, encrypted_secret) VALUES (?, ?)').run(
        token.id,
        key.encryptedSecret,
      );
      this.#appendAuditSync(audit);
    });
  }

  async findAccessKey(tokenId: string): Promise<AccessKeyRecord | undefined> {
    this.#assertOpen();
    const row = this.#prepare(
      'SELECT t.*, k.encrypted_secret FROM access_keys k JOIN tokens t ON t.id = k.token_id WHERE k.token_id = ?',
    ).get(tokenId) as (TokenRow & { encrypted_secret: string }) | undefined;
    return row && { token: toToken(row), encryptedSecret: row.encrypted_secret };
  }

  async namespaceRevisionAt(namespace: string, at: number): Promise<number> {
    this.#assertOpen();
    const row = this.#prepare(
      'SELECT max(revision) AS revision FROM commits WHERE namespace = ? AND created_at <= ?',
    ).get(namespace, at) as {
      revision: number | null;
    };
    return row.revision ?? 0;
  }

  async createSnapshot(
    record: SnapshotRecord,
    items: readonly EntryVersion[],
    audit: AuditInput,
  ): Promise<SnapshotRecord> {
    return this.#transaction(() => {
      this.#requireNamespaceSync(record.namespace);
      const existing = this.#prepare('SELECT * FROM snapshots WHERE namespace = ? AND name = ?').get(
        record.namespace,
        record.name,
      ) as SnapshotRow | undefined;
      if (existing) {
        if (!snapshotExpired(toSnapshot(existing), record.createdAt)) {
          throw new HeraldError('snapshot_exists', `snapshot "${record.name}" already exists in "${record.namespace}"`);
        }
        this.#prepare('DELETE FROM snapshot_items WHERE namespace = ? AND snapshot = ?').run(
          record.namespace,
          record.name,
        );
        this.#prepare('DELETE FROM snapshots WHERE namespace = ? AND name = ?').run(record.namespace, record.name);
      }
      this.#prepare(
        `INSERT INTO snapshots (namespace, name, status, filters, composition_type, retention_period, tags, created_at, expires_at, revision, items_count, size, etag)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
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
      );
      const insert = this.#prepare(
        `INSERT INTO snapshot_items (namespace, snapshot, key, label, revision, text, content_type, tags, locked, secret, author, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const v of items) {
        insert.run(
          record.namespace,
          record.name,
          v.key,
          v.label,
          v.revision,
          v.text,
          v.contentType,
          JSON.stringify(v.tags),
          +v.locked,
          +v.secret,
          v.author,
          v.createdAt,
        );
      }
      this.#appendAuditSync(audit);
      return record;
    });
  }

  async getSnapshot(namespace: string, name: string): Promise<SnapshotRecord | undefined> {
    this.#assertOpen();
    const row = this.#prepare('SELECT * FROM snapshots WHERE namespace = ? AND name = ?').get(namespace, name) as
      SnapshotRow | undefined;
    return row && toSnapshot(row);
  }

  async listSnapshots(query: { namespace: string; after?: string; limit: number }): Promise<SnapshotRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare('SELECT * FROM snapshots WHERE namespace = ? AND name > ? ORDER BY name LIMIT ?').all(
      query.namespace,
      query.after ?? '',
      query.limit,
    ) as SnapshotRow[];
    return rows.map(toSnapshot);
  }

  async updateSnapshot(
    namespace: string,
    name: string,
    patch: { status: SnapshotStatus; expiresAt: number | null; etag: string },
    ifEtag: string | undefined,
    audit: AuditInput,
  ): Promise<SnapshotRecord> {
    return this.#transaction(() => {
      const row = this.#prepare('SELECT * FROM snapshots WHERE namespace = ? AND name = ?').get(namespace, name) as
        SnapshotRow | undefined;
      if (!row) throw new HeraldError('snapshot_not_found', `snapshot "${name}" does not exist in "${namespace}"`);
      if (ifEtag !== undefined && row.etag !== ifEtag) {
        throw new HeraldError('precondition_failed', `snapshot "${name}" has etag "${row.etag}", not "${ifEtag}"`, {
          extensions: { conflicts: [] },
        });
      }
      this.#prepare('UPDATE snapshots SET status = ?, expires_at = ?, etag = ? WHERE namespace = ? AND name = ?').run(
        patch.status,
        patch.expiresAt,
        patch.etag,
        namespace,
        name,
      );
      this.#appendAuditSync(audit);
      return { ...toSnapshot(row), ...patch };
    });
  }

  async readSnapshotItems(query: {
    namespace: string;
    name: string;
    after?: { key: string; label: string };
    limit?: number;
  }): Promise<EntryVersion[]> {
    this.#assertOpen();
    const after = query.after ? ' AND (key > @afterKey OR (key = @afterKey AND label > @afterLabel))' : '';
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
    const rows = this.#prepare(
      `SELECT * FROM snapshot_items WHERE namespace = @namespace AND snapshot = @name${after} ORDER BY key, label${limit}`,
    ).all({
      namespace: query.namespace,
      name: query.name,
      ...(query.after ? { afterKey: query.after.key, afterLabel: query.after.label } : {}),
    }) as Array<Omit<EntryRow, 'deleted'> & { snapshot: string }>;
    return rows.map((row) => toVersion({ ...row, deleted: 0 }));
  }

  async claimSetting(name: string, value: string): Promise<string> {
    return this.#transaction(() => {
      this.#prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, value);
      return (this.#prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string }).value;
    });
  }

  async appendAudit(input: AuditInput): Promise<AuditRecord> {
    return this.#transaction(() => this.#appendAuditSync(input));
  }

  async listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    this.#assertOpen();
    const rows = this.#prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(
      query.afterSeq ?? 0,
      query.limit,
    ) as AuditRow[];
    return rows.map(toAudit);
  }

  watchRevisions(listener: (revision: number) => void): () => void {
    this.#revisionListeners.add(listener);
    return () => this.#revisionListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#db.close();
  }

  // --- internals ---

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    if (this.#closed) {
      for (const item of batch) item.reject(closedError());
      return;
    }
    const outcomes: Array<{ ok: true; result: CommitResult } | { ok: false; error: unknown }> = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const item of batch) {
        this.#db.exec('SAVEPOINT one_commit');
        try {
          outcomes.push({ ok: true, result: this.#applyCommit(item) });
          this.#db.exec('RELEASE one_commit');
        } catch (error) {
          this.#db.exec('ROLLBACK TO one_commit');
          this.#db.exec('RELEASE one_commit');
          outcomes.push({ ok: false, error });
        }
      }
      this.#db.exec('COMMIT');
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      const failure = new HeraldError('unavailable', 'the store could not write the commit', {
        cause: error,
        retryAfter: 1,
      });
      for (const item of batch) item.reject(failure);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) item.resolve(outcome.result);
      else item.reject(outcome?.error);
    });
    const newest = outcomes.reduce((max, o) => (o.ok ? Math.max(max, o.result.revision) : max), 0);
    if (newest > 0) for (const listener of this.#revisionListeners) listener(newest);
  }

  /** Runs queued commits now; for operations that must be ordered after them. */
  async #flushNow(): Promise<void> {
    this.#assertOpen();
    this.#flush();
  }

  #applyCommit(item: PendingCommit): CommitResult {
    const { request } = item;
    checkDistinctChanges(request.changes);
    const namespace = this.#requireNamespaceSync(request.namespace);
    if (request.ifNamespaceRevision !== undefined && namespace.revision > request.ifNamespaceRevision) {
      throw new HeraldError(
        'precondition_failed',
        `namespace "${request.namespace}" changed after revision ${request.ifNamespaceRevision} (now ${namespace.revision})`,
        { extensions: { conflicts: [], namespaceRevision: namespace.revision } },
      );
    }
    const latest = this.#prepare(
      'SELECT * FROM entry_versions WHERE namespace = ? AND key = ? AND label = ? AND superseded_at IS NULL',
    );
    const current = new Map<string, EntryVersion>();
    for (const change of request.changes) {
      const row = latest.get(request.namespace, change.key, change.label) as EntryRow | undefined;
      if (row) current.set(addressId(change), toVersion(row));
    }
    const revision = this.#meta('revision') + 1;
    const now = this.#clock.now();
    const plan = planCommit(request, current, (v) => entryEtag(v, v.revision), revision, now);
    const entryCount = namespace.entryCount + plan.liveDelta;
    if (plan.liveDelta > 0 && entryCount > item.maxEntriesPerNamespace) {
      throw new HeraldError(
        'namespace_full',
        `namespace "${request.namespace}" would hold ${entryCount} entries; the limit is ${item.maxEntriesPerNamespace}`,
      );
    }
    const supersede = this.#prepare(
      'UPDATE entry_versions SET superseded_at = ? WHERE namespace = ? AND key = ? AND label = ? AND superseded_at IS NULL',
    );
    const insert = this.#prepare(
      `INSERT INTO entry_versions (namespace, key, label, revision, superseded_at, text, content_type, tags, locked, secret, deleted, author, created_at)
       VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const v of plan.versions) {
      supersede.run(revision, v.namespace, v.key, v.label);
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
    this.#prepare(
      'INSERT INTO commits (revision, namespace, author, message, created_at, changes) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(revision, request.namespace, request.author, request.message, now, JSON.stringify(changes));
    this.#prepare('UPDATE namespaces SET revision = ?, entry_count = ? WHERE name = ?').run(
      revision,
      entryCount,
      request.namespace,
    );
    this.#prepare("UPDATE meta SET value = ? WHERE name = 'revision'").run(revision);
    const release = request.release
      ? this.#insertReleaseSync({
          namespace: request.namespace,
          revision,
          kind: 'commit',
          author: request.author,
          note: request.message,
        })
      : undefined;
    this.#appendAuditSync({
      ...item.audit,
      details: { ...item.audit.details, revision, ...(release ? { releaseSeq: release.seq } : {}) },
    });
    return { revision, versions: plan.versions, ...(release ? { release } : {}) };
  }

  #insertReleaseSync(input: {
    namespace: string;
    revision: number;
    kind: ReleaseKind;
    author: string;
    note: string;
  }): ReleaseRecord {
    const last = this.#prepare('SELECT max(seq) AS seq FROM releases WHERE namespace = ?').get(input.namespace) as {
      seq: number | null;
    };
    const release: ReleaseRecord = { ...input, seq: (last.seq ?? 0) + 1, createdAt: this.#clock.now() };
    this.#prepare(
      'INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(
      release.namespace,
      release.seq,
      release.revision,
      release.kind,
      release.author,
      release.note,
      release.createdAt,
    );
    return release;
  }

  #appendAuditSync(input: AuditInput): AuditRecord {
    const last = this.#prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; hash: string } | undefined;
    const record = chainAuditRecord(last, input, this.#clock.now());
    this.#prepare(
      'INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      record.seq,
      record.at,
      record.actor,
      record.action,
      record.target,
      JSON.stringify(record.details),
      record.prevHash,
      record.hash,
    );
    return record;
  }

  /** Statements are compiled once and reused: preparing costs more than running most of them. */
  #prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #transaction<T>(work: () => T): T {
    this.#assertOpen();
    return this.#db.transaction(work).immediate();
  }

  #meta(name: 'revision' | 'compacted_revision'): number {
    this.#assertOpen();
    return (this.#prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: number }).value;
  }

  #checkAsOf(asOf: number): void {
    if (!Number.isInteger(asOf) || asOf < 0)
      throw new HeraldError('invalid_revision', `revision ${asOf} is not a revision`);
    const compacted = this.#meta('compacted_revision');
    if (asOf < compacted) {
      throw new HeraldError('revision_compacted', `history before revision ${compacted} was compacted`, {
        extensions: { compactedRevision: compacted },
      });
    }
    const current = this.#meta('revision');
    if (asOf > current)
      throw new HeraldError('revision_not_found', `revision ${asOf} is newer than the current revision ${current}`);
  }

  #namespaceSync(name: string): NamespaceRecord | undefined {
    const row = this.#prepare('SELECT * FROM namespaces WHERE name = ?').get(name) as NamespaceRow | undefined;
    return row && toNamespace(row);
  }

  #requireNamespaceSync(name: string): NamespaceRecord {
    const namespace = this.#namespaceSync(name);
    if (!namespace) throw new HeraldError('namespace_not_found', `namespace "${name}" does not exist`);
    return namespace;
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError();
  }
}

function closedError(): HeraldError {
  return new HeraldError('shutting_down', 'the store is closed');
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > sqliteMigrations.length) {
    throw new Error(
      `the database is at schema version ${version}, newer than this Herald (${sqliteMigrations.length}); upgrade Herald`,
    );
  }
  for (let i = version; i < sqliteMigrations.length; i += 1) {
    db.transaction(() => {
      db.exec(sqliteMigrations[i] as string);
      db.pragma(`user_version = ${i + 1}`);
    }).immediate();
  }
}

/** An archived snapshot past its expiry is gone: its name may be used again. */
function snapshotExpired(snapshot: SnapshotRecord, now: number): boolean {
  return snapshot.status === 'archived' && snapshot.expiresAt !== null && snapshot.expiresAt <= now;
}
