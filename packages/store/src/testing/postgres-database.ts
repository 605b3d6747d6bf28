// Internal, unsupported: a fresh PostgreSQL database for one test file. It lives here, not in
// @herald/testkit, because the store's own tests need it and testkit depends on the store;
// testkit re-exports it for everyone else.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where tests reach PostgreSQL as a superuser: trust auth on loopback unless HERALD_TEST_PG_ADMIN_URL says otherwise. */
export function testAdminUrl(): string {
  return process.env.HERALD_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export interface TestDatabase {
  /** Connection string of the new, empty database. */
  url: string;
  /** Its name, for pg_stat_activity and the like. */
  name: string;
  /** Drops it, terminating whatever is still connected. Idempotent. */
  drop: () => Promise<void>;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testAdminUrl(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `herald_test_<random>` and returns its URL and a `drop` that removes it (WITH (FORCE)). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `herald_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(testAdminUrl());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop: () =>
      (dropped ??= withAdmin(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      })),
  };
}

/** Terminates every backend connected to `database` (other than the admin connection doing it); returns how many. */
export async function terminateBackends(database: string, pids?: readonly number[]): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
       WHERE datname = $1 AND pid <> pg_backend_pid() AND ($2::integer[] IS NULL OR pid = ANY($2::integer[]))`,
      [database, pids ?? null],
    );
    return Number(rows[0]?.n ?? 0);
  });
}
