// Internal, unsupported: helpers for Herald's own tests only.
export { tempDir } from './temp.js';
export { heraldBin, runHerald, startHeraldProcess, startTestServer, testAdminToken, testSecretKey } from './server.js';
export type { ServerProcess, TestServer } from './server.js';
export { createTestDatabase, terminateBackends, testAdminUrl } from './postgres.js';
export type { TestDatabase } from './postgres.js';
