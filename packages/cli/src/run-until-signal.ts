// How every long-lived command (server, relay, agent, watch, simulate) ends: on SIGINT, SIGTERM
// or SIGHUP it closes what it runs, gracefully and within a grace period; a second signal, or the
// grace spent, forces it; a shutdown that fails or is forced exits 1.
import { CliError, warn } from './output.js';

export const stopSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** What a long-lived command runs: the server, a relay, an agent, clients. */
export interface Stoppable {
  /** Stops gracefully (drains); a rejection is a failed shutdown. */
  close(): Promise<unknown>;
  /** Stops at once, dropping what is in flight; without it, forcing just stops waiting. */
  destroy?(): unknown;
}

/** Where signals come from: the process, or a test's emitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface RunUntilSignalOptions {
  /** Settles when the resource stopped by itself (a client closed by a fatal error): no signal needed then. */
  ended?: Promise<unknown> | undefined;
  /** Said once the first signal arrived; default "SIGNAL: shutting down". */
  stopping?: ((signal: NodeJS.Signals) => void) | undefined;
  /** How long a graceful close may take; default 30 s. */
  graceMs?: number | undefined;
  signals?: SignalSource | undefined;
}

/**
 * Runs until a stop signal (or until `ended` settles), then closes `resource`. Resolves with the
 * signal that stopped it (undefined when it ended by itself); rejects with a CliError (exit 1)
 * when the close failed, was forced by a second signal, or outlasted the grace.
 */
export async function runUntilSignal(
  resource: Stoppable,
  options: RunUntilSignalOptions = {},
): Promise<NodeJS.Signals | undefined> {
  const source = options.signals ?? process;
  const graceMs = options.graceMs ?? 30_000;
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const listener = (signal: NodeJS.Signals): void => onSignal(signal);
  for (const signal of stopSignals) source.on(signal, listener);
  try {
    const first = await new Promise<NodeJS.Signals | undefined>((resolve) => {
      onSignal = resolve;
      void options.ended?.then(
        () => resolve(undefined),
        () => resolve(undefined),
      );
    });
    if (first === undefined) return undefined;
    (options.stopping ?? ((signal) => warn(`${signal}: shutting down`)))(first);
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<never>((_, reject) => {
      const force = (why: string): void => {
        void Promise.resolve()
          .then(() => resource.destroy?.())
          .catch(() => undefined);
        reject(new CliError(why));
      };
      onSignal = (signal) => force(`${signal} again: stopped at once`);
      // Not unref'd: a close stuck on nothing but a promise must still end, by force.
      timer = setTimeout(() => force(`did not stop within ${Math.round(graceMs / 1000)} s: stopped at once`), graceMs);
    });
    try {
      await Promise.race([
        resource.close().then(
          () => undefined,
          (error: unknown) => {
            throw new CliError(`shutdown failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
          },
        ),
        forced,
      ]);
    } finally {
      clearTimeout(timer);
    }
    return first;
  } finally {
    for (const signal of stopSignals) source.off(signal, listener);
  }
}
