import type { AuditVerification, TimerClock } from '@herald/core';
import type { Leadership } from '@herald/store';

/**
 * Verifies the audit hash chain on a schedule, on the leader only (one node's work for the
 * cluster's one chain), so a tampered or truncated log pages someone (herald_audit_chain_verified)
 * rather than waiting for the next `herald audit verify` by hand. The first pass runs at start.
 */
export class AuditChainCheck {
  readonly #verify: () => Promise<AuditVerification>;
  readonly #leadership: Pick<Leadership, 'isLeader'>;
  readonly #clock: TimerClock;
  readonly #onResult: (result: AuditVerification, at: number) => void;
  readonly #onError: (error: unknown) => void;
  #timer: unknown;
  #running: Promise<void> | undefined;

  constructor(deps: {
    verify: () => Promise<AuditVerification>;
    leadership: Pick<Leadership, 'isLeader'>;
    clock: TimerClock;
    onResult: (result: AuditVerification, at: number) => void;
    onError: (error: unknown) => void;
  }) {
    this.#verify = deps.verify;
    this.#leadership = deps.leadership;
    this.#clock = deps.clock;
    this.#onResult = deps.onResult;
    this.#onError = deps.onError;
  }

  start(intervalMs: number): void {
    this.#timer ??= this.#clock.setInterval(() => void this.check(), intervalMs);
    void this.check();
  }

  /** One verification; overlapping calls share the one in progress. */
  check(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #pass(): Promise<void> {
    try {
      if (this.#leadership.isLeader()) this.#onResult(await this.#verify(), this.#clock.now());
    } catch (error) {
      this.#onError(error);
    }
  }
}
