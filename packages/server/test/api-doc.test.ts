// docs/api.md is the reference of the HTTP API: every route /openapi.json describes (every method
// of every path) must be named there as `METHOD /path`, so a new route cannot ship undocumented.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call } from './helpers.js';

const docUrl = new URL('../../../../docs/api.md', import.meta.url);
let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.close();
});

void test('docs/api.md lists every route of /openapi.json, and none that does not exist', async () => {
  const response = await call(ts, 'GET', '/openapi.json', { token: null });
  assert.equal(response.status, 200);
  const paths = (response.json as { paths: Record<string, Record<string, { summary?: string }>> }).paths;
  const rows = Object.entries(paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, op]) => ({
      route: `${method.toUpperCase()} ${path}`,
      row: `| \`${method.toUpperCase()} ${path}\` | ${(op.summary ?? '').replaceAll('|', '\\|')} |`,
    })),
  );
  assert.ok(rows.length > 20, `only ${rows.length} routes in /openapi.json`);
  const doc = await readFile(docUrl, 'utf8');
  const section = doc.slice(doc.indexOf('\n## Every route\n'));
  assert.ok(section.length > 20, 'docs/api.md has a "## Every route" section');
  const listed = new Set([...section.matchAll(/^\| `([A-Z]+ [^`]+)` \|/gmu)].map((m) => m[1] ?? ''));
  const missing = rows.filter((r) => !listed.has(r.route));
  assert.deepEqual(
    missing.map((r) => r.route),
    [],
    `routes missing from "## Every route" in docs/api.md; add these rows:\n${missing.map((r) => r.row).join('\n')}`,
  );
  const known = new Set(rows.map((r) => r.route));
  assert.deepEqual(
    [...listed].filter((route) => !known.has(route)),
    [],
    'routes listed in docs/api.md that the server does not have',
  );
});
