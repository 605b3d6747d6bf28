/**
 * The listeners of a store's change feed. Each revision higher than any told before is told to
 * every listener once; lower or repeated ones (a notification after the poll that already saw
 * it) are dropped, so a listener sees the revisions it is told grow.
 */
export class RevisionListeners {
  readonly #listeners = new Set<(revision: number) => void>();
  #last = 0;

  /** Adds a listener; returns the function that removes it. */
  add(listener: (revision: number) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  deliver(revision: number): void {
    if (!Number.isInteger(revision) || revision <= this.#last) return;
    this.#last = revision;
    for (const listener of [...this.#listeners]) {
      try {
        listener(revision);
      } catch (error) {
        // A listener's bug must not stop the others, nor the store; surface it as uncaught.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
