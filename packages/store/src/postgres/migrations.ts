import pg from 'pg';
import { auditGenesisHash } from '@herald/core';
import { advisoryKey64, clientConfig, defaultTimeouts, toStoreError } from './connection.js';

/**
 * Versioned schema of the PostgreSQL store. Each entry runs once, in order; `schema_migrations`
 * records which have run. Never edit a released migration: append a new one.
 *
 * Text that is ordered or compared (names, keys, labels, ids) is `COLLATE "C"`, so that order is
 * byte order of UTF-8, exactly as in SQLite. JSON is kept as text, byte for byte as written (the
 * audit chain hashes what it reads back). Entry values are bytea because text cannot hold U+0000.
 */
export const postgresMigrations: readonly string[] = [
  `
  CREATE TABLE meta (
    name text PRIMARY KEY,
    value bigint NOT NULL
  );
  INSERT INTO meta (name, value) VALUES ('revision', 0), ('compacted_revision', 0);

  CREATE TABLE namespaces (
    name text COLLATE "C" PRIMARY KEY,
    description text NOT NULL,
    schema text,
    revision bigint NOT NULL DEFAULT 0,
    entry_count bigint NOT NULL DEFAULT 0,
    created_at bigint NOT NULL
  );

  -- One row per version of an entry; superseded_at is the revision that replaced it (NULL while latest).
  CREATE TABLE entry_versions (
    namespace text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    label text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    superseded_at bigint,
    value bytea NOT NULL,
    content_type text NOT NULL,
    tags text NOT NULL,
    locked boolean NOT NULL,
    secret boolean NOT NULL,
    deleted boolean NOT NULL,
    author text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (namespace, key, label, revision)
  );
  CREATE UNIQUE INDEX entry_versions_latest ON entry_versions (namespace, key, label) WHERE superseded_at IS NULL;
  CREATE INDEX entry_versions_by_revision ON entry_versions (namespace, revision);
  CREATE INDEX entry_versions_superseded ON entry_versions (superseded_at) WHERE superseded_at IS NOT NULL;

  CREATE TABLE commits (
    revision bigint PRIMARY KEY,
    namespace text COLLATE "C" NOT NULL,
    author text NOT NULL,
    message text NOT NULL,
    created_at bigint NOT NULL,
    changes text NOT NULL
  );
  CREATE INDEX commits_by_namespace ON commits (namespace, revision);

  CREATE TABLE tokens (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    scopes text NOT NULL,
    token_hash text COLLATE "C" NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    created_by text NOT NULL,
    expires_at bigint,
    revoked_at bigint
  );

  CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    at bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    details text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
  );
  -- The chain's head in one row: appenders lock it, so appends from every node form one chain.
  CREATE TABLE audit_head (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL
  );
  INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${auditGenesisHash}');

  -- One row per leadership name; fence grows by one each time a node takes the leadership.
  CREATE TABLE leadership (
    name text PRIMARY KEY,
    fence bigint NOT NULL,
    holder text NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
  );
  `,
  `
  CREATE TABLE settings (
    name text PRIMARY KEY,
    value text NOT NULL
  );
  `,
  `
  ALTER TABLE namespaces ADD COLUMN policy text;

  CREATE TABLE releases (
    namespace text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    revision bigint NOT NULL,
    kind text NOT NULL,
    author text NOT NULL,
    note text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (namespace, seq)
  );

  CREATE TABLE signing_keys (
    key_id text COLLATE "C" PRIMARY KEY,
    public_key text NOT NULL,
    encrypted_private_key text NOT NULL,
    created_at bigint NOT NULL,
    endorsed_by text
  );

  CREATE TABLE instances (
    instance_id text COLLATE "C" PRIMARY KEY,
    attributes text NOT NULL,
    health text NOT NULL,
    health_detail text NOT NULL,
    last_seen bigint NOT NULL
  );

  CREATE TABLE instance_views (
    instance_id text COLLATE "C" NOT NULL,
    namespace text COLLATE "C" NOT NULL,
    labels text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    digest text NOT NULL,
    status text NOT NULL,
    reason text NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (namespace, instance_id, labels)
  );
  `,
  `
  CREATE TABLE rollouts (
    id text COLLATE "C" PRIMARY KEY,
    namespace text COLLATE "C" NOT NULL,
    active boolean NOT NULL,
    state text NOT NULL,
    version bigint NOT NULL,
    updated_at bigint NOT NULL
  );
  CREATE UNIQUE INDEX rollouts_one_active ON rollouts (namespace) WHERE active;
  CREATE INDEX rollouts_by_namespace ON rollouts (namespace, updated_at);
  `,
  `
  -- The Azure App Configuration API: HMAC access keys (a token whose secret is kept, encrypted),
  -- point-in-time reads (the revision of a namespace at a time), and snapshots with their items.
  CREATE TABLE access_keys (
    token_id text COLLATE "C" PRIMARY KEY REFERENCES tokens (id),
    encrypted_secret text NOT NULL
  );

  CREATE INDEX commits_by_namespace_time ON commits (namespace, created_at);

  CREATE TABLE snapshots (
    namespace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    status text NOT NULL,
    filters text NOT NULL,
    composition_type text NOT NULL,
    retention_period bigint NOT NULL,
    tags text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    revision bigint NOT NULL,
    items_count bigint NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    PRIMARY KEY (namespace, name)
  );

  CREATE TABLE snapshot_items (
    namespace text COLLATE "C" NOT NULL,
    snapshot text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    label text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    value bytea NOT NULL,
    content_type text NOT NULL,
    tags text NOT NULL,
    locked boolean NOT NULL,
    secret boolean NOT NULL,
    author text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (namespace, snapshot, key, label)
  );
  `,
  `
  -- Instance records per namespace (issue 19): what an instance reports changes only the namespaces
  -- it reported views of, and the first reporter (token id) of an instance in a namespace owns the
  -- record there. Records from before carry reporter '' and go to whoever reports next.
  CREATE TABLE instance_records (
    namespace text COLLATE "C" NOT NULL,
    instance_id text COLLATE "C" NOT NULL,
    reporter text NOT NULL,
    attributes text NOT NULL,
    health text NOT NULL,
    health_detail text NOT NULL,
    last_seen bigint NOT NULL,
    PRIMARY KEY (namespace, instance_id)
  );
  INSERT INTO instance_records (namespace, instance_id, reporter, attributes, health, health_detail, last_seen)
    SELECT DISTINCT v.namespace, i.instance_id, '', i.attributes, i.health, i.health_detail, i.last_seen
    FROM instances i JOIN instance_views v ON v.instance_id = i.instance_id;
  DROP TABLE instances;
  ALTER TABLE instance_records RENAME TO instances;
  ALTER TABLE instances RENAME CONSTRAINT instance_records_pkey TO instances_pkey;
  CREATE INDEX instances_by_last_seen ON instances (last_seen);
  CREATE INDEX instances_by_id ON instances (instance_id);
  `,
  `
  -- Flag usage (issue 17): evaluation counts per namespace, flag, variant and hour (pruned after
  -- the retention), and each flag's last evaluation (one row per flag, kept for stale flags).
  CREATE TABLE flag_evaluations (
    namespace text COLLATE "C" NOT NULL,
    flag text COLLATE "C" NOT NULL,
    variant text COLLATE "C" NOT NULL,
    hour bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (namespace, flag, variant, hour)
  );
  CREATE INDEX flag_evaluations_by_hour ON flag_evaluations (hour);
  CREATE TABLE flag_last_evaluated (
    namespace text COLLATE "C" NOT NULL,
    flag text COLLATE "C" NOT NULL,
    last_at bigint NOT NULL,
    PRIMARY KEY (namespace, flag)
  );
  `,
  `
  -- Release traces (issue 16): when each instance applied its release (its clock), the relays its
  -- report came through, and when each relay received and served a release.
  ALTER TABLE instance_views ADD COLUMN applied_at bigint;
  ALTER TABLE instances ADD COLUMN hops text NOT NULL DEFAULT '[]';
  CREATE TABLE relay_receipts (
    namespace text NOT NULL,
    seq bigint NOT NULL,
    relay text NOT NULL,
    path text NOT NULL,
    received_at bigint NOT NULL,
    served_at bigint,
    PRIMARY KEY (namespace, seq, relay)
  );
  `,
  `
  -- Change control (issue 15): change requests and scheduled actions, their bodies the server's JSON.
  CREATE TABLE control_records (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    namespace text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    due_at bigint,
    body text NOT NULL,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (kind, id)
  );
  CREATE INDEX control_records_by_namespace ON control_records (kind, namespace, created_at);
  CREATE INDEX control_records_by_due ON control_records (kind, state, due_at);
  `,
  `
  -- Durable commits in one statement (issue 18): the tail of a group-commit round, checked against
  -- the state the round was decided on (see commit-round.ts). Returns true, or false when that
  -- state is no longer current (nothing is written then); raises HR409 when the audit head moved
  -- after the revisions were allocated (the transaction must roll back).
  CREATE OR REPLACE FUNCTION herald_commit_round(
    lock_class integer, lock_keys integer[],
    ns_name text[], ns_revision bigint[], ns_entry_count bigint[], ns_release_seq bigint[],
    ns_new_revision bigint[], ns_new_entry_count bigint[],
    expected_revision bigint, allocated integer, head_seq bigint, head_hash text,
    r_namespace text[], r_seq bigint[], r_revision bigint[], r_kind text[], r_author text[], r_note text[], r_created_at bigint[],
    s_namespace text[], s_key text[], s_label text[], s_revision bigint[],
    v_namespace text[], v_key text[], v_label text[], v_revision bigint[], v_superseded_at bigint[], v_value bytea[],
    v_content_type text[], v_tags text[], v_locked boolean[], v_secret boolean[], v_deleted boolean[], v_author text[],
    v_created_at bigint[],
    c_revision bigint[], c_namespace text[], c_author text[], c_message text[], c_created_at bigint[], c_changes text[],
    a_seq bigint[], a_at bigint[], a_actor text[], a_action text[], a_target text[], a_details text[], a_prev_hash text[],
    a_hash text[],
    change text
  ) RETURNS boolean LANGUAGE plpgsql AS $$
  DECLARE
    matching integer;
  BEGIN
    -- The namespaces' locks, in key order (as lockNamespaces takes them): under them no other
    -- writer can change what is checked next until this transaction ends.
    PERFORM pg_advisory_xact_lock(lock_class, k) FROM unnest(lock_keys) AS k;
    SELECT count(*) INTO matching
      FROM unnest(ns_name, ns_revision, ns_entry_count, ns_release_seq) AS x(name, revision, entry_count, release_seq)
      JOIN namespaces n ON n.name = x.name AND n.revision = x.revision AND n.entry_count = x.entry_count
     WHERE x.release_seq = coalesce((SELECT max(r.seq) FROM releases r WHERE r.namespace = x.name), 0);
    IF matching <> cardinality(ns_name) THEN
      RETURN false;
    END IF;
    -- From here the revision row is locked to the end of the transaction: keep it short.
    UPDATE meta SET value = value + allocated WHERE name = 'revision' AND value = expected_revision;
    IF NOT FOUND THEN
      RETURN false;
    END IF;
    UPDATE audit_head SET seq = a_seq[cardinality(a_seq)], hash = a_hash[cardinality(a_hash)]
     WHERE id = 1 AND seq = head_seq AND hash = head_hash;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'the audit head moved' USING ERRCODE = 'HR409';
    END IF;
    INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at)
      SELECT * FROM unnest(r_namespace, r_seq, r_revision, r_kind, r_author, r_note, r_created_at);
    UPDATE entry_versions e SET superseded_at = s.revision
      FROM unnest(s_namespace, s_key, s_label, s_revision) AS s(namespace, key, label, revision)
     WHERE e.namespace = s.namespace AND e.key = s.key AND e.label = s.label AND e.superseded_at IS NULL;
    INSERT INTO entry_versions (namespace, key, label, revision, superseded_at, value, content_type, tags, locked, secret,
                                deleted, author, created_at)
      SELECT * FROM unnest(v_namespace, v_key, v_label, v_revision, v_superseded_at, v_value, v_content_type, v_tags,
                           v_locked, v_secret, v_deleted, v_author, v_created_at);
    INSERT INTO commits (revision, namespace, author, message, created_at, changes)
      SELECT * FROM unnest(c_revision, c_namespace, c_author, c_message, c_created_at, c_changes);
    UPDATE namespaces n SET revision = u.revision, entry_count = u.entry_count
      FROM unnest(ns_name, ns_new_revision, ns_new_entry_count) AS u(name, revision, entry_count)
     WHERE n.name = u.name;
    INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash)
      SELECT * FROM unnest(a_seq, a_at, a_actor, a_action, a_target, a_details, a_prev_hash, a_hash);
    PERFORM pg_notify('herald_revisions', (expected_revision + allocated)::text);
    PERFORM pg_notify('herald_changes', change);
    RETURN true;
  END
  $$;
  `,
  `
  -- The commit round's statements planned once per connection (generic plans), not at every call:
  -- with arrays for parameters, a custom plan (for the arrays' actual lengths) always looks
  -- cheaper than a generic one, so PostgreSQL planned all ten statements anew at every call, a
  -- fifth of the call's CPU, inside the critical section that holds the revision row. Every
  -- statement's generic plan is an index lookup per element (each table's plan is chosen anew
  -- when its statistics change, as for any prepared statement).
  ALTER FUNCTION herald_commit_round SET plan_cache_mode = force_generic_plan;
  `,
  `
  -- The commit round's reads and updates of existing rows, one element at a time (issue 18). A
  -- generic plan is made at a connection's first call, on the statistics of that moment. Made on a
  -- new, small table, the set-based UPDATE of the superseded versions joined the arrays to a scan
  -- of every latest version (of every namespace): after 20,000 entries were imported, a one-key
  -- commit took 11 ms instead of 0.7, until autovacuum happened to analyze the table. Looked up one
  -- address, name or release at a time by their whole keys, with sequential scans ruled out, the
  -- plan is an index lookup per element whatever the statistics say. Same signature and results.
  CREATE OR REPLACE FUNCTION herald_commit_round(
    lock_class integer, lock_keys integer[],
    ns_name text[], ns_revision bigint[], ns_entry_count bigint[], ns_release_seq bigint[],
    ns_new_revision bigint[], ns_new_entry_count bigint[],
    expected_revision bigint, allocated integer, head_seq bigint, head_hash text,
    r_namespace text[], r_seq bigint[], r_revision bigint[], r_kind text[], r_author text[], r_note text[], r_created_at bigint[],
    s_namespace text[], s_key text[], s_label text[], s_revision bigint[],
    v_namespace text[], v_key text[], v_label text[], v_revision bigint[], v_superseded_at bigint[], v_value bytea[],
    v_content_type text[], v_tags text[], v_locked boolean[], v_secret boolean[], v_deleted boolean[], v_author text[],
    v_created_at bigint[],
    c_revision bigint[], c_namespace text[], c_author text[], c_message text[], c_created_at bigint[], c_changes text[],
    a_seq bigint[], a_at bigint[], a_actor text[], a_action text[], a_target text[], a_details text[], a_prev_hash text[],
    a_hash text[],
    change text
  ) RETURNS boolean LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
  AS $$
  BEGIN
    -- The namespaces' locks, in key order (as lockNamespaces takes them): under them no other
    -- writer can change what is checked next until this transaction ends.
    PERFORM pg_advisory_xact_lock(lock_class, k) FROM unnest(lock_keys) AS k;
    FOR i IN 1 .. coalesce(cardinality(ns_name), 0) LOOP
      PERFORM 1 FROM namespaces n
       WHERE n.name = ns_name[i] AND n.revision = ns_revision[i] AND n.entry_count = ns_entry_count[i]
         AND coalesce((SELECT max(r.seq) FROM releases r WHERE r.namespace = ns_name[i]), 0) = ns_release_seq[i];
      IF NOT FOUND THEN
        RETURN false;
      END IF;
    END LOOP;
    -- From here the revision row is locked to the end of the transaction: keep it short.
    UPDATE meta SET value = value + allocated WHERE name = 'revision' AND value = expected_revision;
    IF NOT FOUND THEN
      RETURN false;
    END IF;
    UPDATE audit_head SET seq = a_seq[cardinality(a_seq)], hash = a_hash[cardinality(a_hash)]
     WHERE id = 1 AND seq = head_seq AND hash = head_hash;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'the audit head moved' USING ERRCODE = 'HR409';
    END IF;
    INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at)
      SELECT * FROM unnest(r_namespace, r_seq, r_revision, r_kind, r_author, r_note, r_created_at);
    FOR i IN 1 .. coalesce(cardinality(s_key), 0) LOOP
      UPDATE entry_versions SET superseded_at = s_revision[i]
       WHERE namespace = s_namespace[i] AND key = s_key[i] AND label = s_label[i] AND superseded_at IS NULL;
    END LOOP;
    INSERT INTO entry_versions (namespace, key, label, revision, superseded_at, value, content_type, tags, locked, secret,
                                deleted, author, created_at)
      SELECT * FROM unnest(v_namespace, v_key, v_label, v_revision, v_superseded_at, v_value, v_content_type, v_tags,
                           v_locked, v_secret, v_deleted, v_author, v_created_at);
    INSERT INTO commits (revision, namespace, author, message, created_at, changes)
      SELECT * FROM unnest(c_revision, c_namespace, c_author, c_message, c_created_at, c_changes);
    FOR i IN 1 .. coalesce(cardinality(ns_name), 0) LOOP
      UPDATE namespaces SET revision = ns_new_revision[i], entry_count = ns_new_entry_count[i] WHERE name = ns_name[i];
    END LOOP;
    INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash)
      SELECT * FROM unnest(a_seq, a_at, a_actor, a_action, a_target, a_details, a_prev_hash, a_hash);
    PERFORM pg_notify('herald_revisions', (expected_revision + allocated)::text);
    PERFORM pg_notify('herald_changes', change);
    RETURN true;
  END
  $$;
  `,
];

const migrationLock = advisoryKey64('herald:schema-migrations');

export interface MigrationResult {
  /** Schema version before, and after. */
  from: number;
  to: number;
}

/**
 * Brings the schema up to date. Safe when several processes start at once: the whole migration
 * runs in one transaction under a transaction-level advisory lock, so the second process waits and
 * then finds nothing left to do. Refuses a database whose schema is newer than this Herald.
 */
export async function applyPostgresMigrations(client: pg.ClientBase): Promise<MigrationResult> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLock]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number }>(
      'SELECT coalesce(max(version), 0)::integer AS version FROM schema_migrations',
    );
    const from = rows[0]?.version ?? 0;
    if (from > postgresMigrations.length) {
      throw new Error(
        `the database is at schema version ${from}, newer than this Herald (${postgresMigrations.length}); upgrade Herald`,
      );
    }
    for (let i = from; i < postgresMigrations.length; i += 1) {
      await client.query(postgresMigrations[i] as string);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
    }
    await client.query('COMMIT');
    return { from, to: postgresMigrations.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** For `herald migrate --postgres URL`: applies pending migrations on one connection and closes it. */
export async function migratePostgres(connectionString: string): Promise<MigrationResult> {
  const client = new pg.Client(clientConfig(connectionString, defaultTimeouts, 'herald-migrate'));
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await applyPostgresMigrations(client);
  } catch (error) {
    throw toStoreError(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}
