import type { StoreParts } from '../composed-store.js';
import { toRollout, type RolloutRow } from '../rows.js';
import { checkRolloutVersion, rolloutActive } from '../rules.js';
import type { RolloutRecord } from '../types.js';
import type { PostgresContext } from './database.js';
import { lockNamespaces } from './namespaces.js';

/** Rollouts in PostgreSQL: the state machine's state, saved over the version its writer read. */
export function postgresRollouts(context: PostgresContext): StoreParts['rollouts'] {
  const { db } = context;
  return {
    async saveRollout(rollout, expectedVersion, audit) {
      return db.transaction(async (client) => {
        // The namespace lock makes "at most one active rollout" hold across nodes.
        await lockNamespaces(client, [rollout.namespace]);
        const existing = await client.query<{ version: string | number }>(
          'SELECT version FROM rollouts WHERE id = $1',
          [rollout.id],
        );
        checkRolloutVersion(rollout.id, Number(existing.rows[0]?.version ?? 0), expectedVersion);
        if (rollout.active) {
          const other = await client.query<{ id: string }>(
            'SELECT id FROM rollouts WHERE namespace = $1 AND active AND id <> $2',
            [rollout.namespace, rollout.id],
          );
          const id = other.rows[0]?.id;
          if (id) throw rolloutActive(id, rollout.namespace);
        }
        const record: RolloutRecord = { ...rollout, version: expectedVersion + 1, updatedAt: context.clock.now() };
        await client.query(
          `INSERT INTO rollouts (id, namespace, active, state, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO UPDATE SET active = excluded.active, state = excluded.state, version = excluded.version, updated_at = excluded.updated_at`,
          [record.id, record.namespace, record.active, JSON.stringify(record.state), record.version, record.updatedAt],
        );
        if (audit) await context.audit.appendIn(client, audit);
        return record;
      });
    },

    async getRollout(id) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<RolloutRow>('SELECT * FROM rollouts WHERE id = $1', [id]);
        return rows[0] && toRollout(rows[0]);
      });
    },

    async listActiveRollouts(namespace) {
      return db.read(async (pool) => {
        const { rows } =
          namespace === undefined
            ? await pool.query<RolloutRow>('SELECT * FROM rollouts WHERE active ORDER BY namespace')
            : await pool.query<RolloutRow>('SELECT * FROM rollouts WHERE active AND namespace = $1', [namespace]);
        return rows.map(toRollout);
      });
    },

    async listRollouts(namespace, limit) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<RolloutRow>(
          'SELECT * FROM rollouts WHERE namespace = $1 ORDER BY updated_at DESC, id LIMIT $2',
          [namespace, limit],
        );
        return rows.map(toRollout);
      });
    },
  };
}
