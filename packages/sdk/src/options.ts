import { canonicalJson, normaliseLabels, type PublicKeyInfo, type ViewValues } from '@herald/core';
import type { BackoffOptions } from './backoff.js';
import { systemClientClock, type ClientClock } from './clock.js';
import { Endpoints, parseEndpointList, type FailoverOptions } from './endpoints.js';
import { HeraldClientError } from './errors.js';
import { isUsableKey } from './keyring.js';
import { nodeFetch, type ClientTlsOptions } from './node-fetch.js';
import type { ViewRef } from './verify.js';

/** A view to watch: a namespace and its label stack (later labels override earlier ones; [] is the default label). */
export interface WatchedView {
  namespace: string;
  labels?: readonly string[];
}

/** What the validate hook is told about the candidate view. */
export interface ValidateContext {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly seq: number;
  readonly revision: number;
  readonly digest: string;
}

/** Accept by returning nothing (or ""); refuse by throwing or by returning a non-empty reason. */
export type ValidateResult = string | undefined | void;
export type ValidateHook = (
  values: Readonly<ViewValues>,
  view: ValidateContext,
) => ValidateResult | Promise<ValidateResult>;

export type HealthStatus = 'ok' | 'degraded' | 'failing';

export interface HeraldClientOptions {
  /**
   * The control plane or a relay, e.g. `https://herald.internal:7400` (a path prefix is kept); or
   * several, in order of preference (a list, or one string separated by commas): the region's
   * relay, a second relay, the control plane. The client fails over when the one in use refuses
   * connections, goes silent or sheds it, and fails back once a preferred one has stayed ready
   * (see `failover`). Each serves the same signed releases, verified the same way.
   */
  url: string | URL | ReadonlyArray<string | URL>;
  /** When to move back to a preferred endpoint: after 60 s of ready probes, every 10 s, by default. */
  failover?: FailoverOptions | undefined;
  /**
   * A token with the client role (or higher) on every namespace watched; a function is asked
   * before every request, so a rotated token (re-read from a file, say) is used from then on.
   * Optional with a client certificate (`tls.cert`): the server then knows the caller by it.
   */
  token?: string | (() => string) | undefined;
  /** A client certificate to present (mutual TLS), and the CAs of the server's certificate. */
  tls?: ClientTlsOptions | undefined;
  /** Stable across restarts: the fleet knows the instance by it. */
  instanceId: string;
  /** Reported with every report: region, zone, service, version, tags. At most 64. */
  attributes?: Readonly<Record<string, string>>;
  /** At least one, at most 64; each (namespace, labels) once. */
  views: readonly WatchedView[];
  /**
   * The keys to trust: the control plane's public keys (from `GET /v1/keys` or a file), or 'tofu'
   * to trust the keys the server presents on first contact (a `trusted-on-first-use` status event
   * says so) and pin them in the cache from then on. Required: there is no insecure default.
   */
  trustedKeys: readonly PublicKeyInfo[] | 'tofu';
  /** A folder for the verified cache (created, owner-only). Without it, a restart needs the control plane. */
  cacheDir?: string;
  /** The application's own check of a candidate view; a refusal keeps the previous values and is reported as rejected. */
  validate?: ValidateHook;
  /** Milliseconds between periodic reports. Default 30,000 (each period is jittered by ±10 %). */
  reportIntervalMs?: number;
  /**
   * An observer (`herald watch`, a dashboard, a probe) receives and verifies views like any client
   * but sends no reports, so it never joins the fleet nor counts in a rollout wave. Default false.
   */
  observe?: boolean;
  /** Reconnect backoff: base 500 ms, cap 30 s by default, full jitter. */
  reconnect?: BackoffOptions;
  /** Time and timers (backoff, heartbeat watchdog, reports). Default: the system's. */
  clock?: ClientClock;
  /** The fetch to use; by default one over node:http(s) (`nodeFetch`), much cheaper per request than Node's own. */
  fetch?: typeof globalThis.fetch;
  /** Aborting it destroys the client; `closed()` then resolves with the signal's reason. */
  signal?: AbortSignal;
}

export interface ResolvedView extends ViewRef {
  /** canonical JSON of [namespace, labels]: the client's own name for the view. */
  readonly id: string;
}

export interface ResolvedOptions {
  /** The endpoints and which one is in use: the one part of the options that changes. */
  readonly endpoints: Endpoints;
  /** The bearer token of the next request; undefined sends none (a client certificate authenticates). */
  readonly token: () => string | undefined;
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly views: readonly ResolvedView[];
  readonly trustedKeys: readonly PublicKeyInfo[] | 'tofu';
  readonly cacheDir: string | undefined;
  readonly validate: ValidateHook | undefined;
  readonly reportIntervalMs: number;
  readonly observe: boolean;
  readonly reconnect: BackoffOptions;
  readonly clock: ClientClock;
  readonly fetch: typeof globalThis.fetch;
  readonly signal: AbortSignal | undefined;
}

export const clientDefaults = Object.freeze({ reportIntervalMs: 30_000 });

/** The protocol's bounds (docs/protocol.md). */
export const maxViews = 64;
export const maxAttributes = 64;

function fail(message: string): never {
  throw new HeraldClientError('invalid_options', message);
}

export function viewId(namespace: string, labels: readonly string[]): string {
  return canonicalJson([namespace, normaliseLabels(labels)]);
}

/** Validates the options once, at construction, and freezes the result. */
export function resolveOptions(input: HeraldClientOptions): ResolvedOptions {
  if (typeof input !== 'object' || input === null) fail('options must be an object');
  let urls: URL[];
  try {
    urls = parseEndpointList(input.url);
  } catch (error) {
    fail((error as Error).message);
  }
  const failover = input.failover ?? {};
  if (typeof failover !== 'object' || failover === null) fail('failover must be an object');
  for (const name of ['failbackAfterMs', 'probeIntervalMs'] as const) {
    const value = failover[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0))
      fail(`failover.${name} must be a positive number`);
  }
  const token = resolveToken(input.token, input.tls?.cert !== undefined);
  if (typeof input.instanceId !== 'string' || input.instanceId.length === 0)
    fail('instanceId must be a non-empty string');

  const attributes: Record<string, string> = {};
  const givenAttributes = input.attributes ?? {};
  if (typeof givenAttributes !== 'object' || givenAttributes === null) fail('attributes must be an object of strings');
  const names = Object.keys(givenAttributes);
  if (names.length > maxAttributes) fail(`at most ${maxAttributes} attributes, not ${names.length}`);
  for (const name of names) {
    const value = givenAttributes[name];
    if (typeof value !== 'string') fail(`attribute "${name}" must be a string`);
    Object.defineProperty(attributes, name, { value, enumerable: true });
  }

  const givenViews: unknown = input.views;
  if (!Array.isArray(givenViews) || givenViews.length === 0) fail('views must name at least one view');
  if (givenViews.length > maxViews) fail(`at most ${maxViews} views per client, not ${givenViews.length}`);
  const seen = new Set<string>();
  const views: ResolvedView[] = (givenViews as unknown[]).map((given, i) => {
    const view = given as Partial<WatchedView> | null;
    if (typeof view !== 'object' || view === null || typeof view.namespace !== 'string' || view.namespace.length === 0)
      fail(`views[${i}].namespace must be a non-empty string`);
    const labels: unknown = view.labels ?? [];
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
      fail(`views[${i}].labels must be an array of strings`);
    const normalised = normaliseLabels(labels);
    const id = viewId(view.namespace, normalised);
    if (seen.has(id)) fail(`views[${i}] repeats ${id}`);
    seen.add(id);
    return Object.freeze({ namespace: view.namespace, labels: Object.freeze(normalised), id });
  });

  let trustedKeys: readonly PublicKeyInfo[] | 'tofu';
  if (input.trustedKeys === 'tofu') {
    trustedKeys = 'tofu';
  } else if (Array.isArray(input.trustedKeys) && input.trustedKeys.length > 0) {
    const given = input.trustedKeys as readonly unknown[];
    const keys = given.map((key, i) => {
      if (!isUsableKey(key))
        fail(`trustedKeys[${i}] is not an Ed25519 public key ({keyId, publicKey: base64 of 32 bytes, createdAt})`);
      return Object.freeze({ ...key });
    });
    trustedKeys = Object.freeze(keys);
  } else {
    fail("trustedKeys must be a non-empty array of public keys, or 'tofu'");
  }

  if (input.cacheDir !== undefined && (typeof input.cacheDir !== 'string' || input.cacheDir.length === 0))
    fail('cacheDir must be a non-empty string');
  if (input.validate !== undefined && typeof input.validate !== 'function') fail('validate must be a function');
  const reportIntervalMs = input.reportIntervalMs ?? clientDefaults.reportIntervalMs;
  if (typeof reportIntervalMs !== 'number' || !Number.isFinite(reportIntervalMs) || reportIntervalMs <= 0)
    fail('reportIntervalMs must be a positive number');
  if (input.observe !== undefined && typeof input.observe !== 'boolean') fail('observe must be a boolean');
  if (input.fetch !== undefined && input.tls !== undefined) fail('give fetch or tls, not both');
  if (input.tls !== undefined) {
    if (typeof input.tls !== 'object' || input.tls === null) fail('tls must be an object ({cert, key, ca})');
    if (urls.some((url) => url.protocol !== 'https:')) fail('tls needs https: urls');
  }
  let fetchFn = input.fetch;
  if (fetchFn === undefined) {
    try {
      fetchFn = nodeFetch(input.tls);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  if (typeof fetchFn !== 'function') fail('fetch must be a function');
  if (input.signal !== undefined && !(input.signal instanceof AbortSignal)) fail('signal must be an AbortSignal');
  const clock = input.clock ?? systemClientClock;
  if (
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  )
    fail('clock must have now, setTimeout and clearTimeout');

  return Object.freeze({
    endpoints: new Endpoints(urls, clock, failover),
    token,
    instanceId: input.instanceId,
    attributes: Object.freeze(attributes),
    views: Object.freeze(views),
    trustedKeys,
    cacheDir: input.cacheDir,
    validate: input.validate,
    reportIntervalMs,
    observe: input.observe ?? false,
    reconnect: Object.freeze({ ...input.reconnect }),
    clock,
    fetch: fetchFn,
    signal: input.signal,
  });
}

/** A path of the endpoint in use, relative to its URL (so a path prefix is kept). */
export function endpoint(options: ResolvedOptions, path: string): URL {
  return options.endpoints.url(path);
}

/** Headers of every request to the server: the bearer token (when there is one), and `extra`. */
export function requestHeaders(options: ResolvedOptions, extra: Record<string, string> = {}): Record<string, string> {
  const token = options.token();
  return { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...extra };
}

/** The token option as a function; a provider that answers an empty token fails the request that asked. */
function resolveToken(given: HeraldClientOptions['token'], hasCertificate: boolean): () => string | undefined {
  if (given === undefined && hasCertificate) return () => undefined;
  if (typeof given === 'function') {
    return () => {
      const token = given();
      if (typeof token !== 'string' || token.length === 0)
        throw new HeraldClientError('invalid_options', 'the token function answered no token');
      return token;
    };
  }
  if (typeof given !== 'string' || given.length === 0)
    fail('token must be a non-empty string or a function (or leave it out with tls.cert)');
  return () => given;
}
