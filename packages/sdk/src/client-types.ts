import type { Manifest, ViewValues } from '@herald/core';
import type { RejectionCode } from './verify.js';

// The watch client's public types: what it holds, what it tells, how views are named. The client
// (client.ts), its stream (stream.ts) and its reporter (reporter.ts) share them.

/** What the client holds for one view: verified, frozen, safe to keep and share. */
export interface ViewSnapshot {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly seq: number;
  readonly revision: number;
  readonly digest: string;
  /** When the release was made (ms since the epoch), from the signed manifest. */
  readonly issuedAt: number;
  /** The signed manifest and its signature, as received (a relay can serve them on). */
  readonly manifest: Readonly<Manifest>;
  readonly signature: string;
  /** Deeply frozen. */
  readonly values: Readonly<ViewValues>;
  /** 'cache' until the server has delivered this view in this process. */
  readonly source: 'cache' | 'server';
}

/** One accepted view. `changedKeys` is empty when a release did not change this view's values. */
export interface ViewChange {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly current: ViewSnapshot;
  /** What was held before; undefined for the first values of the view in this process. */
  readonly previous: ViewSnapshot | undefined;
  /** `previous.values`, or {} when nothing was held. */
  readonly oldValues: Readonly<ViewValues>;
  readonly newValues: Readonly<ViewValues>;
  /** Keys set, changed or removed, sorted. */
  readonly changedKeys: readonly string[];
  /** How it arrived: loaded from the verified cache at start, or a snapshot or delta from the server. */
  readonly via: 'cache' | 'snapshot' | 'delta';
}

/** A watched view's name: a namespace and its (normalised) label stack. */
export interface ViewName {
  readonly namespace: string;
  readonly labels: readonly string[];
}

/** What the client is doing, for logs and dashboards. A discriminated union on `type`. */
export type ClientStatus =
  /** Opening a watch stream; `attempt` is the number of failed attempts since the last success. */
  | { readonly type: 'connecting'; readonly attempt: number }
  /** The stream delivered its `hello`; `endpoint` is the URL in use (one of the `url` option's). */
  | { readonly type: 'connected'; readonly revision: number; readonly heartbeatMs: number; readonly endpoint: string }
  /**
   * The client moved to another endpoint: `failover` after the one in use failed (`reason`),
   * `failback` to a preferred one that stayed ready.
   */
  | {
      readonly type: 'failover' | 'failback';
      readonly from: string;
      readonly to: string;
      readonly reason: string;
    }
  /** The stream failed or ended; `error.code` says how (see HeraldClientError). */
  | { readonly type: 'disconnected'; readonly error: Error }
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delayMs: number }
  /** While waiting to reconnect, the endpoint answered its readiness probe: the client reconnects now. */
  | { readonly type: 'upstream-ready'; readonly endpoint: string }
  /** Serving views from the verified cache that the control plane has not confirmed yet. */
  | {
      readonly type: 'stale-cache';
      readonly views: ReadonlyArray<
        ViewName & { readonly seq: number; readonly digest: string; readonly issuedAt: number }
      >;
    }
  /** 'tofu': these keys were trusted because the server presented them on first contact. */
  | {
      readonly type: 'trusted-on-first-use';
      readonly keys: ReadonlyArray<{ readonly keyId: string; readonly publicKey: string }>;
    }
  /** New signing keys trusted through an endorsement by a trusted key (rotation). */
  | { readonly type: 'keys-learned'; readonly keyIds: readonly string[] }
  /** A view (or a release of it) was refused; the previous values stay. */
  | (ViewName & {
      readonly type: 'rejected';
      readonly seq: number | undefined;
      readonly code: RejectionCode;
      readonly reason: string;
    })
  /** The server can no longer serve a view (e.g. its namespace was deleted); the values held stay. */
  | (ViewName & { readonly type: 'view-error'; readonly code: string; readonly detail: string })
  /** The server sent something that is not the protocol (ignored). */
  | { readonly type: 'protocol-error'; readonly detail: string }
  /** A cache file failed to read or verify and was ignored (never trusted). */
  | { readonly type: 'cache-ignored'; readonly file: string; readonly code: string; readonly reason: string }
  /** The cache could not be written (the view was still applied in memory). */
  | { readonly type: 'cache-error'; readonly error: Error }
  /** A report failed; the next one goes at the next interval. */
  | { readonly type: 'report-failed'; readonly error: Error }
  /** The client is closed; `error` is why, when it did not close on request. */
  | { readonly type: 'closed'; readonly error: Error | undefined };

export type ClientStatusType = ClientStatus['type'];

export interface ViewSelector {
  /** Needed only when the namespace is watched with more than one label stack. */
  labels?: readonly string[];
}
