// The conformance suite against the PostgreSQL adapter: a whole fresh database per test.
import { storeConformanceTests } from '../src/conformance/store-conformance.js';
import { PostgresStore } from '../src/postgres/postgres-store.js';
import { createTestDatabase } from '../src/testing/postgres-database.js';

storeConformanceTests('postgres', async () => {
  const database = await createTestDatabase();
  try {
    const store = await PostgresStore.open({ connectionString: database.url, revisionCheckMs: 200 });
    return { store, cleanup: database.drop };
  } catch (error) {
    await database.drop();
    throw error;
  }
});
