import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The repository's root folder (tests run from packages/cli/dist/test). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const alertRulesFile = join(repoRoot, 'deploy/prometheus/herald-alerts.yml');

/** The rows of docs/operations.md's "## Metrics" table: each metric's name and where it is exported. */
export function documentedMetrics(): Array<{ name: string; where: string }> {
  const text = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8');
  const section = text.split(/^## /mu).find((s) => s.startsWith('Metrics')) ?? '';
  return [...section.matchAll(/^\| `(herald_[a-z0-9_]+)` \|[^|]*\|[^|]*\| ([^|]+) \|/gmu)].map((m) => ({
    name: m[1] ?? '',
    where: m[2] ?? '',
  }));
}

export interface AlertRule {
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
}

/** Every alerting rule of deploy/prometheus/herald-alerts.yml. */
export function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(alertRulesFile, 'utf8')) as { groups: Array<{ rules: AlertRule[] }> };
  return doc.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}
