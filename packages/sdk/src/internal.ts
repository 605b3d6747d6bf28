// Internal, for sibling packages (the relay and agent) and the SDK's own tests: no stability promise.
export { Backoff, defaultBackoff, parseRetryAfter } from './backoff.js';
export { tempSuffix, writeFileAtomic } from './atomic-file.js';
export { cacheFormat, DiskCache, viewFileName } from './cache.js';
export type { CachedKeysFile, CachedViewFile, CacheRead } from './cache.js';
export { Channel } from './channel.js';
export { Endpoints, parseEndpointList } from './endpoints.js';
export { Sleep, systemClientClock } from './clock.js';
export type { ClientClock } from './clock.js';
export { problemError, problemFromResponse, readProblem } from './http-problem.js';
export type { HttpProblem } from './http-problem.js';
export { isUsableKey, KeyRing } from './keyring.js';
export { resolveOptions, viewId } from './options.js';
export type { ResolvedOptions, ResolvedView } from './options.js';
export { SseError, SseParser } from './sse.js';
export type { SseEvent, SseParserOptions } from './sse.js';
export { changedKeys, rejectionCodes, verifyDelta, verifySnapshot } from './verify.js';
// The manifest's shape is the wire's (core); re-exported here where callers have always found it.
export { parseManifest } from '@herald/core';
export type { RejectionCode, Verdict, VerifiedView, VerifyContext, ViewRef } from './verify.js';
