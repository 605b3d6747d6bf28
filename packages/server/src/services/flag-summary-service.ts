import { checkLabel, type Limits, type TimerClock } from '@herald/core';
import type { EntryVersion } from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import {
  shapeOf,
  summariseFlags,
  type FlagEntry,
  type FlagRolloutPosition,
  type FlagSummaryItem,
} from '../flags/flag-summary.js';
import { canReadSecrets, requirePermission, type Principal } from '../principal.js';
import { fromRecord } from '../rollouts/rollout-record.js';
import type { FlagUsageService } from './flag-usage-service.js';
import { requireNamespace } from './namespace-service.js';

/** What `GET /v1/namespaces/{ns}/flags` answers (docs/flags.md, "The flags summary"). */
export interface FlagSummary {
  namespace: string;
  label: string | null;
  flags: FlagSummaryItem[];
  staleAfterDays: number;
}

/** The rollout machine's state names, as the summary says them (running is "in-progress"). */
function rolloutStateName(state: string): string {
  return state === 'running' ? 'in-progress' : state;
}

/**
 * The flags of one label of a namespace (the empty label when none is named), as they are now in
 * the store, with where a rollout carries them and their evaluation counts. Secret flags are
 * listed only for tokens that may read the namespace's secrets.
 */
export class FlagSummaryService {
  readonly #store: Store;
  readonly #codec: EntryCodec;
  readonly #clock: TimerClock;
  readonly #usage: FlagUsageService;
  readonly #limits: Limits;

  constructor(deps: { store: Store; codec: EntryCodec; clock: TimerClock; usage: FlagUsageService; limits: Limits }) {
    this.#store = deps.store;
    this.#codec = deps.codec;
    this.#clock = deps.clock;
    this.#usage = deps.usage;
    this.#limits = deps.limits;
  }

  async summary(
    principal: Principal,
    namespace: string,
    label: string | undefined,
    staleAfterDays: number,
  ): Promise<FlagSummary> {
    requirePermission(principal, 'read', namespace);
    if (label !== undefined) checkLabel(label, this.#limits);
    await requireNamespace(this.#store, namespace);
    const secrets = canReadSecrets(principal, namespace);
    const at = label ?? '';
    const entries = await this.#flagEntries(namespace, at, secrets, undefined);
    const [usage, rollout] = await Promise.all([this.#usage.usage(namespace), this.#rollout(namespace, at, secrets)]);
    const flags = summariseFlags({ entries, usage, rollout, now: this.#clock.now(), staleAfterDays });
    return { namespace, label: label ?? null, flags, staleAfterDays };
  }

  async #flagEntries(
    namespace: string,
    label: string,
    secrets: boolean,
    asOf: number | undefined,
  ): Promise<FlagEntry[]> {
    const versions = await this.#store.readEntries({
      namespace,
      labels: [label],
      ...(asOf === undefined ? {} : { asOf }),
    });
    const entries: FlagEntry[] = [];
    for (const version of versions) {
      if (version.secret && !secrets) continue;
      const entry = this.#entryOf(version);
      if (entry && shapeOf(entry)) entries.push(entry);
    }
    return entries;
  }

  #entryOf(version: EntryVersion): FlagEntry | undefined {
    try {
      return {
        key: version.key,
        contentType: version.contentType,
        value: this.#codec.decodedValue(version),
        revision: version.revision,
        changedAt: version.createdAt,
      };
    } catch {
      return undefined;
    }
  }

  async #rollout(namespace: string, label: string, secrets: boolean): Promise<FlagRolloutPosition | undefined> {
    const [active] = await this.#store.listActiveRollouts(namespace);
    if (!active) return undefined;
    const rollout = fromRecord(active);
    const [stable, candidate] = await Promise.all([
      rollout.state.fromSeq > 0 ? this.#store.getRelease(namespace, rollout.state.fromSeq) : undefined,
      this.#store.getRelease(namespace, rollout.state.toSeq),
    ]);
    if (!candidate) return undefined;
    const byKey = (entries: FlagEntry[]) => new Map(entries.map((e) => [e.key, e]));
    return {
      seq: candidate.seq,
      state: rolloutStateName(rollout.state.state),
      wave:
        ('waves' in rollout.policy ? rollout.policy.waves[rollout.state.wave]?.name : undefined) ??
        String(rollout.state.wave),
      stable: stable ? byKey(await this.#flagEntries(namespace, label, secrets, stable.revision)) : new Map(),
      candidate: byKey(await this.#flagEntries(namespace, label, secrets, candidate.revision)),
    };
  }
}
