/**
 * An LRU bounded by count and by total weight, the view cache's (`views.ts`): a count alone let a
 * few large views (a 20,000-key view's values are tens of MiB) hold gigabytes. Weights are the
 * caller's unit (keys, bytes).
 */
export class WeightedLru<V> {
  readonly #maxEntries: number;
  readonly #maxWeight: number;
  readonly #map = new Map<string, { value: V; weight: number }>();
  #weight = 0;
  constructor(maxEntries: number, maxWeight = Number.POSITIVE_INFINITY) {
    this.#maxEntries = maxEntries;
    this.#maxWeight = maxWeight;
  }
  get size(): number {
    return this.#map.size;
  }
  /** The weights of what is held, together. */
  get weight(): number {
    return this.#weight;
  }
  /** The value, now the most recently used. */
  get(key: string): V | undefined {
    const held = this.#map.get(key);
    if (held === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, held);
    return held.value;
  }
  /** Keeps `value` with its `weight`; the least recently used go until both bounds hold (the newest always stays). */
  set(key: string, value: V, weight = 1): void {
    this.delete(key);
    this.#map.set(key, { value, weight });
    this.#weight += weight;
    while (this.#map.size > 1 && (this.#map.size > this.#maxEntries || this.#weight > this.#maxWeight))
      this.delete(this.#map.keys().next().value as string);
  }
  /** Sets the weight of a held value (a view whose snapshot was just encoded), as `set` does. */
  reweigh(key: string, weight: number): void {
    const held = this.#map.get(key);
    if (held !== undefined) this.set(key, held.value, weight);
  }
  delete(key: string): void {
    const held = this.#map.get(key);
    if (held === undefined) return;
    this.#weight -= held.weight;
    this.#map.delete(key);
  }
}
