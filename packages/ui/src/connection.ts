// Whether the server answers: every request through Api tells this, and a probe of /healthz
// keeps asking while it does not. One banner shows the state, screens hide their own copies of
// the same failure, and every polled view reloads on reconnect.
import { useEffect, useState } from 'react';

export interface Connection {
  online: boolean;
  /** When the first unanswered request of this outage was made (ms since the epoch). */
  since: number | null;
  /** Grows on every reconnect: polled views reload when it changes. */
  reconnects: number;
}

let state: Connection = { online: true, since: null, reconnects: 0 };
const listeners = new Set<() => void>();
let probe: number | undefined;

/** A request that got no answer at all (server down, network gone), as opposed to an HTTP error. */
export class OfflineError extends Error {
  constructor(cause: unknown) {
    super(`the server cannot be reached (${cause instanceof Error ? cause.message : String(cause)})`);
    this.name = 'OfflineError';
  }
}

function publish(next: Connection): void {
  state = next;
  for (const listener of listeners) listener();
}

export function markAnswered(): void {
  if (state.online) return;
  window.clearInterval(probe);
  probe = undefined;
  publish({ online: true, since: null, reconnects: state.reconnects + 1 });
}

export function markUnreachable(at = Date.now()): void {
  if (!state.online) return;
  publish({ online: false, since: at, reconnects: state.reconnects });
  probe = window.setInterval(() => {
    fetch('/healthz', { cache: 'no-store' }).then(
      () => markAnswered(),
      () => undefined,
    );
  }, 2000);
}

export function connection(): Connection {
  return state;
}

export function useConnection(): Connection {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((n) => n + 1);
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return state;
}
