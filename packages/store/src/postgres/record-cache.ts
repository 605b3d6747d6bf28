import type { NamespaceRecord } from '../types.js';

/** What a commit round changed, for the other nodes' memory of the commit basis (`round-basis.ts`). */
export interface RoundChange {
  /** The revision counter before and after. */
  from: number;
  to: number;
  /** The audit head before and after. */
  headBefore: [seq: number, hash: string];
  head: [seq: number, hash: string];
  /** Per namespace: its revision before, its newest release after, and the addresses written (null: too many to tell). */
  namespaces: Array<[name: string, from: number, releaseSeq: number, addresses: string[] | null]>;
}

/** What a node tells the others (on the change channel) after it changed records they keep in memory. */
export type RecordChange =
  | {
      kind: 'commits';
      namespaces: Array<[name: string, revision: number, entryCount: number]>;
      round?: RoundChange;
    }
  | { kind: 'namespace'; name: string }
  | { kind: 'setting'; name: string };

/**
 * The records every request reads and that rarely change, kept in memory: namespace records and
 * settings (a commit reads its namespace and the change-control settings first). Each node keeps
 * its own copy, kept true by what the nodes announce on the change channel in the transactions that
 * change them (see `change-feed.ts`); a node's own changes are applied before they are acknowledged.
 *
 * The copy is used only while the change feed listens: when the listening connection is lost the
 * cache is emptied and bypassed until it is back (announcements made meanwhile are lost). A record
 * read from the database is kept only if no announcement about it arrived while it was read, so a
 * slow read cannot put back what an announcement removed. What another node changed is seen here
 * once its announcement arrives, which is after its transaction committed (milliseconds on a LAN).
 */
export class PostgresRecordCache {
  readonly #namespaces = new Map<string, NamespaceRecord>();
  /** Newest revision and entry count announced for a namespace, for a record being read meanwhile. */
  readonly #counts = new Map<string, { revision: number; entryCount: number }>();
  readonly #settings = new Map<string, string | undefined>();
  #enabled = false;
  /** Bumped by every announcement that removes records. */
  #generation = 0;
  #startListening: (() => void) | undefined;

  /** `startListening` is called at the first lookup: the cache serves nothing until the feed listens. */
  constructor(startListening: () => void) {
    this.#startListening = startListening;
  }

  #start(): void {
    const start = this.#startListening;
    this.#startListening = undefined;
    start?.();
  }

  /** The change feed's listening connection is up (true) or lost (false); either way, start afresh. */
  setListening(listening: boolean): void {
    this.#enabled = listening;
    this.reset();
  }

  /** Forgets every record (after an announcement too large to carry, or one not understood). */
  reset(): void {
    this.#generation += 1;
    this.#namespaces.clear();
    this.#counts.clear();
    this.#settings.clear();
  }

  async namespace(
    name: string,
    load: () => Promise<NamespaceRecord | undefined>,
  ): Promise<NamespaceRecord | undefined> {
    this.#start();
    const cached = this.#enabled ? this.#namespaces.get(name) : undefined;
    if (cached) return { ...cached };
    const generation = this.#generation;
    const record = await load();
    if (record && this.#enabled && generation === this.#generation) {
      const announced = this.#counts.get(name);
      if (announced && announced.revision > record.revision) Object.assign(record, announced);
      this.#namespaces.set(name, { ...record });
    }
    return record;
  }

  async setting(name: string, load: () => Promise<string | undefined>): Promise<string | undefined> {
    this.#start();
    if (this.#enabled && this.#settings.has(name)) return this.#settings.get(name);
    const generation = this.#generation;
    const value = await load();
    if (this.#enabled && generation === this.#generation) this.#settings.set(name, value);
    return value;
  }

  /** Applies a change, this node's own or another's (each arrives twice: harmless). */
  apply(change: RecordChange): void {
    if (change.kind === 'commits') {
      for (const [name, revision, entryCount] of change.namespaces) {
        const seen = this.#counts.get(name);
        if (seen && seen.revision >= revision) continue;
        this.#counts.set(name, { revision, entryCount });
        const cached = this.#namespaces.get(name);
        if (cached && cached.revision < revision) this.#namespaces.set(name, { ...cached, revision, entryCount });
      }
      return;
    }
    this.#generation += 1;
    if (change.kind === 'namespace') {
      this.#namespaces.delete(change.name);
      this.#counts.delete(change.name);
    } else {
      this.#settings.delete(change.name);
    }
  }
}

/** The payload of a change announcement (NOTIFY payloads are at most 8000 bytes: callers keep them short). */
export function encodeChange(change: RecordChange): string {
  return JSON.stringify(change);
}

/** A change announcement, or undefined if it is not one (then the whole cache is forgotten). */
export function decodeChange(payload: string): RecordChange | undefined {
  try {
    const change = JSON.parse(payload) as RecordChange;
    if (
      change.kind === 'commits' &&
      Array.isArray(change.namespaces) &&
      (change.round === undefined || (Number.isInteger(change.round.to) && Array.isArray(change.round.namespaces)))
    )
      return change;
    if ((change.kind === 'namespace' || change.kind === 'setting') && typeof change.name === 'string') return change;
  } catch {
    // fall through
  }
  return undefined;
}
