import { useCallback, useEffect, useRef, useState } from 'react';
import { useConnection } from './connection.js';

export interface Polled<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Fetch again now (and restart the interval). */
  refresh: () => void;
}

/**
 * Runs `load` now and again `intervalMs` after each answer (never two at once), until the component
 * goes or `deps` change. `intervalMs` null loads once. The previous data stays while reloading.
 */
export function usePoll<T>(
  load: (signal: AbortSignal) => Promise<T>,
  intervalMs: number | null,
  deps: readonly unknown[],
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const intervalRef = useRef(intervalMs);
  intervalRef.current = intervalMs;
  // On reconnect every polled view loads again at once (not at its next tick).
  const { reconnects } = useConnection();

  useEffect(() => {
    setData(undefined);
    setError(undefined);
    setLoading(true);
  }, deps);

  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    const run = async () => {
      try {
        const value = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
      } catch (caught) {
        if (controller.signal.aborted) return;
        setError(caught);
      }
      setLoading(false);
      if (intervalRef.current !== null && !controller.signal.aborted)
        timer = window.setTimeout(() => void run(), intervalRef.current);
    };
    void run();
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [...deps, generation, intervalMs, reconnects]);

  const refresh = useCallback(() => setGeneration((n) => n + 1), []);
  return { data, error, loading, refresh };
}

/** The current time, re-rendered every `ms` (for countdowns and "ago"). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
