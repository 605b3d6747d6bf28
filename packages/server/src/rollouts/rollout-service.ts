import { randomBytes } from 'node:crypto';
import {
  abort as abortRollout,
  evaluate,
  freeze,
  HeraldError,
  isTargeted,
  pause,
  resume,
  rollback as rollbackRollout,
  startRollout,
  summarize,
  unfreeze,
  type Clock,
  type RolloutState,
  type RolloutSummary,
  type WaveObservation,
} from '@herald/core';
import type { ReleaseRecord, Store } from '@herald/store';
import { policyOf } from '../delivery/policy.js';
import type { ReportCollector } from '../delivery/reports.js';
import { actorOf, requirePermission, requireSystemAdmin, type Principal } from '../principal.js';
import { fromRecord, toStoredState, type Rollout } from './rollout-record.js';

export type RolloutCommand = 'pause' | 'resume' | 'abort' | 'rollback';

export interface RolloutStatus extends RolloutSummary {
  observation: WaveObservation;
  frozenAll: boolean;
}

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
  readonly #onChange: (transition?: RolloutTransition) => void;

  constructor(deps: {
    store: Store;
    clock: Clock;
    reports: ReportCollector;
    instanceTtlMs: number;
    /** After every change of routing; with `transition` when a rollout changed state (for the log). */
    onChange: (transition?: RolloutTransition) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#reports = deps.reports;
    this.#instanceTtlMs = deps.instanceTtlMs;
    this.#onChange = deps.onChange;
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
  ): Promise<{ release: ReleaseRecord; rolloutId?: string }> {
    requirePermission(principal, 'release', namespace);
    const ns = await this.#store.getNamespace(namespace);
    if (!ns) throw new HeraldError('namespace_not_found', `namespace "${namespace}" does not exist`);
    const policy = policyOf(ns.policy);
    const actor = actorOf(principal);
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
      );
    }
    const newest = await this.#store.getRelease(namespace);
    const stableSeq = newest?.seq;
    if (policy.strategy !== 'staged' || stableSeq === undefined || !newest) {
      const release = await this.#store.createRelease(
        { namespace, kind: 'manual', author: actor, note },
        { actor, action: 'release.create', target: `namespace:${namespace}`, details: { note } },
      );
      this.#onChange();
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
    const release = await this.#store.createRelease(
      { namespace, kind: 'rollout', author: actor, note },
      { actor, action: 'release.create', target: `namespace:${namespace}`, details: { note, rolloutId: id } },
    );
    if (release.seq !== state.toSeq) {
      // Someone released in between; the rollout is about the release actually made.
      state = { ...state, toSeq: release.seq };
      await this.#store.saveRollout(
        { id, namespace, active: true, state: toStoredState(state, policy) },
        record.version,
        undefined,
      );
    }
    this.#onChange({ namespace, rolloutId: id, action: 'rollout.start', state: state.state, wave: state.wave, actor });
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
    const observation = rollout.finalObservation ?? (await this.observe(rollout));
    return {
      ...summarize(rollout.state, rollout.policy, observation, this.#clock.now()),
      observation,
      frozenAll: (await this.#store.getSetting(freezeSetting)) === 'true',
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
        return this.#undo(rollout, abortRollout(rollout.state, now, actor, why), 'rollout.abort', actor);
      case 'rollback':
        return this.#undo(rollout, rollbackRollout(rollout.state, now, actor, why), 'rollout.rollback', actor);
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

  /** One controller step for one rollout: observe, decide, and persist and act on anything but a hold. */
  async step(record: Rollout['record']): Promise<void> {
    const rollout = fromRecord(record);
    const observation = await this.observe(rollout);
    const { state, decision } = evaluate(rollout.state, rollout.policy, observation, this.#clock.now());
    switch (decision.kind) {
      case 'hold':
        return;
      case 'advance':
        await this.#save(rollout, state, 'rollout.advance', 'controller');
        return;
      case 'succeed':
        await this.#save(rollout, state, 'rollout.succeed', 'controller', observation);
        return;
      case 'fail':
        if (state.state === 'rolled_back') await this.#undo(rollout, state, 'rollout.fail', 'controller', observation);
        else await this.#save(rollout, state, 'rollout.fail', 'controller');
        return;
    }
  }

  /** Counts, among the instances the current wave targets, who applied, rejected or is unhealthy on the candidate. */
  async observe(rollout: Rollout): Promise<WaveObservation> {
    await this.#reports.flush();
    const { state, policy } = rollout;
    const instances = await this.#store.listInstances({
      namespace: state.namespace,
      seenSince: this.#clock.now() - this.#instanceTtlMs,
    });
    const observation: WaveObservation = { targeted: 0, reported: 0, applied: 0, rejected: 0, unhealthy: 0 };
    for (const instance of instances) {
      if (!isTargeted(policy, state.wave, state.id, instance)) continue;
      observation.targeted += 1;
      const onCandidate = instance.views.filter((v) => v.seq === state.toSeq);
      if (onCandidate.some((v) => v.status === 'rejected')) {
        observation.reported += 1;
        observation.rejected += 1;
      } else if (onCandidate.some((v) => v.status === 'applied')) {
        observation.reported += 1;
        observation.applied += 1;
        if (instance.health !== 'ok') observation.unhealthy += 1;
      }
    }
    return observation;
  }

  /** Ends a rollout and sends everyone back to the stable content, as a new release made first. */
  async #undo(
    rollout: Rollout,
    next: RolloutState,
    action: string,
    actor: string,
    observation?: WaveObservation,
  ): Promise<RolloutState> {
    const stable = await this.#store.getRelease(rollout.state.namespace, rollout.state.fromSeq);
    if (!stable)
      throw new HeraldError(
        'internal',
        `the stable release ${rollout.state.fromSeq} of "${rollout.state.namespace}" is gone`,
      );
    await this.#store.createRelease(
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
    return this.#save(rollout, next, action, actor, observation ?? (await this.observe(rollout)));
  }

  async #save(
    rollout: Rollout,
    next: RolloutState,
    action: string,
    actor: string,
    finalObservation?: WaveObservation,
  ): Promise<RolloutState> {
    const active = ['running', 'paused', 'frozen'].includes(next.state);
    await this.#store.saveRollout(
      {
        id: rollout.record.id,
        namespace: rollout.record.namespace,
        active,
        state: toStoredState(next, rollout.policy, active ? undefined : finalObservation),
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
        },
      },
    );
    this.#onChange({
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
