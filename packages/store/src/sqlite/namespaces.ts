import type { StoreParts } from '../composed-store.js';
import { namespaceTables } from '../namespace-tables.js';
import { namespaceJson, toNamespace, type NamespaceRow } from '../rows.js';
import { checkNamespaceDeletable, namespaceExists, namespaceNotFound } from '../rules.js';
import type { NamespaceRecord } from '../types.js';
import type { SqliteContext, SqliteDatabase } from './database.js';
import type { SqliteGroupCommit } from './group-commit.js';

/** Namespaces in SQLite: their records, and deleting one with everything it owns. */
export function sqliteNamespaces(context: SqliteContext, commits: SqliteGroupCommit): StoreParts['namespaces'] {
  const { db, clock, memory } = context;
  return {
    async createNamespace(input, audit) {
      return db.transaction(() => {
        memory.forgetNamespace(input.name);
        const inserted = db
          .prepare(
            'INSERT INTO namespaces (name, description, schema, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
          )
          .run(input.name, input.description, namespaceJson(input.schema), clock.now());
        if (inserted.changes === 0) throw namespaceExists(input.name);
        context.audit.appendIn(audit);
        return readNamespace(db, input.name) as NamespaceRecord;
      });
    },

    async getNamespace(name) {
      return memory.namespace(name, () => readNamespace(db, name));
    },

    async listNamespaces(query) {
      db.assertOpen();
      const rows = db
        .prepare('SELECT * FROM namespaces WHERE name > ? ORDER BY name LIMIT ?')
        .all(query.after ?? '', query.limit) as NamespaceRow[];
      return rows.map(toNamespace);
    },

    async updateNamespace(name, patch, audit) {
      return db.transaction(() => {
        memory.forgetNamespace(name);
        const existing = requireNamespace(db, name);
        db.prepare('UPDATE namespaces SET description = ?, schema = ?, policy = ? WHERE name = ?').run(
          patch.description ?? existing.description,
          namespaceJson(patch.schema === undefined ? existing.schema : patch.schema),
          namespaceJson(patch.policy === undefined ? existing.policy : patch.policy),
          name,
        );
        context.audit.appendIn(audit);
        return readNamespace(db, name) as NamespaceRecord;
      });
    },

    async deleteNamespace(name, options, audit) {
      // Queued behind pending commits, so a commit accepted before the delete is not resurrected after it.
      await commits.acceptedSoFar();
      db.transaction(() => {
        memory.forgetNamespace(name);
        checkNamespaceDeletable(requireNamespace(db, name), options.force);
        for (const [table, column] of namespaceTables) db.prepare(`DELETE FROM ${table} WHERE ${column} = ?`).run(name);
        context.audit.appendIn(audit);
      });
    },
  };
}

export function readNamespace(db: SqliteDatabase, name: string): NamespaceRecord | undefined {
  const row = db.prepare('SELECT * FROM namespaces WHERE name = ?').get(name) as NamespaceRow | undefined;
  return row && toNamespace(row);
}

/** The namespace, or `namespace_not_found`. */
export function requireNamespace(db: SqliteDatabase, name: string): NamespaceRecord {
  const namespace = readNamespace(db, name);
  if (!namespace) throw namespaceNotFound(name);
  return namespace;
}
