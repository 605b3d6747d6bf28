// Internal, unsupported: helpers for Herald's own tests only.
export { tempDir } from './temp.js';
export { eventually } from './eventually.js';
export type { EventuallyOptions, NotYet } from './eventually.js';
export { heraldBin, runHerald, startHeraldProcess, startTestServer, testAdminToken, testSecretKey } from './server.js';
export type { ServerProcess, TestServer } from './server.js';
export { createTestDatabase, terminateBackends, testAdminUrl } from './postgres.js';
export type { TestDatabase } from './postgres.js';
export { spawnHerald } from './child.js';
export type { HeraldChild } from './child.js';
export { TamperingProxy } from './proxy.js';
export { TcpProxy } from './tcp-proxy.js';
export type { EventTamperer, ProxiedEvent } from './proxy.js';
export { applyViewEvent, ChunkedResponseDecoder, RawWatch, readWatchEvent, sseChunk } from './watch.js';
export type { HeldView, RawWatchOptions, RawWatchView, ReceivedWatchEvent, WatchEvent } from './watch.js';
export { fetchOpenApiDocument, readUiApiTypes, renderUiApiTypes, uiApiTypesPath } from './ui-api-types.js';
export { makeTestPki } from './pki.js';
export type { TestCertificate, TestPki } from './pki.js';
