/**
 * Versioned schema for the embedded store. Each entry runs once, in order, inside a transaction;
 * PRAGMA user_version records how far a database has come. Never edit a released migration:
 * append a new one.
 */
export const sqliteMigrations: readonly string[] = [
  `
  CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  INSERT INTO meta (name, value) VALUES ('revision', 0), ('compacted_revision', 0);

  CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    schema TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    entry_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- One row per version of an entry. superseded_at is the revision that replaced the version
  -- (NULL while it is the latest), so "as of R" is one range check and needs no MAX() subquery.
  CREATE TABLE entry_versions (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    revision INTEGER NOT NULL,
    superseded_at INTEGER,
    text TEXT NOT NULL,
    content_type TEXT NOT NULL,
    tags TEXT NOT NULL,
    locked INTEGER NOT NULL,
    secret INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    author TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key, label, revision)
  ) STRICT;
  CREATE INDEX entry_versions_latest ON entry_versions (namespace, key, label) WHERE superseded_at IS NULL;
  CREATE INDEX entry_versions_by_revision ON entry_versions (namespace, revision);

  CREATE TABLE commits (
    revision INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    changes TEXT NOT NULL
  ) STRICT;
  CREATE INDEX commits_by_namespace ON commits (namespace, revision);

  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
  ) STRICT;

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  ) STRICT;
  `,
  `
  CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  `
  ALTER TABLE namespaces ADD COLUMN policy TEXT;

  CREATE TABLE releases (
    namespace TEXT NOT NULL,
    seq INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, seq)
  ) STRICT;

  CREATE TABLE signing_keys (
    key_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    endorsed_by TEXT
  ) STRICT;

  CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    health TEXT NOT NULL,
    health_detail TEXT NOT NULL,
    last_seen INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE instance_views (
    instance_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    labels TEXT NOT NULL,
    seq INTEGER NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, instance_id, labels)
  ) STRICT;
  `,
  `
  CREATE TABLE rollouts (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    active INTEGER NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX rollouts_one_active ON rollouts (namespace) WHERE active = 1;
  CREATE INDEX rollouts_by_namespace ON rollouts (namespace, updated_at);
  `,
  `
  -- The Azure App Configuration API: HMAC access keys (a token whose secret is kept, encrypted),
  -- point-in-time reads (the revision of a namespace at a time), and snapshots with their items.
  CREATE TABLE access_keys (
    token_id TEXT PRIMARY KEY REFERENCES tokens (id),
    encrypted_secret TEXT NOT NULL
  ) STRICT;

  CREATE INDEX commits_by_namespace_time ON commits (namespace, created_at);

  CREATE TABLE snapshots (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    filters TEXT NOT NULL,
    composition_type TEXT NOT NULL,
    retention_period INTEGER NOT NULL,
    tags TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revision INTEGER NOT NULL,
    items_count INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
  ) STRICT;

  CREATE TABLE snapshot_items (
    namespace TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    revision INTEGER NOT NULL,
    text TEXT NOT NULL,
    content_type TEXT NOT NULL,
    tags TEXT NOT NULL,
    locked INTEGER NOT NULL,
    secret INTEGER NOT NULL,
    author TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, snapshot, key, label)
  ) STRICT;
  `,
  `
  -- Instance records per namespace (issue 19): what an instance reports changes only the namespaces
  -- it reported views of, and the first reporter (token id) of an instance in a namespace owns the
  -- record there. Records from before carry reporter '' and go to whoever reports next.
  CREATE TABLE instance_records (
    namespace TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    reporter TEXT NOT NULL,
    attributes TEXT NOT NULL,
    health TEXT NOT NULL,
    health_detail TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (namespace, instance_id)
  ) STRICT;
  INSERT INTO instance_records (namespace, instance_id, reporter, attributes, health, health_detail, last_seen)
    SELECT DISTINCT v.namespace, i.instance_id, '', i.attributes, i.health, i.health_detail, i.last_seen
    FROM instances i JOIN instance_views v ON v.instance_id = i.instance_id;
  DROP TABLE instances;
  ALTER TABLE instance_records RENAME TO instances;
  CREATE INDEX instances_by_last_seen ON instances (last_seen);
  CREATE INDEX instances_by_id ON instances (instance_id);
  `,
  `
  -- Flag usage (issue 17): evaluation counts per namespace, flag, variant and hour (pruned after
  -- the retention), and each flag's last evaluation (one row per flag, kept for stale flags).
  CREATE TABLE flag_evaluations (
    namespace TEXT NOT NULL,
    flag TEXT NOT NULL,
    variant TEXT NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (namespace, flag, variant, hour)
  ) STRICT;
  CREATE INDEX flag_evaluations_by_hour ON flag_evaluations (hour);
  CREATE TABLE flag_last_evaluated (
    namespace TEXT NOT NULL,
    flag TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, flag)
  ) STRICT;
  `,
  `
  -- Release traces (issue 16): when each instance applied its release (its clock), the relays its
  -- report came through, and when each relay received and served a release.
  ALTER TABLE instance_views ADD COLUMN applied_at INTEGER;
  ALTER TABLE instances ADD COLUMN hops TEXT NOT NULL DEFAULT '[]';
  CREATE TABLE relay_receipts (
    namespace TEXT NOT NULL,
    seq INTEGER NOT NULL,
    relay TEXT NOT NULL,
    path TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    served_at INTEGER,
    PRIMARY KEY (namespace, seq, relay)
  ) STRICT;
  `,
  `
  -- Change control (issue 15): change requests and scheduled actions, their bodies the server's JSON.
  CREATE TABLE control_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at INTEGER,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  ) STRICT;
  CREATE INDEX control_records_by_namespace ON control_records (kind, namespace, created_at);
  CREATE INDEX control_records_by_due ON control_records (kind, state, due_at);
  `,
];
