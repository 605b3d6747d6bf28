import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultLimits, HeraldError, type Limits } from '@herald/core';
import { isLogFormat, type LogFormat } from './http/log-format.js';

export interface ServerConfig {
  /** Public base URL is derived from the listen address unless given. */
  host: string;
  port: number;
  limits: Limits;
  /** Seconds a client is told to wait in a 503's Retry-After. */
  retryAfterSeconds: number;
  /** Milliseconds that close() waits for requests in flight before it cuts connections. */
  shutdownGraceMs: number;
  /** Milliseconds a read carrying Herald-Min-Revision may wait for this node to see that revision. */
  minRevisionWaitMs: number;
  /** Watch streams one node serves; past it, new ones get 503 + Retry-After. */
  maxWatchStreams: number;
  /** Unsent bytes a watch stream may queue before the client is cut off (it resumes with what it holds). */
  maxStreamBufferBytes: number;
  /** Milliseconds between heartbeats on every watch stream. */
  heartbeatMs: number;
  /** Milliseconds between batched writes of instance reports. */
  reportFlushMs: number;
  /** Instances waiting to be written at most; past it, reports get 503. */
  maxBufferedReports: number;
  /** Milliseconds without a report after which an instance leaves the fleet view. */
  instanceTtlMs: number;
  /** Milliseconds between re-reads of the signing keys (a rotation on another node). */
  keyRefreshMs: number;
  /** Milliseconds a token lookup is cached; a revocation on another node takes effect within it. */
  tokenCacheMs: number;
  /** Milliseconds between rollout controller passes (and route re-reads on every node). */
  rolloutTickMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `json`: one JSON object per line (collectors); `pretty`: one short human line (a terminal). */
  logFormat: LogFormat;
  /** Milliseconds after which a successful request is logged (as a warning); faster ones are `debug`. */
  slowRequestMs: number;
  /** A certificate and its private key (PEM): the server then speaks HTTPS only. */
  tls: { cert: string | Buffer; key: string | Buffer } | null;
  /** A folder with the web UI's build (index.html and assets/), served at `/`; null serves none. */
  uiDir: string | null;
}

export const defaultServerConfig: Readonly<ServerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  limits: defaultLimits,
  retryAfterSeconds: 1,
  shutdownGraceMs: 5000,
  minRevisionWaitMs: 2000,
  maxWatchStreams: 18_000,
  maxStreamBufferBytes: 4 * 1024 * 1024,
  heartbeatMs: 15_000,
  reportFlushMs: 1000,
  maxBufferedReports: 200_000,
  instanceTtlMs: 5 * 60_000,
  keyRefreshMs: 10_000,
  tokenCacheMs: 5_000,
  rolloutTickMs: 500,
  logLevel: 'info',
  logFormat: 'json',
  slowRequestMs: 1000,
  tls: null,
  uiDir: null,
});

export type ServerConfigInput = Partial<Omit<ServerConfig, 'limits'>> & { limits?: Partial<Limits> };

/** Merges with the defaults, checks every field once, and freezes: nothing downstream re-checks. */
export function resolveServerConfig(input: ServerConfigInput = {}): Readonly<ServerConfig> {
  const limits: Limits = { ...defaultLimits, ...input.limits };
  const config: ServerConfig = { ...defaultServerConfig, ...input, limits };
  const problems: string[] = [];
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`limits.${name} must be a positive integer`);
  }
  if (limits.maxBodyBytes <= limits.maxValueBytes)
    problems.push('limits.maxBodyBytes must be larger than limits.maxValueBytes');
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) problems.push('port must be 0-65535');
  if (config.host.length === 0) problems.push('host must not be empty');
  for (const name of [
    'maxWatchStreams',
    'maxStreamBufferBytes',
    'heartbeatMs',
    'reportFlushMs',
    'maxBufferedReports',
    'instanceTtlMs',
    'keyRefreshMs',
    'tokenCacheMs',
    'rolloutTickMs',
    'minRevisionWaitMs',
    'shutdownGraceMs',
    'slowRequestMs',
  ] as const) {
    if (!Number.isSafeInteger(config[name]) || config[name] < 1) problems.push(`${name} must be a positive integer`);
  }
  if (config.uiDir !== null && (typeof config.uiDir !== 'string' || !existsSync(join(config.uiDir, 'index.html')))) {
    problems.push(
      `uiDir must be a folder with an index.html (build the UI: npm run build), got ${String(config.uiDir)}`,
    );
  }
  if (!isLogFormat(config.logFormat))
    problems.push(`logFormat must be json or pretty, got ${String(config.logFormat)}`);
  if (config.tls && (!config.tls.cert || !config.tls.key)) problems.push('tls needs both cert and key');
  if (problems.length > 0)
    throw new HeraldError('invalid_request', `invalid server configuration: ${problems.join('; ')}`);
  return Object.freeze({ ...config, limits: Object.freeze(limits) });
}
