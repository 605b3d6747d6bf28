import { systemClock, type Clock } from '@herald/core';

/**
 * Which node runs the singleton jobs (the rollout controller). Exactly one node of a cluster is
 * leader at a time, as far as the coordination backend can tell; because a node can only learn that
 * it lost leadership after the fact, every term carries a `fence` that grows with each new term, and
 * work done as leader should check it (`confirm()`) before doing something that must not happen twice.
 */
export interface LeadershipState {
  leader: boolean;
  /** The fence of the term this node holds; 0 when it is not leader. */
  fence: number;
  /** When this state began, by the leadership's clock. */
  since: number;
}

export interface Leadership {
  /** Starts competing for leadership; resolves after the first attempt, won or not. Idempotent. */
  start(): Promise<void>;
  /** Whether this node holds leadership now (as of the last thing it learned). */
  isLeader(): boolean;
  /** The fence of the term this node holds, 0 when it is not leader; it only grows across terms. */
  readonly fence: number;
  /** Calls `listener` on every change of leadership; returns the unsubscribe function. */
  onChange(listener: (state: LeadershipState) => void): () => void;
  /** Asks the backend whether this node's term is still the current one. */
  confirm(): Promise<boolean>;
  /** Gives leadership up (if held) and stops competing. Idempotent. */
  close(): Promise<void>;
}

/** The single-node case (SQLite): this process is always the leader, from start() to close(). */
export class LocalLeadership implements Leadership {
  #leader = false;
  #closed = false;
  readonly #listeners = new Set<(state: LeadershipState) => void>();
  readonly #now: () => number;

  constructor(options: { clock?: Clock } = {}) {
    const clock = options.clock ?? systemClock;
    this.#now = () => clock.now();
  }

  get fence(): number {
    return this.#leader ? 1 : 0;
  }

  async start(): Promise<void> {
    if (this.#leader || this.#closed) return;
    this.#leader = true;
    this.#emit();
  }

  isLeader(): boolean {
    return this.#leader;
  }

  onChange(listener: (state: LeadershipState) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async confirm(): Promise<boolean> {
    return this.#leader;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#leader) {
      this.#leader = false;
      this.#emit();
    }
  }

  #emit(): void {
    const state = { leader: this.#leader, fence: this.fence, since: this.#now() };
    for (const listener of [...this.#listeners]) listener(state);
  }
}
