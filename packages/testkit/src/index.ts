// Internal, unsupported: helpers for Herald's own tests only.
export { tempDir } from './temp.js';
export { heraldBin, runHerald, startHeraldProcess, startTestServer, testAdminToken } from './server.js';
export type { ServerProcess, TestServer } from './server.js';
