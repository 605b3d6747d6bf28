import type { TimerClock } from '@herald/core';

/** Evaluations of one flag's variant, as reports and OFREP hand them in. */
export interface ReportedEvaluation {
  namespace: string;
  flag: string;
  variant: string;
  count: number;
}

/** A tallied row: the evaluations of one variant within one hour, and when the latest was counted. */
export interface TalliedEvaluation extends ReportedEvaluation {
  hour: number;
  lastAt: number;
}

export const hourMs = 3_600_000;
/** One row's count is capped here: a client that lies about counts moves nothing past it. */
const maxCount = 1_000_000_000_000;

/**
 * Flag evaluations added up in memory, by namespace, flag, variant and the hour they arrived in,
 * and handed to a sink at each interval: the store on a control plane (through FlagUsageService,
 * which keeps only known flags), the upstream on a relay. Bounded: past `maxRows` pending rows new
 * ones are dropped until the next flush. A failed sink keeps its rows for the next one.
 */
export class EvaluationTally {
  readonly #sink: (rows: TalliedEvaluation[]) => Promise<void>;
  readonly #clock: TimerClock;
  readonly #maxRows: number;
  readonly #onError: (error: unknown) => void;
  #rows = new Map<string, TalliedEvaluation>();
  readonly #timer: unknown;
  #flushing: Promise<void> | undefined;
  /** Rows dropped because the tally was full, for the logs. */
  dropped = 0;

  constructor(deps: {
    sink: (rows: TalliedEvaluation[]) => Promise<void>;
    clock: TimerClock;
    flushMs: number;
    maxRows: number;
    onError: (error: unknown) => void;
  }) {
    this.#sink = deps.sink;
    this.#clock = deps.clock;
    this.#maxRows = deps.maxRows;
    this.#onError = deps.onError;
    this.#timer = deps.clock.setInterval(() => void this.flush(), deps.flushMs);
  }

  add(evaluations: readonly ReportedEvaluation[]): void {
    const now = this.#clock.now();
    const hour = Math.floor(now / hourMs) * hourMs;
    for (const e of evaluations) this.#add({ ...e, hour, lastAt: now });
  }

  #add(row: TalliedEvaluation): void {
    if (!Number.isSafeInteger(row.count) || row.count <= 0) return;
    const key = JSON.stringify([row.namespace, row.flag, row.variant, row.hour]);
    const held = this.#rows.get(key);
    if (held) {
      held.count = Math.min(maxCount, held.count + row.count);
      held.lastAt = Math.max(held.lastAt, row.lastAt);
      return;
    }
    if (this.#rows.size >= this.#maxRows) {
      this.dropped += 1;
      return;
    }
    this.#rows.set(key, { ...row, count: Math.min(maxCount, row.count) });
  }

  /** Hands what is pending to the sink; concurrent calls share one. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#rows.size === 0) return;
    const rows = [...this.#rows.values()];
    this.#rows = new Map();
    try {
      await this.#sink(rows);
    } catch (error) {
      for (const row of rows) this.#add(row);
      this.#onError(error);
    }
  }
}
