import type { AgentEvent } from './agent.js';

/** Buckets of herald_propagation_seconds, the same as the control plane's and relays'. */
const buckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * The agent's metrics in the Prometheus text format, served by its local HTTP endpoint
 * (`GET /metrics`). Written by hand rather than with a metrics library: the agent runs on every
 * host, and a handful of series do not justify another dependency in it. What it measures:
 * propagation to this host (release made → its file written, `tier="agent"`), writes, failed
 * writes and reloads, and whether each view is served from the cache.
 */
export class AgentMetrics {
  readonly #propagation = new Map<string, Histogram>();
  readonly #writes = new Map<string, number>();
  readonly #writeFailures = new Map<string, number>();
  readonly #reloadFailures = new Map<string, number>();

  /** Takes the agent's events; `issuedAt` is the manifest's (when the release was signed). */
  observe(event: AgentEvent, issuedAt: number | undefined, now: number): void {
    if (event.type === 'file' && event.outcome === 'written') {
      bump(this.#writes, event.namespace);
      if (event.via === 'server' && issuedAt !== undefined) {
        const h = this.#propagation.get(event.namespace) ?? { counts: buckets.map(() => 0), sum: 0, count: 0 };
        const seconds = Math.max(0, now - issuedAt) / 1000;
        buckets.forEach((le, i) => {
          if (seconds <= le) h.counts[i] = (h.counts[i] ?? 0) + 1;
        });
        h.sum += seconds;
        h.count += 1;
        this.#propagation.set(event.namespace, h);
      }
    } else if (event.type === 'write-failed') bump(this.#writeFailures, event.namespace);
    else if (event.type === 'exec' && !event.ok) bump(this.#reloadFailures, event.namespace);
  }

  render(
    views: ReadonlyArray<{ namespace: string; labels: readonly string[]; seq: number | undefined; fromCache: boolean }>,
    healthy: boolean,
  ): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family(
      'herald_propagation_seconds',
      'histogram',
      'Time from release (from="release") to applied, here: the release made to its files written by this agent',
    );
    for (const [namespace, h] of this.#propagation) {
      const base = `namespace="${escape(namespace)}",tier="agent",from="release"`;
      buckets.forEach((le, i) => lines.push(`herald_propagation_seconds_bucket{${base},le="${le}"} ${h.counts[i]}`));
      lines.push(`herald_propagation_seconds_bucket{${base},le="+Inf"} ${h.count}`);
      lines.push(
        `herald_propagation_seconds_sum{${base}} ${h.sum}`,
        `herald_propagation_seconds_count{${base}} ${h.count}`,
      );
    }
    const counter = (name: string, help: string, values: Map<string, number>) => {
      family(name, 'counter', help);
      for (const [namespace, n] of values) lines.push(`${name}{namespace="${escape(namespace)}"} ${n}`);
    };
    counter('herald_agent_writes_total', 'Files written with a new release', this.#writes);
    counter('herald_agent_write_failures_total', 'Writes that failed (retried with backoff)', this.#writeFailures);
    counter('herald_agent_reload_failures_total', 'Reload commands that failed after a change', this.#reloadFailures);
    family('herald_agent_view_seq', 'gauge', 'Seq of the release each followed view holds (0: none yet)');
    for (const v of views)
      lines.push(
        `herald_agent_view_seq{namespace="${escape(v.namespace)}",labels="${escape(v.labels.join(','))}"} ${v.seq ?? 0}`,
      );
    family(
      'herald_agent_view_from_cache',
      'gauge',
      'Whether a view holds values read from the disk cache (1), not yet from the server',
    );
    for (const v of views)
      lines.push(
        `herald_agent_view_from_cache{namespace="${escape(v.namespace)}",labels="${escape(v.labels.join(','))}"} ${v.fromCache ? 1 : 0}`,
      );
    family(
      'herald_agent_healthy',
      'gauge',
      "Whether the agent's health is ok (1): its last writes and reloads succeeded",
    );
    lines.push(`herald_agent_healthy ${healthy ? 1 : 0}`);
    return `${lines.join('\n')}\n`;
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A label value as the text format wants it. */
function escape(value: string): string {
  return value.replace(/\\/gu, '\\\\').replace(/"/gu, '\\"').replace(/\n/gu, '\\n');
}
