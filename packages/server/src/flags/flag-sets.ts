import type { ViewValues } from '@herald/core';
import { FlagSet } from '@herald/flags';

/**
 * FlagSets by view digest: a view's flags are parsed and compiled once, however many evaluations
 * ask for them. It takes views, not the store, so a relay can serve OFREP from its verified cache
 * with the same code.
 */
export class FlagSets {
  readonly #max: number;
  readonly #sets = new Map<string, FlagSet>();

  constructor(max = 64) {
    this.#max = max;
  }

  of(view: { digest: string; values: Readonly<ViewValues> }): FlagSet {
    const cached = this.#sets.get(view.digest);
    if (cached) {
      this.#sets.delete(view.digest);
      this.#sets.set(view.digest, cached);
      return cached;
    }
    const set = FlagSet.fromView(view.values);
    this.#sets.set(view.digest, set);
    if (this.#sets.size > this.#max) this.#sets.delete(this.#sets.keys().next().value as string);
    return set;
  }
}

let empty: FlagSet | undefined;

/**
 * The empty view's flags: a namespace with no release yet has no flags to evaluate. Made on first
 * use, not when the module loads: a FlagSet loads flagd's evaluator, which the start path spares.
 */
export function noFlags(): FlagSet {
  empty ??= FlagSet.fromView({});
  return empty;
}
