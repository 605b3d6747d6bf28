import { hostname } from 'node:os';
import type { ClientTlsOptions } from '@herald/sdk';
import { parseEndpointList } from '@herald/sdk/internal';
import { HeraldError, type Limits, type PublicKeyInfo, type TimerClock } from '@herald/core';
import {
  checkLimits,
  checkListen,
  checkPositiveIntegers,
  checkTls,
  defaultServerConfig,
  type LogLevel,
  type ServerConfig,
} from '../config.js';
import { checkCorsOrigins } from '../http/cors-origins.js';

/** What the watch API of a relay is bounded by: the same settings, and defaults, as the control plane's. */
type SharedSettings = Pick<
  ServerConfig,
  | 'host'
  | 'limits'
  | 'retryAfterSeconds'
  | 'shutdownGraceMs'
  | 'maxWatchStreams'
  | 'maxStreamsPerToken'
  | 'reportsPerSecondPerToken'
  | 'reportBurstPerToken'
  | 'maxStreamBufferBytes'
  | 'heartbeatMs'
  | 'reportFlushMs'
  | 'maxBufferedReports'
  | 'maxConnections'
  | 'listenBacklog'
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'tls'
  | 'corsOrigins'
>;

export interface RelayConfig extends SharedSettings {
  /**
   * The control plane or another relay; or several, separated by commas, in order of preference
   * (a second relay, the control plane): the relay fails over between them and back, as clients do.
   */
  upstream: string;
  /**
   * A token with the client role on the namespaces this relay serves; a function is asked before
   * every upstream request (a token file followed through a rotation: tokenFromFile).
   */
  token: string | (() => string);
  /** A client certificate (and the upstream's CA) for the upstream connection: mutual TLS. */
  upstreamTls?: ClientTlsOptions | undefined;
  /** Pinned upstream keys, or 'tofu' (trust the upstream's keys on first contact, then pin them in the cache). */
  trust: readonly PublicKeyInfo[] | 'tofu';
  cacheDir: string;
  /** 0 asks for a free port. */
  port: number;
  logLevel: LogLevel;
  /** Seconds a route long-poll waits upstream. */
  routeWaitSeconds: number;
  /** Milliseconds between re-reads of the upstream's keys (a rotation). */
  keyRefreshMs: number;
  /** Milliseconds a downstream token the upstream accepted is trusted without asking again. */
  tokenCacheMs: number;
  /** Milliseconds a token the upstream refused is refused without asking again. */
  refusedTokenCacheMs: number;
  /** Milliseconds before following a route again after the upstream refused it (not a failure: no backoff). */
  refusalRetryMs: number;
  /** Milliseconds an upstream request may take, on top of a long poll's wait. */
  upstreamTimeoutMs: number;
  /** With several upstreams: milliseconds a preferred one must stay ready before the relay moves back to it. */
  upstreamFailbackAfterMs: number;
  /** With several upstreams: milliseconds between readiness probes of the preferred ones. */
  upstreamProbeIntervalMs: number;
  /**
   * How this relay names itself in the reports it forwards (their `hops`) and in release traces;
   * the host name when absent. Give each relay of a host its own.
   */
  name: string;
}

export const defaultRelayConfig = Object.freeze({
  host: defaultServerConfig.host,
  port: 0,
  logLevel: 'info',
  limits: defaultServerConfig.limits,
  retryAfterSeconds: defaultServerConfig.retryAfterSeconds,
  shutdownGraceMs: defaultServerConfig.shutdownGraceMs,
  maxWatchStreams: defaultServerConfig.maxWatchStreams,
  maxStreamsPerToken: defaultServerConfig.maxStreamsPerToken,
  reportsPerSecondPerToken: defaultServerConfig.reportsPerSecondPerToken,
  reportBurstPerToken: defaultServerConfig.reportBurstPerToken,
  maxConnections: defaultServerConfig.maxConnections,
  listenBacklog: defaultServerConfig.listenBacklog,
  headersTimeoutMs: defaultServerConfig.headersTimeoutMs,
  requestTimeoutMs: defaultServerConfig.requestTimeoutMs,
  keepAliveTimeoutMs: defaultServerConfig.keepAliveTimeoutMs,
  // The relay's own listener: HTTPS, and client certificates mapped to scopes, exactly as the control plane's.
  tls: null,
  maxStreamBufferBytes: defaultServerConfig.maxStreamBufferBytes,
  heartbeatMs: defaultServerConfig.heartbeatMs,
  reportFlushMs: defaultServerConfig.reportFlushMs,
  maxBufferedReports: defaultServerConfig.maxBufferedReports,
  corsOrigins: defaultServerConfig.corsOrigins,
  routeWaitSeconds: 25,
  keyRefreshMs: 60_000,
  tokenCacheMs: 30_000,
  refusedTokenCacheMs: 5_000,
  refusalRetryMs: 5_000,
  upstreamTimeoutMs: 15_000,
  upstreamFailbackAfterMs: 60_000,
  upstreamProbeIntervalMs: 10_000,
} satisfies Omit<RelayConfig, 'upstream' | 'token' | 'trust' | 'cacheDir' | 'name'>);

export type RelayConfigInput = Pick<RelayConfig, 'upstream' | 'token' | 'trust' | 'cacheDir' | 'upstreamTls'> &
  Partial<Omit<RelayConfig, 'upstream' | 'token' | 'trust' | 'cacheDir' | 'limits' | 'logLevel'>> & {
    limits?: Partial<Limits>;
    /** One of fatal, error, warn, info, debug, trace, silent (checked). */
    logLevel?: string;
  };

/** What a relay is given besides its configuration: the things it uses rather than settings. */
export interface RelayDependencies {
  /** Time and every timer of the relay; the system clock when absent. */
  clock?: TimerClock;
  /** Where JSON logs go; stdout when absent. */
  logStream?: NodeJS.WritableStream;
  /** Called when the relay trusts keys on first contact, so the CLI can say so. */
  onTrustOnFirstUse?: (keys: PublicKeyInfo[]) => void;
}

export type RelayOptions = RelayConfigInput & RelayDependencies;

/** Merges with the defaults, checks every field once, and freezes: nothing downstream re-checks. */
export function resolveRelayConfig(options: RelayOptions): Readonly<RelayConfig> {
  const { clock: _clock, logStream: _logStream, onTrustOnFirstUse: _onTrust, ...input } = options;
  const limits: Limits = { ...defaultRelayConfig.limits, ...input.limits };
  const config = { ...defaultRelayConfig, name: hostname(), ...input, limits } as RelayConfig;
  const problems: string[] = [];
  checkLimits(limits, problems);
  checkListen(config, problems);
  checkTls(config.tls, problems);
  checkCorsOrigins(config.corsOrigins, problems);
  checkPositiveIntegers(
    config,
    [
      'retryAfterSeconds',
      'shutdownGraceMs',
      'maxWatchStreams',
      'maxStreamsPerToken',
      'reportsPerSecondPerToken',
      'reportBurstPerToken',
      'maxConnections',
      'listenBacklog',
      'headersTimeoutMs',
      'requestTimeoutMs',
      'keepAliveTimeoutMs',
      'maxStreamBufferBytes',
      'heartbeatMs',
      'reportFlushMs',
      'maxBufferedReports',
      'routeWaitSeconds',
      'keyRefreshMs',
      'tokenCacheMs',
      'refusedTokenCacheMs',
      'refusalRetryMs',
      'upstreamTimeoutMs',
      'upstreamFailbackAfterMs',
      'upstreamProbeIntervalMs',
    ],
    problems,
  );
  try {
    if (typeof config.upstream !== 'string')
      throw new Error(`upstream must be an http(s) URL, got ${String(config.upstream)}`);
    parseEndpointList(config.upstream);
  } catch (error) {
    problems.push((error as Error).message.replace(/^url/u, 'upstream'));
  }
  if (typeof config.token !== 'function' && (typeof config.token !== 'string' || config.token.length === 0))
    problems.push('token must not be empty');
  if (
    config.upstreamTls !== undefined &&
    String(config.upstream)
      .split(',')
      .some((u) => !u.trim().startsWith('https:'))
  )
    problems.push('upstreamTls needs https: upstreams');
  if (typeof config.name !== 'string' || config.name.length === 0 || config.name.length > 128)
    problems.push('name must be 1 to 128 characters');
  if (typeof config.cacheDir !== 'string' || config.cacheDir.length === 0) problems.push('cacheDir must not be empty');
  const trust: unknown = config.trust;
  if (trust !== 'tofu' && !(Array.isArray(trust) && trust.every(isPublicKey))) {
    problems.push("trust must be 'tofu' or a list of public keys (keyId, publicKey)");
  }
  if (problems.length > 0)
    throw new HeraldError('invalid_request', `invalid relay configuration: ${problems.join('; ')}`);
  return Object.freeze({
    ...config,
    limits: Object.freeze(limits),
    trust: config.trust === 'tofu' ? 'tofu' : Object.freeze([...config.trust]),
  });
}

function isPublicKey(value: unknown): boolean {
  const key = value as Partial<Record<'keyId' | 'publicKey', unknown>> | null;
  return typeof key?.keyId === 'string' && typeof key.publicKey === 'string';
}
