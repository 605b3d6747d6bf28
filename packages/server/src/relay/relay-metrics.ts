import { Counter, Gauge } from 'prom-client';
import { DeliveryMetrics } from '../metrics.js';
import type { RelayLag } from './relay-lag.js';

/** Every metric a relay exports: those of any node serving the watch API, and how it stands with its upstream. */
export class RelayMetrics extends DeliveryMetrics {
  readonly reportsForwarded = new Counter({
    name: 'herald_relay_reports_forwarded_total',
    help: 'Instance reports forwarded upstream',
    registers: [this.registry],
  });

  /** Every gauge here is measured when scraped. */
  constructor(deps: {
    lag: RelayLag;
    servingFromCache: () => boolean;
    countViews: () => Promise<number>;
    /** The upstream endpoint in use and since when (epoch ms), for the failover gauges. */
    upstream: () => { url: string; since: number };
  }) {
    super();
    const { lag, servingFromCache, countViews, upstream } = deps;
    // Both lag gauges from one measurement per scrape, so they agree with each other.
    let measured: ReturnType<RelayLag['measure']> = [];
    new Gauge({
      name: 'herald_relay_upstream_releases_behind',
      help: "Releases the upstream's newest of a namespace is ahead of what this relay holds verified for every view it serves",
      labelNames: ['namespace'] as const,
      registers: [this.registry],
      collect() {
        measured = lag.measure();
        this.reset();
        for (const m of measured) this.set({ namespace: m.namespace }, m.releasesBehind);
      },
    });
    new Gauge({
      name: 'herald_relay_upstream_seconds_behind',
      help: "Seconds this relay has lacked the upstream's newest release of a namespace (or, with the upstream unreachable, could have missed one); 0 when current",
      labelNames: ['namespace'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const m of measured) this.set({ namespace: m.namespace }, m.secondsBehind);
      },
    });
    new Gauge({
      name: 'herald_relay_serving_from_cache',
      help: 'Whether the upstream is unreachable and this relay serves from its verified disk cache (1) or not (0)',
      registers: [this.registry],
      collect() {
        this.set(servingFromCache() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'herald_relay_upstream_endpoint',
      help: 'The upstream endpoint this relay follows now (1; one series, the endpoint in use): which of its --upstream list after a failover',
      labelNames: ['endpoint'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        this.set({ endpoint: upstream().url }, 1);
      },
    });
    new Gauge({
      name: 'herald_relay_upstream_endpoint_since_seconds',
      help: 'When (Unix time) this relay began following the upstream endpoint it follows now',
      registers: [this.registry],
      collect() {
        this.set(upstream().since / 1000);
      },
    });
    new Gauge({
      name: 'herald_relay_cached_views',
      help: 'Verified view releases kept on disk',
      registers: [this.registry],
      async collect() {
        this.set(await countViews());
      },
    });
  }
}
