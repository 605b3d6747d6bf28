import type pg from 'pg';
import { addressId, type EntryVersion } from '@herald/core';
import { toVersion, type EntryRow } from '../rows.js';
import { entryColumns } from './entry-reads.js';
import type { RecordChange } from './record-cache.js';

/** What a namespace's commits are decided on: its row and its newest release. */
export interface NamespaceBasis {
  revision: number;
  entryCount: number;
  releaseSeq: number;
}

/**
 * Everything a group-commit round is decided on. `herald_commit_round` writes the round only if
 * all of it is still current (the namespaces' rows and newest releases under their locks, the
 * revision counter and the audit head), so a basis may come from memory or from reads without locks.
 */
export interface RoundBasis {
  revision: number;
  auditHead: { seq: number; hash: string };
  /** The round's namespaces that exist. */
  namespaces: Map<string, NamespaceBasis>;
  /** The latest version (tombstones included) of each address the round writes that has one. */
  latest: Map<string, EntryVersion>;
}

/** Addresses remembered per namespace, at most: beyond, the namespace's memory starts afresh. */
const maxRememberedAddresses = 10_000;

/**
 * This node's memory of the basis of its last round: while no other writer intervenes (one node,
 * or a quiet one), the next round is decided on it without reading anything. The latest versions
 * remembered for a namespace are valid exactly while its revision is the one they were read or
 * written at: every commit to a namespace gives it a new, higher revision, and nothing else changes
 * its entries, so a check of the revision (in `herald_commit_round`) checks them all.
 */
export class RoundBasisMemory {
  #revision: number | undefined;
  #auditHead: { seq: number; hash: string } | undefined;
  readonly #namespaces = new Map<string, { basis: NamespaceBasis; latest: Map<string, EntryVersion | null> }>();
  /** Until then (clock time), rounds take their namespaces' locks before deciding (see commit-round.ts). */
  contendedUntil = 0;

  /**
   * The basis for a round that writes `addresses` (namespace, key, label) of `names`: from memory
   * when all of it is there and `fresh` is false, otherwise read on `client` (under the caller's
   * locks, or none). The namespaces' rows are read before their entries, so that entries newer than
   * the revision they are remembered at are caught by the check of that revision.
   */
  async basis(
    client: pg.ClientBase,
    names: readonly string[],
    addresses: ReadonlyArray<readonly [string, string, string]>,
    fresh: boolean,
  ): Promise<RoundBasis> {
    if (fresh || this.#revision === undefined || names.some((name) => !this.#namespaces.has(name)))
      await this.#readState(client, names);
    const missing = addresses.filter(([ns, key, label]) => {
      const memory = this.#namespaces.get(ns);
      return memory !== undefined && !memory.latest.has(slot(ns, { key, label }));
    });
    if (missing.length > 0) await this.#readEntries(client, missing);
    const namespaces = new Map<string, NamespaceBasis>();
    const latest = new Map<string, EntryVersion>();
    for (const name of names) {
      const memory = this.#namespaces.get(name);
      if (memory && memory.basis.revision >= 0) namespaces.set(name, { ...memory.basis });
    }
    for (const [ns, key, label] of addresses) {
      const id = slot(ns, { key, label });
      const version = this.#namespaces.get(ns)?.latest.get(id);
      if (version) latest.set(id, version);
    }
    return {
      revision: this.#revision as number,
      auditHead: { ...(this.#auditHead as { seq: number; hash: string }) },
      namespaces,
      latest,
    };
  }

  /** After a round committed: what it wrote is the new basis. */
  committed(
    revision: number,
    auditHead: { seq: number; hash: string },
    namespaces: ReadonlyMap<string, NamespaceBasis>,
    versions: readonly EntryVersion[],
  ): void {
    this.#revision = revision;
    this.#auditHead = auditHead;
    for (const [name, basis] of namespaces) {
      const memory = this.#namespaces.get(name);
      if (memory) memory.basis = { ...basis };
      else this.#namespaces.set(name, { basis: { ...basis }, latest: new Map() });
    }
    for (const v of versions) this.#remember(v.namespace, slot(v.namespace, v), v);
  }

  /**
   * The basis proved stale: read it afresh next time (remembered entries are kept while their
   * namespace's revision holds), unless an announcement moved it along meanwhile.
   */
  stale(basis: RoundBasis): void {
    if (this.#revision !== basis.revision) return;
    this.#revision = undefined;
    this.#auditHead = undefined;
  }

  /**
   * Another node's round (or this node's own, announced back): applied only where it continues
   * exactly what is remembered, so nothing it did not announce can be missed; elsewhere what is
   * remembered is dropped, to be read again.
   */
  observe(change: Extract<RecordChange, { kind: 'commits' }>): void {
    const round = change.round;
    if (!round) return;
    if (this.#revision !== undefined && round.to > this.#revision) {
      const head = this.#auditHead;
      const continues =
        round.from === this.#revision && head?.seq === round.headBefore[0] && head.hash === round.headBefore[1];
      this.#revision = continues ? round.to : undefined;
      this.#auditHead = continues ? { seq: round.head[0], hash: round.head[1] } : undefined;
    }
    const after = new Map(change.namespaces.map(([name, revision, entryCount]) => [name, { revision, entryCount }]));
    for (const [name, from, releaseSeq, addresses] of round.namespaces) {
      const memory = this.#namespaces.get(name);
      const now = after.get(name);
      if (!memory || !now || memory.basis.revision >= now.revision) continue;
      if (memory.basis.revision !== from || addresses === null) {
        this.#namespaces.delete(name);
        continue;
      }
      memory.basis = { revision: now.revision, entryCount: now.entryCount, releaseSeq };
      for (const id of addresses) memory.latest.delete(`${name}\u0000${id}`);
    }
  }

  async #readState(client: pg.ClientBase, names: readonly string[]): Promise<void> {
    const { rows } = await client.query<{
      revision: number;
      seq: number;
      hash: string;
      namespaces: Array<[string, number, number, number]> | null;
    }>(
      `SELECT (SELECT value FROM meta WHERE name = 'revision') AS revision, h.seq, h.hash,
              (SELECT json_agg(json_build_array(n.name, n.revision, n.entry_count,
                        coalesce((SELECT max(r.seq) FROM releases r WHERE r.namespace = n.name), 0)))
                 FROM namespaces n WHERE n.name = ANY($1::text[])) AS namespaces
         FROM audit_head h WHERE h.id = 1`,
      [names],
    );
    const row = rows[0] as (typeof rows)[number];
    this.#revision = Number(row.revision);
    this.#auditHead = { seq: Number(row.seq), hash: row.hash };
    const found = new Map(
      (row.namespaces ?? []).map(([name, revision, entryCount, releaseSeq]) => [
        name,
        { revision, entryCount, releaseSeq },
      ]),
    );
    for (const name of names) {
      const basis = found.get(name);
      const memory = this.#namespaces.get(name);
      if (!basis) {
        // A namespace that does not exist (now): remembered as such until read again.
        this.#namespaces.set(name, { basis: { revision: -1, entryCount: 0, releaseSeq: 0 }, latest: new Map() });
      } else if (!memory || memory.basis.revision !== basis.revision || memory.basis.entryCount !== basis.entryCount) {
        this.#namespaces.set(name, { basis, latest: new Map() });
      } else {
        memory.basis = basis;
      }
    }
  }

  async #readEntries(
    client: pg.ClientBase,
    addresses: ReadonlyArray<readonly [string, string, string]>,
  ): Promise<void> {
    const { rows } = await client.query<EntryRow>(
      `SELECT ${entryColumns} FROM entry_versions
       WHERE superseded_at IS NULL AND (namespace, key, label) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`,
      [addresses.map((a) => a[0]), addresses.map((a) => a[1]), addresses.map((a) => a[2])],
    );
    const read = new Map(rows.map((row) => [slot(row.namespace, row), toVersion(row)]));
    for (const [ns, key, label] of addresses) {
      const id = slot(ns, { key, label });
      this.#remember(ns, id, read.get(id) ?? null);
    }
  }

  #remember(namespace: string, id: string, version: EntryVersion | null): void {
    const memory = this.#namespaces.get(namespace);
    if (!memory) return;
    if (memory.latest.size >= maxRememberedAddresses && !memory.latest.has(id)) memory.latest.clear();
    memory.latest.set(id, version);
  }
}

/** Identity of an entry across namespaces, for the maps of a group-commit round. */
export function slot(namespace: string, address: { key: string; label: string }): string {
  return `${namespace}\u0000${addressId(address)}`;
}
