// Issue 16: the alert rules shipped in deploy/prometheus/ are valid (`promtool check rules`), their
// unit tests pass (`promtool test rules`: each alert fires on the series that should fire it and
// stays silent on one close to it), every alert has such a test both ways, and every alert names
// a runbook that exists. promtool is Debian's (the prometheus package, installed by .ci/run).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { alertRules, alertRulesFile, repoRoot } from './operations-docs.js';

const run = promisify(execFile);
const rulesFile = alertRulesFile;
const root = repoRoot;
const testsDir = join(root, 'deploy/prometheus/tests');

const testFiles = readdirSync(testsDir)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(testsDir, f));

void describe('alert rules', () => {
  void it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', rulesFile], { timeout: 60_000 });
    assert.match(stdout, /SUCCESS: \d+ rules found/u);
  });

  void it('pass their promtool unit tests', async () => {
    assert.ok(testFiles.length > 0, 'there are rule tests');
    try {
      const { stdout } = await run('promtool', ['test', 'rules', ...testFiles], { timeout: 120_000 });
      assert.match(stdout, /SUCCESS/u);
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      assert.fail(`promtool test rules failed:\n${stdout ?? ''}${stderr ?? ''}`);
    }
  });

  void it('each alert is tested firing and silent', () => {
    const cases = testFiles.flatMap((file) => {
      const doc = parse(readFileSync(file, 'utf8')) as {
        tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
      };
      return doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    });
    for (const { alert } of alertRules()) {
      const own = cases.filter((c) => c.alertname === alert);
      assert.ok(
        own.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} has a test where it fires`,
      );
      assert.ok(
        own.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} has a test where it stays silent`,
      );
    }
  });

  void it('each alert names a runbook that exists, and the operations page lists it', () => {
    const operations = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const rules = alertRules();
    assert.ok(rules.length >= 11, `${rules.length} alerts`);
    for (const rule of rules) {
      const url = rule.annotations?.runbook_url;
      assert.ok(url, `${rule.alert} has a runbook_url`);
      assert.ok(existsSync(join(root, url)), `${rule.alert}'s runbook ${url} exists`);
      const runbook = readFileSync(join(root, url), 'utf8');
      assert.ok(runbook.includes(rule.alert ?? ''), `${url} is about ${rule.alert}`);
      for (const section of ['## What it means', '## Confirm', '## What to do', '## When it is over'])
        assert.ok(runbook.includes(section), `${url} has "${section}"`);
      assert.ok(operations.includes(`\`${rule.alert}\``), `docs/operations.md lists ${rule.alert}`);
    }
  });
});
