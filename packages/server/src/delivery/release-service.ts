import { HeraldError, type AuditInput, type TimerClock } from '@herald/core';
import type { ReleaseKind, ReleaseRecord, Store } from '@herald/store';
import { actorOf, requirePermission, type Principal } from '../principal.js';
import type { WatchHub } from './watch-hub.js';

export interface ReleaseView {
  namespace: string;
  seq: number;
  revision: number;
  kind: string;
  author: string;
  note: string;
  createdAt: string;
}

/**
 * The one owner of releases in the control plane: it makes them (the only caller of the store's
 * createRelease), rolls back, lists, and is the only thing that wakes the watch hub. Every
 * release reaches the hub one of three ways, all of them here:
 *
 * - made here (a manual release, a rollback, a rollout's candidate or undo): announced at once;
 * - made by a commit to an `immediate` namespace, inside the store's commit transaction, where no
 *   server code sees it being made: the change feed announces its revision, on this node and (a
 *   shared store) on every other. Every new revision wakes the hub rather than only releases:
 *   the hub re-reads the routes and sends only what moved, so a commit that released nothing
 *   costs a few reads;
 * - made on another node of a shared store without a commit (a manual release, a rollback, a
 *   rollout step decided by the leader there): that moves no revision, so nothing would tell this
 *   node. Only there is a timer needed: it re-reads the routes every `routeRefreshMs`.
 *
 * Rollout transitions that make no release (a wave, a pause) still move routes: the rollout
 * service tells the hub through announce().
 */
export class ReleaseService {
  readonly #store: Store;
  readonly #hub: Pick<WatchHub, 'refresh'>;
  readonly #clock: TimerClock;
  readonly #unwatch: () => void;
  #timer: unknown;

  constructor(deps: { store: Store; hub: Pick<WatchHub, 'refresh'>; clock: TimerClock }) {
    this.#store = deps.store;
    this.#hub = deps.hub;
    this.#clock = deps.clock;
    this.#unwatch = deps.store.watchRevisions(() => this.announce());
  }

  /**
   * Starts re-reading routes every `routeRefreshMs`, for what other nodes of a shared store do
   * without moving a revision. A store no other node writes to needs none.
   */
  start(options: { sharedStore: boolean; routeRefreshMs: number }): void {
    if (options.sharedStore) this.#timer ??= this.#clock.setInterval(() => this.announce(), options.routeRefreshMs);
  }

  close(): void {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unwatch();
  }

  /** Tells the watch streams and long polls that routes may have moved; bursts coalesce in the hub. */
  announce(): void {
    this.#hub.refresh();
  }

  /** Makes the namespace's next release and announces it. Permissions are the caller's to check. */
  async make(
    input: { namespace: string; revision?: number; kind: ReleaseKind; author: string; note: string },
    audit: AuditInput,
  ): Promise<ReleaseRecord> {
    const release = await this.#store.createRelease(input, audit);
    this.announce();
    return release;
  }

  /** A new release (higher seq) with the content of release `toSeq`: clients never go back in seq. */
  async rollback(principal: Principal, namespace: string, toSeq: number, note: string): Promise<ReleaseView> {
    requirePermission(principal, 'release', namespace);
    const target = await this.#store.getRelease(namespace, toSeq);
    if (!target) throw new HeraldError('revision_not_found', `namespace "${namespace}" has no release ${toSeq}`);
    const release = await this.make(
      {
        namespace,
        revision: target.revision,
        kind: 'rollback',
        author: actorOf(principal),
        note: note || `rollback to release ${toSeq}`,
      },
      {
        actor: actorOf(principal),
        action: 'release.rollback',
        target: `namespace:${namespace}`,
        details: { toSeq, note },
      },
    );
    return releaseView(release);
  }

  async list(principal: Principal, namespace: string, limit: number): Promise<ReleaseView[]> {
    requirePermission(principal, 'read', namespace);
    if (!(await this.#store.getNamespace(namespace))) {
      throw new HeraldError('namespace_not_found', `namespace "${namespace}" does not exist`);
    }
    return (await this.#store.listReleases({ namespace, limit })).map(releaseView);
  }
}

export function releaseView(release: ReleaseRecord): ReleaseView {
  return { ...release, createdAt: new Date(release.createdAt).toISOString() };
}
