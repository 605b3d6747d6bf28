import { observeAgain, type ObservationWindow } from '@herald/core';

/**
 * The rollout controller's unbroken observation of each active rollout (observeAgain in the
 * core), kept in memory on purpose: a restart or a new leader starts afresh, so time nobody
 * watched is never bake. Shared by the controller, which records, and the rollout service, whose
 * status shows the bake and counts the controller goes by.
 */
export class ObservationWindows {
  readonly #windows = new Map<string, ObservationWindow>();

  /** Records an observation of rollout `id` at `now` and returns its window. */
  observe(id: string, now: number, maxGapMs: number): ObservationWindow {
    const window = observeAgain(this.#windows.get(id), now, maxGapMs);
    this.#windows.set(id, window);
    return window;
  }

  get(id: string): ObservationWindow | undefined {
    return this.#windows.get(id);
  }

  /** Forgets every rollout not in `active` (they ended). */
  keepOnly(active: ReadonlySet<string>): void {
    for (const id of this.#windows.keys()) if (!active.has(id)) this.#windows.delete(id);
  }

  /** Forgets everything: this node stopped observing (it is not the leader). */
  clear(): void {
    this.#windows.clear();
  }
}
