// The conformance suite against the embedded adapter, on a real file in a fresh temp folder.
// (@herald/testkit depends on this package, so its tempDir cannot be imported here: the two
// lines it takes are inline instead.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConformanceTests } from '../src/conformance/store-conformance.js';
import { SqliteStore } from '../src/sqlite/sqlite-store.js';

storeConformanceTests('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'herald-store-'));
  const store = SqliteStore.open({ path: join(dir, 'nested', 'herald.db') });
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
