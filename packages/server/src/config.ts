import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultLimits, HeraldError, type Limits } from '@herald/core';
import type { TlsSettings } from './http/app.js';
import { checkClientIdentities, type ClientIdentity } from './http/client-certificates.js';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];
import { isLogFormat, type LogFormat } from './http/log-format.js';
import { checkCorsOrigins } from './http/cors-origins.js';

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
  /** Open connections one node holds; past it, a new one gets 503 `too_many_connections` and is closed. */
  maxConnections: number;
  /**
   * Connections the kernel may hold for this node before it accepts them (listen(2)'s backlog,
   * capped by net.core.somaxconn). Node's default of 511 is too few for a fleet reconnecting at
   * once: past it the kernel drops SYNs, and each dropped client retries only after 1, 3, then 7
   * seconds while the node may already be idle.
   */
  listenBacklog: number;
  /** Milliseconds for a request's headers to arrive (a slowloris client is cut off: 408 `request_timeout`). */
  headersTimeoutMs: number;
  /** Milliseconds for a whole request, headers and body, to arrive (a stalled body: 408). Responses, streams included, are not bound by it. */
  requestTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** Watch streams one node serves; past it, new ones get 503 + Retry-After. */
  maxWatchStreams: number;
  /**
   * Watch streams the node admits per second (a token bucket holding one second's worth); past it,
   * a watch gets 503 `watch_deferred` with a Retry-After that books it into the earliest second
   * with room (watch-admission.ts), so a reconnect storm is admitted at the node's own pace.
   */
  watchAdmissionsPerSecond: number;
  /**
   * Watch streams one credential (a token's lineage, a client certificate) holds on this node; past
   * it, new ones get 429 `too_many_streams`. An SDK opens one stream, an agent or a relay one per
   * connection: the cap is for a fleet sharing one token, not for one instance.
   */
  maxStreamsPerToken: number;
  /** Reports per second one credential may send (a relay's clients each count as their own); past the burst, 429 `report_rate_limited`. */
  reportsPerSecondPerToken: number;
  /** Reports one credential may send at once before reportsPerSecondPerToken applies (a fleet reporting a release together). */
  reportBurstPerToken: number;
  /**
   * Unsent bytes a watch stream may queue, beyond the largest frame queued since its buffer was last
   * empty (a snapshot larger than this is let through), before the client is cut off (it resumes
   * with what it holds).
   */
  maxStreamBufferBytes: number;
  /** Milliseconds between heartbeats on every watch stream. */
  heartbeatMs: number;
  /**
   * Child processes that hold the watch sockets and write the fan-out (0: this process does, as
   * the embedded quick start wants). Worth it past a few thousand watchers on a machine with
   * cores to spare: commits are then acknowledged without waiting behind a fan-out.
   */
  watchWorkers: number;
  /** Milliseconds between batched writes of instance reports. */
  reportFlushMs: number;
  /** Instances waiting to be written at most; past it, reports get 503. */
  maxBufferedReports: number;
  /** Milliseconds without a report after which an instance leaves the fleet view. */
  instanceTtlMs: number;
  /** Milliseconds between prunings of instance records not seen within instanceTtlMs (the leader prunes). */
  instancePruneMs: number;
  /** Milliseconds without a report after which a live instance counts as stale (herald_fleet_stale_instances): its heartbeat missed. */
  staleAfterMs: number;
  /** Milliseconds between verifications of the audit chain by the leader (herald_audit_chain_verified). */
  auditVerifyMs: number;
  /** Instance records one namespace holds at most; past it, reports of new instances get instance_limit. */
  maxInstancesPerNamespace: number;
  /** Milliseconds between re-reads of the signing keys (a rotation on another node). */
  keyRefreshMs: number;
  /** Milliseconds a token lookup is cached; a revocation on another node takes effect within it. */
  tokenCacheMs: number;
  /** Milliseconds between rollout controller passes (and, on a store other nodes share, route re-reads). */
  rolloutTickMs: number;
  /**
   * Milliseconds a request may take from its arrival (body included; arriving is bound by requestTimeoutMs) to its answer; past it, 503 `deadline_exceeded` with
   * Retry-After, whatever the handler still waits for (a store that stopped answering). Below any
   * client's patience and below the store's statement timeout, so the node answers first. Long
   * polls get their longest `wait` on top; watch streams end the deadline when they start.
   */
  requestDeadlineMs: number;
  /** Milliseconds /readyz waits for the store's round trip before it answers unready (503). */
  readinessTimeoutMs: number;
  logLevel: LogLevel;
  /**
   * A certificate and its private key (PEM): the server then speaks HTTPS only. With `clientCa`
   * (a CA bundle) it asks for client certificates, and `clientIdentities` maps verified ones to scopes.
   */
  tls: ServerTls | null;
  /** `json`: one JSON object per line (collectors); `pretty`: one short human line (a terminal). */
  logFormat: LogFormat;
  /** Milliseconds after which a successful request is logged (as a warning); faster ones are `debug`. */
  slowRequestMs: number;
  /** A folder with the web UI's build (index.html and assets/), served at `/`; null serves none. */
  uiDir: string | null;
  /** The Prometheus-compatible server that staged rollouts' metric checks query (`/api/v1/query`); null: none. */
  prometheusUrl: string | null;
  /** Milliseconds one metric query may take before it counts as failed (a failing signal). */
  prometheusTimeoutMs: number;
  /**
   * Browser origins (`https://app.example.com`, or `*`) whose pages may call OFREP evaluation
   * across origins (CORS, preflight included); no other route answers cross-origin. Empty: none.
   */
  corsOrigins: readonly string[];
}

export interface ServerTls extends TlsSettings {
  clientIdentities?: readonly ClientIdentity[] | undefined;
}

/** More workers than this buys nothing on any machine Herald targets: each costs a process (~40 MiB). */
export const maxWatchWorkers = 64;

export const defaultServerConfig: Readonly<ServerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  limits: defaultLimits,
  retryAfterSeconds: 1,
  shutdownGraceMs: 5000,
  minRevisionWaitMs: 2000,
  maxConnections: 20_000,
  listenBacklog: 4096,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxWatchStreams: 18_000,
  watchAdmissionsPerSecond: 5_000,
  maxStreamsPerToken: 2_000,
  reportsPerSecondPerToken: 1_000,
  reportBurstPerToken: 10_000,
  maxStreamBufferBytes: 4 * 1024 * 1024,
  heartbeatMs: 15_000,
  watchWorkers: 0,
  reportFlushMs: 1000,
  maxBufferedReports: 200_000,
  instanceTtlMs: 5 * 60_000,
  instancePruneMs: 60_000,
  staleAfterMs: 90_000,
  auditVerifyMs: 15 * 60_000,
  maxInstancesPerNamespace: 100_000,
  keyRefreshMs: 10_000,
  tokenCacheMs: 5_000,
  rolloutTickMs: 500,
  readinessTimeoutMs: 1500,
  requestDeadlineMs: 10_000,
  logLevel: 'info',
  logFormat: 'json',
  slowRequestMs: 1000,
  tls: null,
  uiDir: null,
  prometheusUrl: null,
  prometheusTimeoutMs: 5000,
  corsOrigins: [],
});

export type ServerConfigInput = Partial<Omit<ServerConfig, 'limits'>> & { limits?: Partial<Limits> };

/** Merges with the defaults, checks every field once, and freezes: nothing downstream re-checks. */
export function resolveServerConfig(input: ServerConfigInput = {}): Readonly<ServerConfig> {
  const limits: Limits = { ...defaultLimits, ...input.limits };
  const config: ServerConfig = { ...defaultServerConfig, ...input, limits };
  const problems: string[] = [];
  checkLimits(limits, problems);
  checkListen(config, problems);
  checkPositiveIntegers(
    config,
    [
      'maxConnections',
      'listenBacklog',
      'headersTimeoutMs',
      'requestTimeoutMs',
      'keepAliveTimeoutMs',
      'maxWatchStreams',
      'watchAdmissionsPerSecond',
      'maxStreamsPerToken',
      'reportsPerSecondPerToken',
      'reportBurstPerToken',
      'maxStreamBufferBytes',
      'heartbeatMs',
      'reportFlushMs',
      'maxBufferedReports',
      'instanceTtlMs',
      'instancePruneMs',
      'staleAfterMs',
      'auditVerifyMs',
      'maxInstancesPerNamespace',
      'keyRefreshMs',
      'tokenCacheMs',
      'rolloutTickMs',
      'readinessTimeoutMs',
      'requestDeadlineMs',
      'minRevisionWaitMs',
      'shutdownGraceMs',
      'slowRequestMs',
      'prometheusTimeoutMs',
    ],
    problems,
  );
  if (config.uiDir !== null && (typeof config.uiDir !== 'string' || !existsSync(join(config.uiDir, 'index.html')))) {
    problems.push(
      `uiDir must be a folder with an index.html (build the UI: npm run build), got ${String(config.uiDir)}`,
    );
  }
  if (config.prometheusUrl !== null && !/^https?:\/\/[^\s]+$/u.test(String(config.prometheusUrl)))
    problems.push(`prometheusUrl must be an http:// or https:// URL, got ${String(config.prometheusUrl)}`);
  checkTls(config.tls, problems);
  checkCorsOrigins(config.corsOrigins, problems);
  if (!Number.isSafeInteger(config.watchWorkers) || config.watchWorkers < 0 || config.watchWorkers > maxWatchWorkers)
    problems.push(`watchWorkers must be an integer from 0 to ${maxWatchWorkers}`);
  if (config.requestDeadlineMs <= config.minRevisionWaitMs || config.requestDeadlineMs <= config.readinessTimeoutMs)
    problems.push(
      'requestDeadlineMs must be longer than minRevisionWaitMs and readinessTimeoutMs (they wait within it)',
    );
  if (config.maxConnections <= config.maxWatchStreams)
    problems.push('maxConnections must be larger than maxWatchStreams (every stream holds a connection)');
  if (!isLogFormat(config.logFormat))
    problems.push(`logFormat must be json or pretty, got ${String(config.logFormat)}`);
  if (problems.length > 0)
    throw new HeraldError('invalid_request', `invalid server configuration: ${problems.join('; ')}`);
  return Object.freeze({
    ...config,
    limits: Object.freeze(limits),
    corsOrigins: Object.freeze([...config.corsOrigins]),
  });
}

// The checks the server's and the relay's configurations share; each adds what it finds to `problems`.

export function checkLimits(limits: Limits, problems: string[]): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`limits.${name} must be a positive integer`);
  }
  if (limits.maxBodyBytes <= limits.maxValueBytes)
    problems.push('limits.maxBodyBytes must be larger than limits.maxValueBytes');
}

export function checkListen(config: { host: string; port: number; logLevel: string }, problems: string[]): void {
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) problems.push('port must be 0-65535');
  if (typeof config.host !== 'string' || config.host.length === 0) problems.push('host must not be empty');
  if (!(logLevels as readonly string[]).includes(config.logLevel))
    problems.push(`logLevel must be one of ${logLevels.join(', ')}`);
}

/** Serving TLS: a certificate and key; client identities only with the CA that issues their certificates. */
export function checkTls(tls: ServerTls | null, problems: string[]): void {
  if (!tls) return;
  if (!tls.cert || !tls.key) problems.push('tls needs both cert and key');
  if (tls.clientIdentities !== undefined) {
    checkClientIdentities(tls.clientIdentities, problems);
    if (!tls.clientCa) problems.push('tls.clientIdentities needs tls.clientCa (the CA of the client certificates)');
  }
}

export function checkPositiveIntegers<T extends object>(
  config: T,
  names: ReadonlyArray<{ [K in keyof T]: T[K] extends number ? K : never }[keyof T] & string>,
  problems: string[],
): void {
  for (const name of names) {
    const value = config[name];
    if (!Number.isSafeInteger(value) || (value as number) < 1) problems.push(`${name} must be a positive integer`);
  }
}
