import type { InstanceRecord, InstanceSummary, InstanceViewReport, RelayReceipt } from './types.js';

/** One row of instances joined with their views, as both adapters select it. */
export interface InstanceJoinRow {
  instance_id: string;
  attributes: string;
  health: string;
  health_detail: string;
  last_seen: number | string;
  hops: string;
  labels: string;
  seq: number | string;
  digest: string;
  status: string;
  reason: string;
  updated_at: number | string;
  applied_at: number | string | null;
}

/** A receipt row, as both adapters select it. */
export interface RelayReceiptRow {
  namespace: string;
  seq: number | string;
  relay: string;
  path: string;
  received_at: number | string;
  served_at: number | string | null;
}

export function relayReceiptOf(row: RelayReceiptRow): RelayReceipt {
  return {
    namespace: row.namespace,
    seq: Number(row.seq),
    relay: row.relay,
    path: JSON.parse(row.path) as string[],
    receivedAt: Number(row.received_at),
    servedAt: row.served_at === null ? null : Number(row.served_at),
  };
}

/** Rows of instances joined with their views, ordered by instance, into one record per instance. */
export function groupInstances(namespace: string, rows: readonly InstanceJoinRow[]): InstanceRecord[] {
  const byId = new Map<string, InstanceRecord>();
  for (const row of rows) {
    let record = byId.get(row.instance_id);
    if (!record) {
      record = {
        instanceId: row.instance_id,
        attributes: JSON.parse(row.attributes) as Record<string, string>,
        health: row.health as InstanceRecord['health'],
        healthDetail: row.health_detail,
        lastSeen: Number(row.last_seen),
        hops: JSON.parse(row.hops) as string[],
        views: [],
      };
      byId.set(row.instance_id, record);
    }
    record.views.push({
      namespace,
      labels: JSON.parse(row.labels) as string[],
      seq: Number(row.seq),
      digest: row.digest,
      status: row.status as InstanceViewReport['status'],
      reason: row.reason,
      updatedAt: Number(row.updated_at),
      ...(row.applied_at === null ? {} : { appliedAt: Number(row.applied_at) }),
    });
  }
  return [...byId.values()];
}

/** The grouped counts both adapters select, into the summary's shape. */
export function instanceSummary(
  health: ReadonlyArray<{ health: string; n: number | string }>,
  views: ReadonlyArray<{ seq: number | string; status: string; n: number | string }>,
): InstanceSummary {
  const summary: InstanceSummary = { instances: 0, health: { ok: 0, degraded: 0, failing: 0 }, releases: [] };
  for (const row of health) {
    const n = Number(row.n);
    summary.instances += n;
    if (row.health === 'ok' || row.health === 'degraded' || row.health === 'failing') summary.health[row.health] += n;
  }
  const bySeq = new Map<number, { seq: number; applied: number; rejected: number }>();
  for (const row of views) {
    const seq = Number(row.seq);
    const release = bySeq.get(seq) ?? { seq, applied: 0, rejected: 0 };
    if (row.status === 'applied' || row.status === 'rejected') release[row.status] += Number(row.n);
    bySeq.set(seq, release);
  }
  summary.releases = [...bySeq.values()].sort((a, b) => b.seq - a.seq);
  return summary;
}
