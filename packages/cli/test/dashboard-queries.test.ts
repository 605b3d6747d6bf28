// Issue 16: every PromQL expression of the Grafana dashboard (deploy/grafana/herald.json) and of
// the alert rules names only metrics Herald exports: those docs/operations.md documents, which
// operations-metrics.test.ts checks against the /metrics of running nodes. A renamed metric
// fails here rather than as an empty panel or an alert that can never fire.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { alertRules, documentedMetrics, repoRoot } from './operations-docs.js';

const keywords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names an expression selects: identifiers that are not functions (followed by a
 * parenthesis), keywords, label names (inside braces, or the lists after by/on/…), strings,
 * durations or Grafana variables.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/gu, '""')
    .replace(/\{[^}]*\}/gu, '')
    .replace(/\[[^\]]*\]/gu, '')
    .replace(/\$\{?\w+\}?/gu, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gu, '');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/gu)) {
    const [, name, call] = match;
    if (!name || call !== undefined || keywords.has(name.toLowerCase())) continue;
    if (/^\d/u.test(name)) continue;
    names.add(name);
  }
  return [...names];
}

function dashboardExpressions(): Array<{ where: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/herald.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  const exprs = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).flatMap((t) => (t.expr === undefined ? [] : [{ where: `panel "${p.title}"`, expr: t.expr }])),
  );
  for (const variable of dashboard.templating.list) {
    const query = /^label_values\((\w+),/u.exec(variable.definition ?? '');
    if (query?.[1]) exprs.push({ where: `variable ${variable.name}`, expr: query[1] });
  }
  return exprs;
}

void describe('dashboard and alert queries', () => {
  const documented = new Set(documentedMetrics().map((m) => m.name));
  const histograms = new Set(
    [...documented].filter((name) => /_seconds$/u.test(name)).flatMap((n) => [`${n}_bucket`, `${n}_sum`, `${n}_count`]),
  );
  const known = (name: string) => documented.has(name) || histograms.has(name);

  void it('the name parser finds metrics and nothing else', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (namespace, le) (rate(herald_x_bucket{tier="relay",namespace=~"$namespace"}[$__rate_interval]))) > 30 and on (namespace) herald_y unless herald_z{state=~"a|b"} == 1',
      ).sort(),
      ['herald_x_bucket', 'herald_y', 'herald_z'],
    );
    assert.deepEqual(metricNames('time() - max(herald_t) < 14 * 86400'), ['herald_t']);
  });

  void it('the dashboard queries only exported metrics, and shows every panel family', () => {
    const exprs = dashboardExpressions();
    assert.ok(exprs.length >= 30, `${exprs.length} expressions`);
    const used = new Set<string>();
    for (const { where, expr } of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${where} queries a metric: ${expr}`);
      for (const name of names) {
        assert.ok(known(name), `${where} names ${name}, which Herald does not export: ${expr}`);
        used.add(name);
      }
    }
    for (const family of [
      'herald_propagation_seconds_bucket',
      'herald_fleet_convergence_ratio',
      'herald_fleet_rejecting_instances',
      'herald_rollout_state',
      'herald_store_commit_seconds_bucket',
      'herald_relay_upstream_seconds_behind',
    ])
      assert.ok(used.has(family), `the dashboard shows ${family}`);
  });

  void it('the alert rules query only exported metrics', () => {
    for (const rule of alertRules()) {
      const names = metricNames(rule.expr);
      assert.ok(names.length > 0, `${rule.alert} queries a metric`);
      for (const name of names) assert.ok(known(name), `${rule.alert} names ${name}, which Herald does not export`);
    }
  });
});
