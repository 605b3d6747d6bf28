/**
 * The one conformance suite every Store adapter runs (undici's `cacheStoreTests` is the model):
 * `storeConformanceTests('sqlite', factory)` registers node:test suites that exercise every method
 * of the Store interface against a fresh store per test. An adapter is correct when this passes;
 * a behaviour that is not pinned here is not part of the contract. The tests of each area
 * interface are in a file of this folder named for it.
 *
 * The factory must give an empty store that uses the system clock (timestamps are checked against
 * Date.now()). The suite closes the store itself; `cleanup` then frees what the factory made.
 */
import { describe, it } from 'node:test';
import type { Store } from '../types.js';
import { accessConformance } from './access.js';
import { auditConformance } from './audit.js';
import { commitConformance } from './commits.js';
import { compactionConformance } from './compaction.js';
import { controlRecordConformance } from './control-records.js';
import { deliveryConformance } from './delivery.js';
import { flagUsageConformance } from './flag-usage.js';
import type { ConformanceTest } from './helpers.js';
import { lifecycleConformance } from './lifecycle.js';
import { namespaceConformance } from './namespaces.js';
import { readConformance } from './reads.js';
import { settingsConformance } from './settings.js';
import { signingKeyConformance } from './signing-keys.js';
import { snapshotConformance } from './snapshots.js';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

export function storeConformanceTests(name: string, factory: StoreFactory): void {
  const test: ConformanceTest = (title, body) => {
    void it(title, async () => {
      const { store, cleanup } = await factory();
      try {
        await body(store);
      } finally {
        try {
          await store.close();
        } finally {
          await cleanup();
        }
      }
    });
  };

  void describe(`Store conformance: ${name}`, () => {
    namespaceConformance(test);
    commitConformance(test);
    readConformance(test);
    compactionConformance(test);
    deliveryConformance(test);
    flagUsageConformance(test);
    signingKeyConformance(test);
    accessConformance(test);
    snapshotConformance(test);
    settingsConformance(test);
    controlRecordConformance(test);
    auditConformance(test);
    lifecycleConformance(test);
  });
}
