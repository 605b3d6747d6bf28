import { canonicalJson } from './canonical.js';
import type { ViewDelta, ViewValues } from './view.js';
import { sha256 } from './sha256.js';

const leafBytes = 32;

/** The leaf of one entry: SHA-256 of the canonical JSON of `[key, value]`. */
function entryLeaf(key: string, value: unknown): Buffer {
  return sha256(canonicalJson([key, value]), 'buffer');
}

function rootOf(leaves: Buffer): string {
  return sha256(leaves, 'hex');
}

/**
 * A view's digest with what it was computed from, so the next one costs what the delta changes.
 *
 * The digest (docs/protocol.md "Digest") is the SHA-256 of the view's entry leaves, 32 bytes each,
 * concatenated in key order (UTF-16 code units, the order of RFC 8785), where an entry's leaf is
 * the SHA-256 of the canonical JSON of `[key, value]`. Leaves have one length and each names its
 * key, so two views have the same digest exactly when they hold the same keys with the same
 * canonical values; a delta rehashes only the entries it sets and the root over 32 bytes per key.
 *
 * Immutable: `apply` returns a new one and leaves this one as it was, so a delta that fails its
 * check changes nothing held.
 */
export class ViewDigest {
  /** Lowercase hex. */
  readonly digest: string;
  /** Sorted keys; `#leaves` holds their leaves in this order. */
  readonly #keys: readonly string[];
  readonly #index: ReadonlyMap<string, number>;
  readonly #leaves: Buffer;

  private constructor(keys: readonly string[], index: ReadonlyMap<string, number>, leaves: Buffer) {
    this.#keys = keys;
    this.#index = index;
    this.#leaves = leaves;
    this.digest = rootOf(leaves);
  }

  /** From all the values. Throws when a value has no canonical JSON encoding. */
  static of(values: ViewValues): ViewDigest {
    const keys = Object.keys(values).sort();
    const leaves = Buffer.allocUnsafe(keys.length * leafBytes);
    keys.forEach((key, i) => entryLeaf(key, values[key]).copy(leaves, i * leafBytes));
    return new ViewDigest(keys, indexOf(keys), leaves);
  }

  /** The sorted keys. */
  get keys(): readonly string[] {
    return this.#keys;
  }

  has(key: string): boolean {
    return this.#index.has(key);
  }

  /**
   * The digest after `delta` (`remove` first, then `set`, as applyDelta): rehashes the entries set
   * only. Throws when a value set has no canonical JSON encoding.
   */
  apply(delta: ViewDelta): ViewDigest {
    const setKeys = Object.keys(delta.set);
    const fresh = new Map<string, Buffer>();
    for (const key of setKeys) fresh.set(key, entryLeaf(key, delta.set[key]));
    const gone = new Set(delta.remove.filter((key) => this.#index.has(key) && !fresh.has(key)));
    const added = setKeys.filter((key) => !this.#index.has(key));
    if (gone.size === 0 && added.length === 0) {
      // The same keys: copy the leaves, overwrite the ones set.
      const leaves = Buffer.from(this.#leaves);
      for (const [key, leaf] of fresh) leaf.copy(leaves, (this.#index.get(key) as number) * leafBytes);
      return new ViewDigest(this.#keys, this.#index, leaves);
    }
    const keys = mergeKeys(this.#keys, gone, added.sort());
    const leaves = Buffer.allocUnsafe(keys.length * leafBytes);
    // Unchanged leaves move in runs (between two insertions or removals the shift is constant).
    let run = { to: 0, from: 0, length: 0 };
    const flush = (): void => {
      if (run.length > 0)
        this.#leaves.copy(leaves, run.to * leafBytes, run.from * leafBytes, (run.from + run.length) * leafBytes);
      run = { to: 0, from: 0, length: 0 };
    };
    keys.forEach((key, i) => {
      const leaf = fresh.get(key);
      if (leaf) {
        flush();
        leaf.copy(leaves, i * leafBytes);
        return;
      }
      const from = this.#index.get(key) as number;
      if (run.length > 0 && from === run.from + run.length) run.length += 1;
      else {
        flush();
        run = { to: i, from, length: 1 };
      }
    });
    flush();
    return new ViewDigest(keys, indexOf(keys), leaves);
  }

  /**
   * The keys whose entry differs between `this` and `next` (new, gone, or another canonical value),
   * sorted. `among`: only these keys can have a new value in `next` (a delta's `set`; every key
   * when absent), so only they and the keys that came or went are compared.
   */
  changedKeys(next: ViewDigest, among?: readonly string[]): string[] {
    const changed = new Set<string>();
    const candidates = among ?? next.#keys;
    for (const key of candidates) {
      const i = next.#index.get(key);
      const j = this.#index.get(key);
      if (i === undefined) continue;
      if (j === undefined || !sameLeaf(next.#leaves, i, this.#leaves, j)) changed.add(key);
    }
    if (among === undefined || next.#keys !== this.#keys)
      for (const key of this.#keys) if (!next.#index.has(key)) changed.add(key);
    return [...changed].sort();
  }
}

function sameLeaf(a: Buffer, i: number, b: Buffer, j: number): boolean {
  return a.compare(b, j * leafBytes, (j + 1) * leafBytes, i * leafBytes, (i + 1) * leafBytes) === 0;
}

function indexOf(keys: readonly string[]): Map<string, number> {
  return new Map(keys.map((key, i) => [key, i]));
}

/** `keys` without `gone`, with `added` (sorted, none in `keys`) merged in: sorted. */
function mergeKeys(keys: readonly string[], gone: ReadonlySet<string>, added: readonly string[]): string[] {
  const merged: string[] = [];
  let a = 0;
  for (const key of keys) {
    if (gone.has(key)) continue;
    while (a < added.length && (added[a] as string) < key) merged.push(added[a++] as string);
    merged.push(key);
  }
  while (a < added.length) merged.push(added[a++] as string);
  return merged;
}

/** The digest of `values` (docs/protocol.md "Digest"), computed whole. */
export function viewDigest(values: ViewValues): string {
  return ViewDigest.of(values).digest;
}
