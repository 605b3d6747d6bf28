import type { TimerClock } from '@herald/core';
import type { RelayReceiptInput } from '../delivery/backend.js';

/** Releases remembered at most as already received; past it the memory starts afresh (a receipt is sent again, harmlessly). */
const maxRemembered = 10_000;
/** Receipts waiting to go upstream at most; past it new ones are dropped (a trace then lacks them, nothing else). */
const maxPending = 10_000;

/**
 * A relay's receipts of releases, sent upstream in batches for release traces (`herald trace`):
 * its own (when its route announced a release, when it first held it verified and could serve
 * it) and those of the relays behind it, which it passes on with its name added to their path,
 * so the control plane learns the whole chain. Sending is best effort: a failed batch is kept
 * for the next, up to a bound.
 */
export class RelayReceipts {
  readonly #name: string;
  readonly #clock: TimerClock;
  readonly #send: (receipts: RelayReceiptInput[]) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #own = new Map<string, RelayReceiptInput>();
  #pending = new Map<string, RelayReceiptInput>();
  readonly #timer: unknown;
  #flushing: Promise<void> | undefined;

  constructor(deps: {
    name: string;
    clock: TimerClock;
    flushMs: number;
    send: (receipts: RelayReceiptInput[]) => Promise<void>;
    onError: (error: unknown) => void;
  }) {
    this.#name = deps.name;
    this.#clock = deps.clock;
    this.#send = deps.send;
    this.#onError = deps.onError;
    this.#timer = deps.clock.setInterval(() => void this.flush(), deps.flushMs);
  }

  /** The upstream's route announced this release. */
  routed(namespace: string, seq: number): void {
    const key = JSON.stringify([namespace, seq, this.#name]);
    if (this.#own.has(key)) return;
    this.#remember(key, { namespace, seq, relay: this.#name, receivedAt: this.#clock.now() });
  }

  /** A view of this release is verified and ready to serve. */
  held(namespace: string, seq: number): void {
    const key = JSON.stringify([namespace, seq, this.#name]);
    const known = this.#own.get(key);
    if (known?.servedAt !== undefined) return;
    const now = this.#clock.now();
    this.#remember(key, { namespace, seq, relay: this.#name, receivedAt: known?.receivedAt ?? now, servedAt: now });
  }

  /** Receipts of the relays behind this one: passed on with this relay on their path. */
  forward(receipts: readonly RelayReceiptInput[]): void {
    for (const r of receipts) {
      this.#queue(JSON.stringify([r.namespace, r.seq, r.relay]), {
        ...r,
        path: [...(r.path ?? []), this.#name].slice(-16),
      });
    }
  }

  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    await this.flush();
  }

  #remember(key: string, receipt: RelayReceiptInput): void {
    if (this.#own.size >= maxRemembered) this.#own = new Map();
    this.#own.set(key, receipt);
    this.#queue(key, receipt);
  }

  #queue(key: string, receipt: RelayReceiptInput): void {
    if (!this.#pending.has(key) && this.#pending.size >= maxPending) return;
    this.#pending.set(key, receipt);
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      await this.#send([...batch.values()]);
    } catch (error) {
      for (const [key, receipt] of batch) if (!this.#pending.has(key)) this.#queue(key, receipt);
      this.#onError(error);
    }
  }
}
