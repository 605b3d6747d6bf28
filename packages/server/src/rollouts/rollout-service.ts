import { randomBytes } from 'node:crypto';
import {
  abort as abortRollout,
  countWave,
  mergeWaveObservations,
  evaluate,
  freeze,
  healthyReportsSince,
  HeraldError,
  isTargeted,
  pause,
  resume,
  rollback as rollbackRollout,
  startRollout,
  summarize,
  unfreeze,
  type CheckContext,
  type Clock,
  type ObservationWindow,
  type RolloutState,
  type RolloutSummary,
  type WaveObservation,
  type WindowBlock,
} from '@herald/core';
import type { InstanceRecord, ReleaseRecord, Store } from '@herald/store';
import { contentDigest } from '../delivery/content-digest.js';
import { policyOf } from '../delivery/policy.js';
import type { ReleaseService } from '../delivery/release-service.js';
import type { ReportCollector } from '../delivery/reports.js';
import { actorOf, requirePermission, requireSystemAdmin, type Principal } from '../principal.js';
import { GateChecks } from './gate-checks.js';
import type { ObservationWindows } from './observation-windows.js';
import { fromRecord, toStoredState, type Rollout } from './rollout-record.js';
import { waveFailureOf, type WaveFailure } from './wave-failure.js';
import { liveInstances } from '../delivery/live-instances.js';

export type RolloutCommand = 'pause' | 'resume' | 'abort' | 'rollback';

/**
 * After a rollback, while the namespace still holds the candidate's content: the next release
 * would ship it again. The way out is a commit back to the stable release's content.
 */
export interface RollbackTrap {
  rolloutId: string;
  /** The release that was rolled back, and the stable one whose content the fleet went back to. */
  rolledBackSeq: number;
  stableSeq: number;
  stableRevision: number;
  /** The namespace's revision now, whose content is the rolled-back candidate's. */
  headRevision: number;
  /** The one command that restores the namespace to the stable content, as a commit. */
  command: string;
  message: string;
}

export interface RolloutStatus extends RolloutSummary {
  observation: WaveObservation;
  frozenAll: boolean;
  /** Why the wave failed, kept from the moment it did (null: none failed). */
  failure: WaveFailure | null;
  /** Set while the namespace still holds the rolled-back candidate's content. */
  trap: RollbackTrap | null;
  /** The change window holding the next wave, while one does (change-control/change-control-settings.ts). */
  heldBy?: { window: string; scope: string; until: string; describe: string };
}

/** How many past rollouts a release looks through for a rolled-back candidate with the same content. */
const rolledBackLookback = 20;

/** Why a rollout's next wave may not start now (a change window), or undefined. */
export type WaveHold = (namespace: string, rolloutId: string) => Promise<WindowBlock | undefined>;

const freezeSetting = 'rollouts_frozen';

/**
 * Staged rollouts: starting one with a release, the commands (pause, resume, abort, rollback,
 * freeze), and `step`, which the controller on the leader runs to move rollouts through their
 * waves. Every transition is persisted (versioned) and audited before it takes effect; undoing a
 * candidate always makes a new release with the stable content, so clients never go back in seq.
 */
export class RolloutService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #reports: ReportCollector;
  readonly #instanceTtlMs: number;
  readonly #releases: ReleaseService;
  readonly #windows: ObservationWindows;
  readonly #checks: GateChecks;
  readonly #onTransition: (transition: RolloutTransition) => void;
  readonly #onObserved: (state: RolloutState, observation: WaveObservation) => void;
  readonly #hold: WaveHold;

  /** `releases` makes every release a rollout needs and tells the watch streams of every transition. */
  constructor(deps: {
    store: Store;
    clock: Clock;
    reports: ReportCollector;
    instanceTtlMs: number;
    releases: ReleaseService;
    windows: ObservationWindows;
    /** Samples the policies' metric and HTTP checks; absent: metric checks fail (no Prometheus configured). */
    checks?: GateChecks;
    /** Told when a rollout changes state (the server logs it). */
    onTransition?: (transition: RolloutTransition) => void;
    /** Told at every controller step what it observed and decided (the rollout metrics). */
    onObserved?: (state: RolloutState, observation: WaveObservation) => void;
    hold?: WaveHold;
  }) {
    this.#onObserved = deps.onObserved ?? (() => undefined);
    this.#hold = deps.hold ?? (async () => undefined);
    this.#windows = deps.windows;
    this.#checks = deps.checks ?? new GateChecks({ clock: deps.clock, prometheusUrl: null });
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#reports = deps.reports;
    this.#instanceTtlMs = deps.instanceTtlMs;
    this.#releases = deps.releases;
    this.#onTransition = deps.onTransition ?? (() => undefined);
  }

  /**
   * Releases a staged namespace: a candidate release and a rollout from the stable one to it.
   * The rollout is saved before the candidate exists, so a crash in between can never leave a
   * candidate that everyone would get. The first release of a namespace has nothing to protect
   * and goes to everyone.
   */
  async startRelease(
    principal: Principal,
    namespace: string,
    note: string,
    supersede: boolean,
    force?: { reason: string },
  ): Promise<{ release: ReleaseRecord; rolloutId?: string }> {
    requirePermission(principal, 'release', namespace);
    const ns = await this.#store.getNamespace(namespace);
    if (!ns) throw new HeraldError('namespace_not_found', `namespace "${namespace}" does not exist`);
    const policy = policyOf(ns.policy);
    const actor = actorOf(principal);
    const trap = await this.#trapOf(namespace, ns.revision);
    if (trap && !force) {
      throw new HeraldError(
        'release_rolled_back',
        `${trap.message}; releasing now would ship it again. Restore the stable content as a commit: ${trap.command} (or release anyway with --force --reason TEXT)`,
        { extensions: { ...trap } },
      );
    }
    if (force !== undefined && force.reason.trim() === '')
      throw new HeraldError('invalid_request', 'a forced release needs a reason (it is audited)');
    // Kept in the release's audit record: who shipped rolled-back content again, and why.
    const forced =
      trap && force
        ? { forced: { reason: force.reason, rolloutId: trap.rolloutId, rolledBackSeq: trap.rolledBackSeq } }
        : {};
    const [active] = await this.#store.listActiveRollouts(namespace);
    if (active && !supersede) {
      throw new HeraldError(
        'rollout_active',
        `rollout ${active.id} of "${namespace}" is still ${fromRecord(active).state.state}; abort it or release with --supersede`,
        {
          extensions: { rolloutId: active.id },
        },
      );
    }
    if (active) {
      // Undone like an abort (a new release with the stable content, made while the old rollout
      // still routes), so that its candidate never reaches everyone in between, and the instances
      // on it go back to the stable content rather than keep a higher seq they would not give up.
      const superseded = fromRecord(active);
      await this.#undo(
        superseded,
        abortRollout(superseded.state, this.#clock.now(), actor, 'superseded by a new release'),
        'rollout.supersede',
        actor,
        undefined,
      );
    }
    const newest = await this.#store.getRelease(namespace);
    const stableSeq = newest?.seq;
    if (policy.strategy !== 'staged' || stableSeq === undefined || !newest) {
      const release = await this.#releases.make(
        { namespace, kind: 'manual', author: actor, note },
        { actor, action: 'release.create', target: `namespace:${namespace}`, details: { note, ...forced } },
      );
      return { release };
    }
    const id = `ro-${randomBytes(6).toString('hex')}`;
    const now = this.#clock.now();
    let state = startRollout({
      id,
      namespace,
      fromSeq: stableSeq,
      toSeq: newest.seq + 1,
      now,
      actor,
      ...(note ? { reason: note } : {}),
    });
    if ((await this.#store.getSetting(freezeSetting)) === 'true')
      state = freeze(state, now, actor, 'every rollout is frozen');
    const record = await this.#store.saveRollout(
      { id, namespace, active: true, state: toStoredState(state, policy) },
      0,
      {
        actor,
        action: 'rollout.start',
        target: `namespace:${namespace}`,
        details: { rolloutId: id, fromSeq: stableSeq, note },
      },
    );
    const release = await this.#releases.make(
      { namespace, kind: 'rollout', author: actor, note },
      {
        actor,
        action: 'release.create',
        target: `namespace:${namespace}`,
        details: { note, rolloutId: id, ...forced },
      },
    );
    if (release.seq !== state.toSeq) {
      // Someone released in between; the rollout is about the release actually made.
      state = { ...state, toSeq: release.seq };
      await this.#store.saveRollout(
        { id, namespace, active: true, state: toStoredState(state, policy) },
        record.version,
        undefined,
      );
      this.#releases.announce();
    }
    this.#onTransition({
      namespace,
      rolloutId: id,
      action: 'rollout.start',
      state: state.state,
      wave: state.wave,
      actor,
    });
    return { release, rolloutId: id };
  }

  async status(principal: Principal, namespace: string): Promise<RolloutStatus | undefined> {
    requirePermission(principal, 'read', namespace);
    // The active rollout when there is one: the one it superseded may have been saved in the same millisecond.
    const [latest] = (await this.#store.listActiveRollouts(namespace)).concat(
      await this.#store.listRollouts(namespace, 1),
    );
    if (!latest) return undefined;
    const rollout = fromRecord(latest);
    // As the controller sees it; on a node that is not the leader there is no window, and the
    // status counts ok reports from the wave's start and bake from the last stored update.
    const observedSince = this.#windows.get(rollout.state.id)?.since;
    let observation = rollout.finalObservation;
    if (!observation) {
      observation = (await this.#observe(rollout, observedSince)).observation;
      const checks = this.#checks.observed(
        { rolloutId: rollout.state.id, waveIndex: rollout.state.wave },
        observedSince,
      );
      if (checks.length > 0) observation.checks = checks;
    }
    const active = ['running', 'paused', 'frozen'].includes(rollout.state.state);
    const held = active ? await this.#hold(namespace, rollout.state.id) : undefined;
    const ns = await this.#store.getNamespace(namespace);
    return {
      ...summarize(rollout.state, rollout.policy, observation, this.#clock.now(), { observedSince }),
      observation,
      frozenAll: (await this.#store.getSetting(freezeSetting)) === 'true',
      failure: rollout.failure ?? null,
      trap: ns ? ((await this.#trapOf(namespace, ns.revision)) ?? null) : null,
      ...(held
        ? {
            heldBy: {
              window: held.window.name,
              scope: held.scope,
              until: new Date(held.until).toISOString(),
              describe: held.describe,
            },
          }
        : {}),
    };
  }

  async history(principal: Principal, namespace: string, limit: number): Promise<RolloutState[]> {
    requirePermission(principal, 'read', namespace);
    // Newest started first: the store orders by last update, which ties when one rollout supersedes another.
    const states = (await this.#store.listRollouts(namespace, limit)).map((r) => fromRecord(r).state);
    return states.sort((a, b) => b.startedAt - a.startedAt);
  }

  async command(
    principal: Principal,
    namespace: string,
    command: RolloutCommand,
    reason: string,
  ): Promise<RolloutState> {
    requirePermission(principal, 'release', namespace);
    const [active] = await this.#store.listActiveRollouts(namespace);
    if (!active) throw new HeraldError('invalid_transition', `namespace "${namespace}" has no rollout to ${command}`);
    const rollout = fromRecord(active);
    const actor = actorOf(principal);
    const now = this.#clock.now();
    const why = reason || undefined;
    switch (command) {
      case 'pause':
        return this.#save(rollout, pause(rollout.state, now, actor, why), 'rollout.pause', actor);
      case 'resume':
        return this.#save(rollout, resume(rollout.state, now, actor, why), 'rollout.resume', actor);
      case 'abort':
        return this.#undo(rollout, abortRollout(rollout.state, now, actor, why), 'rollout.abort', actor, undefined);
      case 'rollback':
        return this.#undo(
          rollout,
          rollbackRollout(rollout.state, now, actor, why),
          'rollout.rollback',
          actor,
          undefined,
        );
    }
  }

  /** The emergency stop: every active rollout halts where it is, and new ones start frozen, until unfrozen. */
  async freezeAll(
    principal: Principal,
    frozen: boolean,
    reason: string,
  ): Promise<{ frozen: boolean; rollouts: string[] }> {
    requireSystemAdmin(principal);
    const actor = actorOf(principal);
    await this.#store.putSetting(freezeSetting, String(frozen), {
      actor,
      action: frozen ? 'rollouts.freeze' : 'rollouts.unfreeze',
      target: 'rollouts',
      details: { reason },
    });
    const changed: string[] = [];
    for (const record of await this.#store.listActiveRollouts()) {
      const rollout = fromRecord(record);
      const isFrozen = rollout.state.state === 'frozen';
      if (frozen === isFrozen) continue;
      const now = this.#clock.now();
      const next = frozen
        ? freeze(rollout.state, now, actor, reason || undefined)
        : unfreeze(rollout.state, now, actor, reason || undefined);
      await this.#save(rollout, next, frozen ? 'rollout.freeze' : 'rollout.unfreeze', actor);
      changed.push(record.id);
    }
    return { frozen, rollouts: changed };
  }

  /**
   * One controller step for one rollout: observe, decide, and persist and act on anything but a
   * hold. `window` is the controller's unbroken observation of it (rollout-observation.ts in the
   * core): time before it is not bake, and ok reports from before it do not count.
   */
  async step(record: Rollout['record'], window: ObservationWindow): Promise<void> {
    const rollout = fromRecord(record);
    const { observation, instances } = await this.#observe(rollout, window.since);
    if (GateChecks.has(rollout.policy)) {
      observation.checks = await this.#checks.sample(rollout.policy, checkContext(rollout, instances), window.since);
    }
    const now = this.#clock.now();
    const { state, decision } = evaluate(rollout.state, rollout.policy, observation, now, {
      observedSince: window.since,
    });
    this.#onObserved(state, observation);
    switch (decision.kind) {
      case 'hold':
        return;
      case 'advance':
        // A change window holds the next wave (unless the rollout was given an override); status says why.
        if (await this.#hold(record.namespace, record.id)) return;
        await this.#save(rollout, state, 'rollout.advance', 'controller');
        return;
      case 'succeed':
        await this.#save(rollout, state, 'rollout.succeed', 'controller', observation);
        return;
      case 'fail': {
        const failure = waveFailureOf(
          rollout.state,
          rollout.policy,
          decision,
          instances,
          observation.checks ?? [],
          now,
        );
        if (state.state === 'rolled_back')
          await this.#undo(rollout, state, 'rollout.fail', 'controller', window.since, observation, failure);
        else await this.#save(rollout, state, 'rollout.fail', 'controller', undefined, { failure });
        return;
      }
    }
  }

  /**
   * Counts, among the instances the current wave targets, who applied, rejected or is unhealthy
   * on the candidate (countWave in the core): ok reports only from `observedSince` on, if given.
   */
  async #observe(
    rollout: Rollout,
    observedSince: number | undefined,
  ): Promise<{ observation: WaveObservation; instances: InstanceRecord[] }> {
    await this.#reports.flush();
    const { state, policy } = rollout;
    // Counted a page at a time as the pages arrive, so judging 100,000 records is not one long turn.
    const healthySince = healthyReportsSince(state, policy, observedSince ?? -Infinity);
    let observation = countWave(state, policy, [], healthySince);
    const instances = await liveInstances(
      this.#store,
      state.namespace,
      this.#clock.now() - this.#instanceTtlMs,
      (page) => (observation = mergeWaveObservations(observation, countWave(state, policy, page, healthySince))),
    );
    return { observation, instances };
  }

  /**
   * The trap a rollback leaves: the namespace at `headRevision` holds the content of a candidate
   * that was rolled back (among the latest rollouts, or those given). Reading the content costs a
   * read of the namespace, so only when there is such a rollout.
   */
  async #trapOf(
    namespace: string,
    headRevision: number,
    records?: Rollout['record'][],
  ): Promise<RollbackTrap | undefined> {
    const rolledBack = (records ?? (await this.#store.listRollouts(namespace, rolledBackLookback)))
      .map(fromRecord)
      .filter((r) => r.state.state === 'rolled_back' && r.candidateDigest !== undefined);
    if (rolledBack.length === 0) return undefined;
    const digest = await contentDigest(this.#store, namespace, headRevision);
    const match = rolledBack.find((r) => r.candidateDigest === digest);
    if (!match) return undefined;
    // The way out is the content the fleet runs now: the newest release (after the rollback, its
    // release of the stable content). When that is the very content, it was shipped anyway
    // (--force) and is live: no trap any more.
    const stable = await this.#store.getRelease(namespace);
    if (!stable || (await contentDigest(this.#store, namespace, stable.revision)) === digest) return undefined;
    const command = `herald restore ${namespace} --to ${stable.revision} -m "back to the content of release ${stable.seq}: release ${match.state.toSeq} was rolled back"`;
    return {
      rolloutId: match.state.id,
      rolledBackSeq: match.state.toSeq,
      stableSeq: stable.seq,
      stableRevision: stable.revision,
      headRevision,
      command,
      message: `namespace "${namespace}" still holds the content of release ${match.state.toSeq}, which rollout ${match.state.id} rolled back (the fleet runs the content of release ${stable.seq}, revision ${stable.revision})`,
    };
  }

  /** Ends a rollout and sends everyone back to the stable content, as a new release made first. */
  async #undo(
    rollout: Rollout,
    next: RolloutState,
    action: string,
    actor: string,
    observedSince: number | undefined,
    observation?: WaveObservation,
    failure?: WaveFailure,
  ): Promise<RolloutState> {
    const stable = await this.#store.getRelease(rollout.state.namespace, rollout.state.fromSeq);
    if (!stable)
      throw new HeraldError(
        'internal',
        `the stable release ${rollout.state.fromSeq} of "${rollout.state.namespace}" is gone`,
      );
    await this.#releases.make(
      {
        namespace: rollout.state.namespace,
        revision: stable.revision,
        kind: 'rollback',
        author: actor,
        note: next.reason ?? `${action} of ${rollout.state.id}`,
      },
      {
        actor,
        action: 'release.rollback',
        target: `namespace:${rollout.state.namespace}`,
        details: { rolloutId: rollout.state.id, toContentOf: stable.seq },
      },
    );
    // A rollback calls the candidate bad: remember its content, so that a release of it again is refused.
    const candidate =
      next.state === 'rolled_back'
        ? await this.#store.getRelease(rollout.state.namespace, rollout.state.toSeq)
        : undefined;
    const candidateDigest = candidate
      ? await contentDigest(this.#store, rollout.state.namespace, candidate.revision)
      : undefined;
    return this.#save(
      rollout,
      next,
      action,
      actor,
      observation ?? (await this.#observe(rollout, observedSince)).observation,
      { failure, candidateDigest },
    );
  }

  async #save(
    rollout: Rollout,
    next: RolloutState,
    action: string,
    actor: string,
    finalObservation?: WaveObservation,
    extra: { failure?: WaveFailure | undefined; candidateDigest?: string | undefined } = {},
  ): Promise<RolloutState> {
    const active = ['running', 'paused', 'frozen'].includes(next.state);
    const failure = extra.failure ?? rollout.failure;
    if (!active) this.#checks.forget(rollout.record.id);
    await this.#store.saveRollout(
      {
        id: rollout.record.id,
        namespace: rollout.record.namespace,
        active,
        state: toStoredState(next, rollout.policy, active ? undefined : finalObservation, {
          failure,
          candidateDigest: extra.candidateDigest ?? rollout.candidateDigest,
        }),
      },
      rollout.record.version,
      {
        actor,
        action,
        target: `namespace:${rollout.record.namespace}`,
        // The why of this transition (its history entry): a resume or an advance has no `reason` in the state.
        details: {
          rolloutId: rollout.record.id,
          state: next.state,
          wave: next.wave,
          reason: next.history.at(-1)?.reason ?? next.reason ?? '',
          // Why the wave failed (reject reasons, unhealthy details, the check's query and values), on the failing transition.
          ...(extra.failure ? { failure: extra.failure } : {}),
        },
      },
    );
    this.#releases.announce();
    this.#onTransition({
      namespace: rollout.record.namespace,
      rolloutId: rollout.record.id,
      action,
      state: next.state,
      wave: next.wave,
      actor,
      ...(next.reason ? { reason: next.reason } : {}),
    });
    return next;
  }
}

/** A rollout's change of state, as the server logs it. */
export interface RolloutTransition {
  namespace: string;
  rolloutId: string;
  action: string;
  state: string;
  wave: number;
  actor: string;
  reason?: string;
}

/** What a check's query or URL may refer to: the wave being judged and the instances it targets. */
function checkContext(rollout: Rollout, instances: readonly InstanceRecord[]): CheckContext {
  const { state, policy } = rollout;
  const wave = policy.strategy === 'staged' ? policy.waves[Math.min(state.wave, policy.waves.length - 1)] : undefined;
  return {
    namespace: state.namespace,
    rolloutId: state.id,
    seq: state.toSeq,
    stable: state.fromSeq,
    wave: wave?.name ?? '',
    waveIndex: state.wave,
    instances: instances.filter((i) => isTargeted(policy, state.wave, state.id, i)).map((i) => i.instanceId),
    match: wave?.match,
  };
}
