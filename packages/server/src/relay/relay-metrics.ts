import { Counter, Gauge } from 'prom-client';
import type { Clock } from '@herald/core';
import { DeliveryMetrics } from '../metrics.js';

/** Every metric a relay exports: those of any node serving the watch API, and how it stands with its upstream. */
export class RelayMetrics extends DeliveryMetrics {
  readonly reportsForwarded = new Counter({
    name: 'herald_relay_reports_forwarded_total',
    help: 'Instance reports forwarded upstream',
    registers: [this.registry],
  });

  /** `lastContact` is when the upstream last answered (the clock's time, 0 never); both gauges are measured when scraped. */
  constructor(deps: { clock: Clock; lastContact: () => number; countViews: () => Promise<number> }) {
    super();
    const { clock, lastContact, countViews } = deps;
    new Gauge({
      name: 'herald_relay_upstream_last_contact_seconds',
      help: 'Seconds since the upstream last answered (lag)',
      registers: [this.registry],
      collect() {
        const at = lastContact();
        this.set(at === 0 ? -1 : (clock.now() - at) / 1000);
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
