import type { TimerClock } from '@herald/core';
import { isFlagContentType, isFlagDefinition } from '@herald/flags';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import { EvaluationTally, hourMs, type ReportedEvaluation, type TalliedEvaluation } from '../flags/evaluation-tally.js';
import type { FlagUsage } from '../flags/flag-summary.js';
import { requirePermission, type Principal } from '../principal.js';

/** Hourly counts kept this long: the summary's "day" needs 25 of them. */
const retentionHours = 48;
/** Namespaces whose flags are remembered between flushes. */
const maxKnownNamespaces = 1000;

/**
 * Flag usage on the control plane: evaluation counts from reports (the OpenFeature provider's),
 * from relays and from OFREP, tallied in memory and written per hour. Only flags the namespace
 * has, and variants they have, are written, so a hostile client adds no rows: it can only move
 * the counts of real variants (each capped). Hours past the retention are pruned; a deleted
 * flag's counts go with it.
 */
export class FlagUsageService {
  readonly #store: Store;
  readonly #codec: EntryCodec;
  readonly #clock: TimerClock;
  readonly #tally: EvaluationTally;
  readonly #known = new Map<string, { revision: number; flags: Map<string, Set<string>> }>();
  #prunedAt = 0;

  constructor(deps: {
    store: Store;
    codec: EntryCodec;
    clock: TimerClock;
    flushMs: number;
    onError: (error: unknown) => void;
  }) {
    this.#store = deps.store;
    this.#codec = deps.codec;
    this.#clock = deps.clock;
    this.#tally = new EvaluationTally({
      sink: (rows) => this.#write(rows),
      clock: deps.clock,
      flushMs: deps.flushMs,
      maxRows: 100_000,
      onError: deps.onError,
    });
  }

  /** Counts from a report or a relay: only for namespaces the principal may view. */
  count(principal: Principal, evaluations: readonly ReportedEvaluation[]): void {
    for (const namespace of new Set(evaluations.map((e) => e.namespace)))
      requirePermission(principal, 'view', namespace);
    this.#tally.add(evaluations);
  }

  /** What an OFREP answer served (already authorised). */
  served(namespace: string, served: ReadonlyArray<{ key: string; variant: string }>): void {
    this.#tally.add(served.map((s) => ({ namespace, flag: s.key, variant: s.variant, count: 1 })));
  }

  /** The namespace's counts over the hours that overlap the last 60 minutes and the last 24 hours, and last evaluations. */
  async usage(namespace: string): Promise<FlagUsage> {
    await this.#tally.flush();
    const now = this.#clock.now();
    const hourFrom = Math.floor((now - hourMs) / hourMs) * hourMs;
    const dayFrom = Math.floor((now - 24 * hourMs) / hourMs) * hourMs;
    const read = await this.#store.readFlagEvaluations(namespace, dayFrom);
    const hour = new Map<string, Record<string, number>>();
    const day = new Map<string, Record<string, number>>();
    for (const row of read.counts) {
      const inDay = day.get(row.flag) ?? {};
      inDay[row.variant] = (inDay[row.variant] ?? 0) + row.count;
      day.set(row.flag, inDay);
      if (row.hour >= hourFrom) {
        const inHour = hour.get(row.flag) ?? {};
        inHour[row.variant] = (inHour[row.variant] ?? 0) + row.count;
        hour.set(row.flag, inHour);
      }
    }
    return { hour, day, last: new Map(read.last.map((l) => [l.flag, l.lastAt])) };
  }

  close(): Promise<void> {
    return this.#tally.close();
  }

  async #write(rows: TalliedEvaluation[]): Promise<void> {
    const kept: TalliedEvaluation[] = [];
    const byNamespace = new Map<string, TalliedEvaluation[]>();
    for (const row of rows) {
      const items = byNamespace.get(row.namespace) ?? [];
      items.push(row);
      byNamespace.set(row.namespace, items);
    }
    for (const [namespace, items] of byNamespace) {
      const flags = await this.#flagsOf(namespace);
      for (const row of items) if (flags.get(row.flag)?.has(row.variant) === true) kept.push(row);
    }
    await this.#store.recordFlagEvaluations(kept);
    const now = this.#clock.now();
    if (now - this.#prunedAt >= hourMs) {
      this.#prunedAt = now;
      await this.#store.pruneFlagEvaluations(Math.floor(now / hourMs) * hourMs - retentionHours * hourMs);
    }
  }

  /** The namespace's flags (every label) and their variants, read again when the namespace changed. */
  async #flagsOf(namespace: string): Promise<Map<string, Set<string>>> {
    const record = await this.#store.getNamespace(namespace);
    if (!record) return new Map();
    const known = this.#known.get(namespace);
    if (known?.revision === record.revision) return known.flags;
    const flags = new Map<string, Set<string>>();
    for (const version of await this.#store.readEntries({ namespace })) {
      if (!isFlagContentType(version.contentType)) continue;
      const value = this.#codec.decodedValue(version);
      if (!isFlagDefinition(value)) continue;
      const variants = flags.get(version.key) ?? new Set<string>();
      for (const name of Object.keys(value.variants as object)) variants.add(name);
      flags.set(version.key, variants);
    }
    if (this.#known.size >= maxKnownNamespaces) this.#known.clear();
    this.#known.set(namespace, { revision: record.revision, flags });
    // A flag deleted since: its last evaluation goes too, so the table holds only flags that exist.
    if (known) await this.#store.forgetFlagEvaluations(namespace, [...flags.keys()]);
    return flags;
  }
}
