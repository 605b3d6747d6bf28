// The one way Herald's tests wait for something to become true: a bounded retry loop. The bound
// is a liveness guard (a test that would hang fails instead), never a timing assertion, so it is
// generous; tests assert what happened, not how fast.

/** What a probe answers while the awaited thing has not happened yet. */
export type NotYet = undefined | false;

export interface EventuallyOptions {
  /** What is awaited, named in the failure ("timed out after … waiting for MESSAGE"). */
  message?: string | undefined;
  /** The bound on the whole wait; default 30 s. */
  timeoutMs?: number | undefined;
  /** The pause between two tries; default 50 ms. */
  intervalMs?: number | undefined;
  /**
   * Errors that end the wait at once instead of counting as "not yet": a safety assertion that
   * must hold on every try, a child process that died, or `() => true` when the probe's errors
   * are never transient. By default every error is retried and the last one is reported.
   */
  fatal?: ((error: unknown) => boolean) | undefined;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until it answers something other than `undefined` or `false` and resolves with
 * that answer; an assertion probe returns `true` once its assertions passed. A thrown error counts
 * as "not yet" (unless `fatal` says otherwise); past `timeoutMs` the wait fails with the message
 * and the last error (also as `cause`).
 */
export async function eventually<T>(
  probe: () => T | NotYet | Promise<T | NotYet>,
  options: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (options.fatal?.(error) === true) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const what = options.message === undefined ? '' : ` waiting for ${options.message}`;
      const why = last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms${what}${why}`, last === undefined ? {} : { cause: last });
    }
    await pause(intervalMs);
  }
}
