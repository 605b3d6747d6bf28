import { X509Certificate } from 'node:crypto';
import { open, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '@herald/core';
import { Gauge, type Histogram, type Registry } from 'prom-client';

/**
 * A node's own health, measured when scraped, for the alerts that must page before it breaks:
 * the store answering, the data folder's free space and fsync time, the signing key's age, and
 * when the TLS certificate expires.
 */
export function registerNodeGauges(
  registry: Registry,
  deps: {
    clock: Clock;
    storeKind: string;
    /** A round trip to the store within the readiness timeout. */
    ready: () => Promise<boolean>;
    /** The SQLite data folder; absent on PostgreSQL (the database's disk is the database's to watch). */
    dataDir?: string | undefined;
    fsyncDuration: Histogram;
    /** When the key that signs now was made (ms since the epoch); undefined before the keys are loaded. */
    signingKeyCreatedAt: () => number | undefined;
    /** The listener's certificate (PEM), when it serves TLS. */
    tlsCert?: string | Buffer | undefined;
  },
): void {
  const { clock } = deps;
  new Gauge({
    name: 'herald_store_up',
    help: 'Whether the store (SQLite or PostgreSQL) answered a round trip within the readiness timeout, at this scrape',
    labelNames: ['store'] as const,
    registers: [registry],
    async collect() {
      const up = await deps.ready().catch(() => false);
      this.set({ store: deps.storeKind }, up ? 1 : 0);
    },
  });
  const { dataDir } = deps;
  if (dataDir !== undefined) {
    new Gauge({
      name: 'herald_data_disk_free_bytes',
      help: "Bytes free (for unprivileged users) on the data folder's file system",
      registers: [registry],
      async collect() {
        const fs = await statfs(dataDir);
        this.set(fs.bavail * fs.bsize);
        // The same scrape probes the disk's write latency: what a commit waits for.
        deps.fsyncDuration.observe(await fsyncProbe(dataDir));
      },
    });
    new Gauge({
      name: 'herald_data_disk_size_bytes',
      help: "Size of the data folder's file system in bytes",
      registers: [registry],
      async collect() {
        const fs = await statfs(dataDir);
        this.set(fs.blocks * fs.bsize);
      },
    });
  }
  new Gauge({
    name: 'herald_signing_key_age_seconds',
    help: 'Age of the key that signs releases now (rotate with `herald keys rotate` before its planned rotation)',
    registers: [registry],
    collect() {
      const createdAt = deps.signingKeyCreatedAt();
      if (createdAt !== undefined) this.set(Math.max(0, clock.now() - createdAt) / 1000);
    },
  });
  if (deps.tlsCert !== undefined) {
    const expiry = certificateExpiry(deps.tlsCert);
    new Gauge({
      name: 'herald_tls_certificate_expiry_timestamp_seconds',
      help: "When the listener's TLS certificate expires (seconds since the epoch)",
      registers: [registry],
      collect() {
        if (expiry !== undefined) this.set(expiry / 1000);
      },
    });
  }
}

/** The first certificate's notAfter (ms since the epoch), or undefined when it cannot be read. */
export function certificateExpiry(pem: string | Buffer): number | undefined {
  try {
    return Date.parse(new X509Certificate(pem).validTo);
  } catch {
    return undefined;
  }
}

/** Seconds to write and fsync a small file in the folder (then removed). */
async function fsyncProbe(dir: string): Promise<number> {
  const path = join(dir, '.herald-fsync-probe');
  const started = performance.now();
  const file = await open(path, 'w');
  try {
    await file.write('herald fsync probe\n');
    await file.sync();
  } finally {
    await file.close();
  }
  const seconds = (performance.now() - started) / 1000;
  await rm(path, { force: true });
  return seconds;
}
