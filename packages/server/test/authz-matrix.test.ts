// The authorisation matrix: every route of /openapi.json against every kind of credential, with
// the expected outcome written down below. A route that appears in the document without a row
// fails the test, so a new route cannot ship without someone deciding who may call it. A refusal
// (401 or 403) must be problem+json with its catalogue code and must change nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken, entryPath, setEntry, storeState } from './helpers.js';

/** Who calls: the bootstrap admin (admin of `*`), each role scoped to `a-*`, an admin of `b-*`, no token, a bad token. */
const callers = ['system', 'admin', 'writer', 'releaser', 'reader', 'client', 'other', 'none', 'bad'] as const;
type Caller = (typeof callers)[number];

/**
 * One row per operation: the outcome for each caller, in the order of `callers`.
 * `Y` allowed (the request passes authorisation: any answer but 401 and 403, and never a 5xx),
 * `F` 403 forbidden, `U` 401 unauthenticated.
 */
const matrix: Record<string, string> = {
  'GET /healthz': 'Y Y Y Y Y Y Y Y Y',
  'GET /readyz': 'Y Y Y Y Y Y Y Y Y',
  'GET /metrics': 'Y Y Y Y Y Y Y Y Y',
  'GET /openapi.json': 'Y Y Y Y Y Y Y Y Y',
  // Which node leads and the store revision: any valid token may ask (the CLI's status uses it).
  'GET /v1/cluster': 'Y Y Y Y Y Y Y U U',
  'GET /v1/namespaces': 'Y Y Y Y Y Y Y U U',
  'POST /v1/namespaces': 'Y Y F F F F F U U',
  'GET /v1/namespaces/{ns}': 'Y Y Y Y Y F F U U',
  'DELETE /v1/namespaces/{ns}': 'Y Y F F F F F U U',
  'GET /v1/namespaces/{ns}/schema': 'Y Y Y Y Y F F U U',
  'PUT /v1/namespaces/{ns}/schema': 'Y Y F F F F F U U',
  'GET /v1/namespaces/{ns}/entries': 'Y Y Y Y Y F F U U',
  'GET /v1/namespaces/{ns}/entries/{*}': 'Y Y Y Y Y F F U U',
  'PUT /v1/namespaces/{ns}/entries/{*}': 'Y Y Y F F F F U U',
  'DELETE /v1/namespaces/{ns}/entries/{*}': 'Y Y Y F F F F U U',
  'PUT /v1/namespaces/{ns}/locks/{*}': 'Y Y Y F F F F U U',
  'DELETE /v1/namespaces/{ns}/locks/{*}': 'Y Y Y F F F F U U',
  'POST /v1/namespaces/{ns}/commits': 'Y Y Y F F F F U U',
  'GET /v1/namespaces/{ns}/history': 'Y Y Y Y Y F F U U',
  'GET /v1/namespaces/{ns}/diff': 'Y Y Y Y Y F F U U',
  'POST /v1/namespaces/{ns}/revert': 'Y Y Y F F F F U U',
  'POST /v1/namespaces/{ns}/restore': 'Y Y Y F F F F U U',
  'POST /v1/namespaces/{ns}/commits/{revision}/revert': 'Y Y Y F F F F U U',
  'POST /v1/tokens': 'Y F F F F F F U U',
  'GET /v1/tokens': 'Y F F F F F F U U',
  'DELETE /v1/tokens/{id}': 'Y F F F F F F U U',
  'POST /v1/tokens/{id}/rotate': 'Y F F F F F F U U',
  'GET /v1/audit': 'Y F F F F F F U U',
  'GET /v1/audit/verify': 'Y F F F F F F U U',
  'POST /v1/compact': 'Y F F F F F F U U',
  'POST /v1/keys/rotate': 'Y F F F F F F U U',
  'GET /v1/fleet/{ns}': 'Y Y Y Y Y F F U U',
  'GET /v1/namespaces/{ns}/releases': 'Y Y Y Y Y F F U U',
  'POST /v1/namespaces/{ns}/releases': 'Y Y F Y F F F U U',
  'GET /v1/namespaces/{ns}/releases/{seq}/trace': 'Y Y Y Y Y F F U U',
  'GET /v1/namespaces/{ns}/policy': 'Y Y Y Y Y F F U U',
  'PUT /v1/namespaces/{ns}/policy': 'Y Y F F F F F U U',
  'GET /v1/namespaces/{ns}/rollout': 'Y Y Y Y Y F F U U',
  // The flags summary is an admin read (entries, counts): readers of the namespace, not clients.
  'GET /v1/namespaces/{ns}/flags': 'Y Y Y Y Y F F U U',
  'GET /v1/namespaces/{ns}/rollouts': 'Y Y Y Y Y F F U U',
  'POST /v1/namespaces/{ns}/rollout/{command}': 'Y Y F Y F F F U U',
  'POST /v1/rollouts/{command}': 'Y F F F F F F U U',
  // Change control. A change request or schedule of a namespace the caller may not read is not
  // found (404) rather than forbidden, so ids cannot be probed across namespaces.
  'GET /v1/change-requests': 'Y Y Y Y Y Y Y U U',
  'GET /v1/change-requests/{id}': 'Y Y Y Y Y Y Y U U',
  'POST /v1/change-requests/{id}/approve': 'Y Y Y F F Y Y U U',
  'POST /v1/change-requests/{id}/reject': 'Y Y Y F F Y Y U U',
  'POST /v1/change-requests/{id}/comments': 'Y Y Y Y Y Y Y U U',
  'POST /v1/change-requests/{id}/rebase': 'Y Y Y F F Y Y U U',
  'GET /v1/namespaces/{ns}/approval': 'Y Y Y Y Y F F U U',
  'PUT /v1/namespaces/{ns}/approval': 'Y Y F F F F F U U',
  'GET /v1/namespaces/{ns}/windows': 'Y Y Y Y Y F F U U',
  'PUT /v1/namespaces/{ns}/windows': 'Y Y F F F F F U U',
  'GET /v1/windows': 'Y Y Y Y Y Y Y U U',
  'PUT /v1/windows': 'Y F F F F F F U U',
  'POST /v1/namespaces/{ns}/rollout/override-window': 'Y Y F F F F F U U',
  'GET /v1/schedules': 'Y Y Y Y Y Y Y U U',
  'POST /v1/namespaces/{ns}/schedules': 'Y Y F Y F F F U U',
  'POST /v1/schedules/{id}/cancel': 'Y Y F Y F Y Y U U',
  // Access keys are credentials for the whole store's Azure surface: system administrators only.
  'POST /v1/azure/access-keys': 'Y F F F F F F U U',
  // The public signing keys: clients need them to verify before they hold any credential.
  'GET /v1/keys': 'Y Y Y Y Y Y Y Y Y',
  'POST /v1/watch': 'Y Y Y Y Y Y F U U',
  'GET /v1/views/{ns}': 'Y Y Y Y Y Y F U U',
  // OFREP evaluates flags of the released view: whoever may fetch the view may evaluate.
  'POST /v1/namespaces/{ns}/ofrep/v1/evaluate/flags/{*}': 'Y Y Y Y Y Y F U U',
  'POST /v1/namespaces/{ns}/ofrep/v1/evaluate/flags': 'Y Y Y Y Y Y F U U',
  'GET /v1/route/{ns}': 'Y Y Y Y Y Y F U U',
  'POST /v1/reports': 'Y Y Y Y Y Y F U U',
  'POST /v1/reports/batch': 'Y Y Y Y Y Y F U U',
  'GET /v1/whoami': 'Y Y Y Y Y Y Y U U',
  // The console's namespaces page: any valid token, each namespace's parts as its scopes allow.
  'GET /v1/console/namespaces': 'Y Y Y Y Y Y Y U U',
  // A deliberate, audited read of a value: only tokens that may read the namespace's secrets.
  'POST /v1/namespaces/{ns}/secrets/reveal': 'Y Y F F F F F U U',
  // The Azure App Configuration surface authenticates with its own HMAC access keys or Entra
  // tokens, never with a Herald bearer token.
  'GET /kv/{*}': 'U U U U U U U U U',
  'PUT /kv/{*}': 'U U U U U U U U U',
  'DELETE /kv/{*}': 'U U U U U U U U U',
  'GET /kv': 'U U U U U U U U U',
  'GET /revisions': 'U U U U U U U U U',
  'GET /keys': 'U U U U U U U U U',
  'GET /labels': 'U U U U U U U U U',
  'PUT /locks/{*}': 'U U U U U U U U U',
  'DELETE /locks/{*}': 'U U U U U U U U U',
  'PUT /snapshots/{*}': 'U U U U U U U U U',
  'GET /snapshots/{*}': 'U U U U U U U U U',
  'PATCH /snapshots/{*}': 'U U U U U U U U U',
  'GET /snapshots': 'U U U U U U U U U',
  'GET /operations': 'U U U U U U U U U',
};

interface Request {
  path: string;
  body?: unknown;
}

let ts: TestServer;
const tokens = new Map<Caller, string | null>();
let serial = 0;
const ns = 'a-main';

/** A valid request for the operation, with whatever it needs made fresh for this one call. */
async function requestFor(operation: string): Promise<Request> {
  const n = ++serial;
  const [method, template] = operation.split(' ') as [string, string];
  const key = `k/${n}`;
  switch (operation) {
    case 'POST /v1/namespaces':
      return { path: '/v1/namespaces', body: { name: `a-new-${n}` } };
    case 'DELETE /v1/namespaces/{ns}':
      await createNamespace(ts, `a-gone-${n}`);
      return { path: `/v1/namespaces/a-gone-${n}` };
    case 'PUT /v1/namespaces/{ns}/schema':
      return { path: `/v1/namespaces/${ns}/schema`, body: { schema: null } };
    case 'GET /v1/namespaces/{ns}/entries/{*}':
      return { path: entryPath(ns, 'greeting') };
    case 'POST /v1/namespaces/{ns}/secrets/reveal':
      return { path: `/v1/namespaces/${ns}/secrets/reveal`, body: { key: 'greeting' } };
    case 'PUT /v1/namespaces/{ns}/entries/{*}':
      return { path: entryPath(ns, key), body: { value: n } };
    case 'DELETE /v1/namespaces/{ns}/entries/{*}':
    case 'PUT /v1/namespaces/{ns}/locks/{*}':
      await setEntry(ts, ns, key, { value: n });
      return { path: template.replace('{ns}', ns).replace('{*}', encodeURIComponent(key)) };
    case 'DELETE /v1/namespaces/{ns}/locks/{*}': {
      await setEntry(ts, ns, key, { value: n });
      const locked = await call(ts, 'PUT', `/v1/namespaces/${ns}/locks/${encodeURIComponent(key)}`);
      assert.equal(locked.status, 200, locked.text);
      return { path: `/v1/namespaces/${ns}/locks/${encodeURIComponent(key)}` };
    }
    case 'POST /v1/namespaces/{ns}/commits':
      return { path: `/v1/namespaces/${ns}/commits`, body: { changes: [{ op: 'set', key, value: n }] } };
    case 'GET /v1/namespaces/{ns}/diff':
      return { path: `/v1/namespaces/${ns}/diff?from=1` };
    case 'POST /v1/namespaces/{ns}/revert':
      return { path: `/v1/namespaces/${ns}/revert`, body: { revision: 1, dryRun: true } };
    case 'POST /v1/namespaces/{ns}/restore':
      return { path: `/v1/namespaces/${ns}/restore`, body: { revision: 1, dryRun: true } };
    case 'POST /v1/namespaces/{ns}/commits/{revision}/revert':
      return { path: `/v1/namespaces/${ns}/commits/1/revert`, body: { dryRun: true } };
    case 'POST /v1/tokens/{id}/rotate':
      // No such token: the system admin gets 404, everyone else is refused before the lookup.
      return { path: '/v1/tokens/tok_absent/rotate', body: { overlapSeconds: 60 } };
    case 'POST /v1/namespaces/{ns}/ofrep/v1/evaluate/flags/{*}':
      return { path: `/v1/namespaces/${ns}/ofrep/v1/evaluate/flags/greeting`, body: { context: {} } };
    case 'POST /v1/namespaces/{ns}/ofrep/v1/evaluate/flags':
      return { path: `/v1/namespaces/${ns}/ofrep/v1/evaluate/flags`, body: { context: {} } };
    case 'POST /v1/tokens':
      return { path: '/v1/tokens', body: { scopes: [{ namespaces: 'a-*', role: 'reader' }] } };
    case 'DELETE /v1/tokens/{id}': {
      const { id } = await createToken(ts, [{ namespaces: 'a-*', role: 'reader' }]);
      return { path: `/v1/tokens/${id}` };
    }
    case 'POST /v1/compact':
      return { path: '/v1/compact', body: { revision: 1 } };
    case 'POST /v1/namespaces/{ns}/releases':
      return { path: `/v1/namespaces/${ns}/releases`, body: { note: `n${n}` } };
    case 'GET /v1/namespaces/{ns}/releases/{seq}/trace':
      return { path: `/v1/namespaces/${ns}/releases/1/trace` };
    case 'PUT /v1/namespaces/{ns}/policy':
      return { path: `/v1/namespaces/${ns}/policy`, body: { strategy: 'immediate' } };
    case 'POST /v1/namespaces/{ns}/rollout/{command}':
      return { path: `/v1/namespaces/${ns}/rollout/pause`, body: {} };
    case 'POST /v1/rollouts/{command}':
      return { path: '/v1/rollouts/unfreeze', body: {} };
    case 'GET /v1/change-requests/{id}':
      return { path: template.replace('{id}', await freshChangeRequest(n)) };
    case 'POST /v1/change-requests/{id}/approve':
    case 'POST /v1/change-requests/{id}/reject':
    case 'POST /v1/change-requests/{id}/rebase':
      return { path: template.replace('{id}', await freshChangeRequest(n)), body: {} };
    case 'POST /v1/change-requests/{id}/comments':
      return { path: template.replace('{id}', await freshChangeRequest(n)), body: { text: 'a comment' } };
    case 'PUT /v1/namespaces/{ns}/approval':
      return { path: `/v1/namespaces/${ns}/approval`, body: { required: 0 } };
    case 'PUT /v1/namespaces/{ns}/windows':
    case 'PUT /v1/windows':
      return { path: template.replace('{ns}', ns), body: { windows: [] } };
    case 'POST /v1/namespaces/{ns}/rollout/override-window':
      return { path: `/v1/namespaces/${ns}/rollout/override-window`, body: { reason: 'r' } };
    case 'POST /v1/namespaces/{ns}/schedules':
      return { path: `/v1/namespaces/${ns}/schedules`, body: { at: '2999-01-01T00:00:00Z' } };
    case 'POST /v1/schedules/{id}/cancel': {
      const made = await call(ts, 'POST', `/v1/namespaces/${ns}/schedules`, { body: { at: '2999-01-01T00:00:00Z' } });
      assert.equal(made.status, 201, made.text);
      return { path: `/v1/schedules/${(made.json as { id: string }).id}/cancel`, body: {} };
    }
    case 'POST /v1/azure/access-keys':
      return { path: '/v1/azure/access-keys', body: { scopes: [{ namespaces: ns, role: 'reader' }] } };
    case 'POST /v1/watch':
      return { path: '/v1/watch', body: { instanceId: `w-${n}`, views: [{ namespace: ns }] } };
    case 'POST /v1/reports':
      return { path: '/v1/reports', body: reportBody(n) };
    case 'POST /v1/reports/batch':
      return { path: '/v1/reports/batch', body: { reports: [reportBody(n)] } };
    default:
      if (method === 'PUT' || method === 'POST' || method === 'PATCH')
        return { path: template.replace('{ns}', ns).replace('{*}', key), body: {} };
      return { path: template.replace('{ns}', ns).replace('{*}', 'greeting') };
  }
}

/** A change request of `a-cr` (which requires one approval), opened by a writer who is none of the callers. */
async function freshChangeRequest(n: number): Promise<string> {
  if (!crAuthor) {
    await createNamespace(ts, 'a-cr');
    const rule = await call(ts, 'PUT', '/v1/namespaces/a-cr/approval', { body: { required: 1 } });
    assert.equal(rule.status, 200, rule.text);
    crAuthor = (await createToken(ts, [{ namespaces: 'a-*', role: 'writer' }])).token;
  }
  const opened = await call(ts, 'PUT', entryPath('a-cr', `k/${n}`), { token: crAuthor, body: { value: n } });
  assert.equal(opened.status, 202, opened.text);
  return (opened.json as { changeRequest: { id: string } }).changeRequest.id;
}
let crAuthor: string | undefined;

function reportBody(n: number): unknown {
  return {
    instanceId: `i-${n}`,
    views: [{ namespace: ns, seq: 0, digest: '', status: 'applied' }],
    health: { status: 'ok' },
  };
}

/** Sends the request; a streaming answer (the watch) is read up to its headers and then dropped. */
async function send(
  method: string,
  request: Request,
  token: string | null,
): Promise<{ status: number; response?: Awaited<ReturnType<typeof call>> }> {
  if (request.path === '/v1/watch') {
    const controller = new AbortController();
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const response = await fetch(new URL(request.path, ts.url), {
      method,
      headers,
      body: JSON.stringify(request.body),
      signal: controller.signal,
    });
    if (response.status === 200) {
      controller.abort();
      return { status: 200 };
    }
    const text = await response.text();
    return {
      status: response.status,
      response: { status: response.status, headers: response.headers, text, json: JSON.parse(text) as unknown },
    };
  }
  const response = await call(ts, method, request.path, {
    token,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return { status: response.status, response };
}

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, ns);
  await createNamespace(ts, 'b-main');
  await setEntry(ts, ns, 'greeting', { value: 'hello' });
  tokens.set('system', ts.adminToken);
  for (const role of ['admin', 'writer', 'releaser', 'reader', 'client'] as const)
    tokens.set(role, (await createToken(ts, [{ namespaces: 'a-*', role }])).token);
  tokens.set('other', (await createToken(ts, [{ namespaces: 'b-*', role: 'admin' }])).token);
  tokens.set('none', null);
  tokens.set('bad', 'hrd_not-a-real-token');
});

after(() => ts.close());

void describe('the authorisation matrix', () => {
  void it('has a row for every operation in /openapi.json, and no row for an operation that is gone', async () => {
    const document = (await call(ts, 'GET', '/openapi.json')).json as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const missing = documented.filter((operation) => !Object.hasOwn(matrix, operation));
    assert.deepEqual(missing, [], `operations without a row in the authorisation matrix: ${missing.join(', ')}`);
    const stale = Object.keys(matrix).filter((operation) => !documented.includes(operation));
    assert.deepEqual(stale, [], `rows for operations that are no longer in /openapi.json: ${stale.join(', ')}`);
  });

  void it('gives every caller the outcome in its row, and a refusal changes nothing', async () => {
    const mismatches: string[] = [];
    let cells = 0;
    for (const [operation, row] of Object.entries(matrix)) {
      const expected = row.split(' ');
      assert.equal(expected.length, callers.length, `${operation}: one outcome per caller`);
      const method = operation.split(' ')[0] as string;
      for (const [i, caller] of callers.entries()) {
        const outcome = expected[i] as string;
        const request = await requestFor(operation);
        const before = await storeState(ts);
        const { status, response } = await send(method, request, tokens.get(caller) ?? null);
        cells += 1;
        const where = `${operation} as ${caller}`;
        assert.ok(status < 500, `${where}: ${status} ${response?.text ?? ''}`);
        const actual = status === 401 ? 'U' : status === 403 ? 'F' : 'Y';
        if (actual !== outcome) {
          mismatches.push(`${where}: expected ${outcome}, got ${status} ${response?.text.slice(0, 200) ?? ''}`);
          continue;
        }
        if (outcome === 'Y' || response === undefined) continue;
        assertProblem(response, outcome === 'U' ? 'unauthenticated' : 'forbidden', where);
        assert.deepEqual(await storeState(ts), before, `${where}: a refusal changed the store`);
      }
    }
    console.log(
      JSON.stringify({
        suite: 'authorisation-matrix',
        cases: cells,
        operations: Object.keys(matrix).length,
        callers: callers.length,
        mismatches: mismatches.length,
      }),
    );
    assert.deepEqual(mismatches, []);
  });
});
