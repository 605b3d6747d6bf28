import type pg from 'pg';
import type { StoreParts } from '../composed-store.js';
import { namespaceTables } from '../namespace-tables.js';
import { namespaceJson, toNamespace, type NamespaceRow } from '../rows.js';
import { checkNamespaceDeletable, namespaceExists, namespaceNotFound } from '../rules.js';
import type { NamespaceRecord } from '../types.js';
import { advisoryKey32 } from './connection.js';
import { announceChange } from './change-feed.js';
import type { PostgresContext } from './database.js';
import type { PostgresGroupCommit } from './group-commit.js';

/** Advisory-lock class (first key of the two-key form) under which writes lock their namespace. */
export const namespaceLockClass = 0x48524c44; // "HRLD"

/** Namespaces in PostgreSQL: their records, deleting one with everything it owns, and the lock that orders writes to one. */
export function postgresNamespaces(context: PostgresContext, commits: PostgresGroupCommit): StoreParts['namespaces'] {
  const { db, clock, records } = context;
  return {
    async createNamespace(input, audit) {
      return db.transaction(async (client) => {
        const { rows } = await client.query<NamespaceRow>(
          `INSERT INTO namespaces (name, description, schema, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (name) DO NOTHING RETURNING *`,
          [input.name, input.description, namespaceJson(input.schema), clock.now()],
        );
        const row = rows[0];
        if (!row) throw namespaceExists(input.name);
        await context.audit.appendIn(client, audit);
        return toNamespace(row);
      });
    },

    async getNamespace(name) {
      return records.namespace(name, () =>
        db.read(async (pool) => {
          const { rows } = await pool.query<NamespaceRow>('SELECT * FROM namespaces WHERE name = $1', [name]);
          return rows[0] && toNamespace(rows[0]);
        }),
      );
    },

    async listNamespaces(query) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<NamespaceRow>(
          'SELECT * FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2',
          [query.after ?? '', query.limit],
        );
        return rows.map(toNamespace);
      });
    },

    async updateNamespace(name, patch, audit) {
      const updated = await db.transaction(async (client) => {
        await lockNamespaces(client, [name]);
        const existing = await requireNamespace(client, name);
        const { rows } = await client.query<NamespaceRow>(
          'UPDATE namespaces SET description = $1, schema = $2, policy = $3 WHERE name = $4 RETURNING *',
          [
            patch.description ?? existing.description,
            namespaceJson(patch.schema === undefined ? existing.schema : patch.schema),
            namespaceJson(patch.policy === undefined ? existing.policy : patch.policy),
            name,
          ],
        );
        await announceChange(client, { kind: 'namespace', name });
        await context.audit.appendIn(client, audit);
        return toNamespace(rows[0] as NamespaceRow);
      });
      records.apply({ kind: 'namespace', name });
      return updated;
    },

    async deleteNamespace(name, options, audit) {
      // Ordered after the commits this node already accepted, so none of them resurrects the namespace.
      await commits.acceptedSoFar();
      await db.transaction(async (client) => {
        await lockNamespaces(client, [name]);
        checkNamespaceDeletable(await requireNamespace(client, name), options.force);
        for (const [table, column] of namespaceTables)
          await client.query(`DELETE FROM ${table} WHERE ${column} = $1`, [name]);
        await announceChange(client, { kind: 'namespace', name });
        await context.audit.appendIn(client, audit);
      });
      records.apply({ kind: 'namespace', name });
    },
  };
}

/**
 * Takes the transaction-level advisory lock of each namespace, in key order so that two rounds that
 * share namespaces cannot deadlock. Released at COMMIT or ROLLBACK.
 */
export async function lockNamespaces(client: pg.ClientBase, names: readonly string[]): Promise<void> {
  const keys = namespaceLockKeys(names);
  await client.query('SELECT pg_advisory_xact_lock($1::integer, k) FROM unnest($2::integer[]) AS k', [
    namespaceLockClass,
    keys,
  ]);
}

/** The advisory-lock keys (under `namespaceLockClass`) of namespaces, in the order they are taken. */
export function namespaceLockKeys(names: readonly string[]): number[] {
  return [...new Set(names.map((name) => advisoryKey32(`namespace:${name}`)))].sort((a, b) => a - b);
}

/** The namespace, or `namespace_not_found`. */
export async function requireNamespace(client: pg.ClientBase, name: string): Promise<NamespaceRecord> {
  const { rows } = await client.query<NamespaceRow>('SELECT * FROM namespaces WHERE name = $1', [name]);
  if (!rows[0]) throw namespaceNotFound(name);
  return toNamespace(rows[0]);
}
