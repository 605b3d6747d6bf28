import type { InstanceReport, InstanceViewReport } from './types.js';

/** One instance's record in one namespace, as a batch of reports writes it. */
export interface InstanceRecordRow {
  namespace: string;
  instanceId: string;
  reporter: string;
  attributes: Record<string, string>;
  health: InstanceReport['health'];
  healthDetail: string;
  at: number;
  hops: readonly string[];
}

/**
 * A batch of reports as rows of both tables, in the order the reports came: a report writes the
 * record of its instance in each namespace it has views of, and those views. Within a batch the
 * first reporter of an instance in a namespace is the one written (as if the reports were applied
 * one after another: a later reporter would find the record owned), and its newest report wins.
 */
export function instanceBatch(reports: readonly InstanceReport[]): {
  records: InstanceRecordRow[];
  views: Array<{ record: InstanceRecordRow; view: InstanceViewReport }>;
} {
  const records = new Map<string, InstanceRecordRow>();
  const views = new Map<string, { record: InstanceRecordRow; view: InstanceViewReport }>();
  for (const report of reports) {
    for (const namespace of new Set(report.views.map((v) => v.namespace))) {
      const key = JSON.stringify([namespace, report.instanceId]);
      const previous = records.get(key);
      if (previous && previous.reporter !== report.reporter) continue;
      if (previous && previous.at > report.at) continue;
      records.set(key, {
        namespace,
        instanceId: report.instanceId,
        reporter: report.reporter,
        attributes: report.attributes,
        health: report.health,
        healthDetail: report.healthDetail,
        at: report.at,
        hops: report.hops ?? [],
      });
    }
  }
  for (const report of reports) {
    for (const view of report.views) {
      const record = records.get(JSON.stringify([view.namespace, report.instanceId]));
      if (record?.reporter !== report.reporter) continue;
      views.set(JSON.stringify([report.instanceId, view.namespace, view.labels]), {
        record: { ...record, at: report.at },
        view,
      });
    }
  }
  return { records: [...records.values()], views: [...views.values()] };
}
