// Internal, unsupported: a fresh PostgreSQL database per test file. The implementation lives in
// @herald/store (whose own tests need it, and which testkit depends on).
export { createTestDatabase, terminateBackends, testAdminUrl } from '@herald/store/testing';
export type { TestDatabase } from '@herald/store/testing';
