// Change requests on a real server and SQLite file: a namespace that requires approval turns every
// commit (whatever route it comes by) into a request bound to its diff and base revision; approvals
// from others apply it as one commit, the author's own is refused, a namespace that moved on makes
// it stale (never applied over the newer state) until rebased, and an admin's bypass is audited.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace } from './helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.close();
});

async function token(name: string, role: string, namespaces = '*'): Promise<string> {
  const response = await call(ts, 'POST', '/v1/tokens', { body: { name, scopes: [{ namespaces, role }] } });
  assert.equal(response.status, 201, response.text);
  return (response.json as { token: string }).token;
}

interface Cr {
  id: string;
  state: string;
  baseRevision: number;
  current: boolean;
  required: number;
  approvals: Array<{ by: string }>;
  applied?: { revision?: number; releaseSeq?: number };
  changes?: Array<{ key: string; kind: string; before?: { value: unknown }; after?: { value: unknown } }>;
  comments: Array<{ text: string }>;
}

async function requireApproval(ns: string, rule: Record<string, unknown>): Promise<void> {
  const response = await call(ts, 'PUT', `/v1/namespaces/${ns}/approval`, { body: rule });
  assert.equal(response.status, 200, response.text);
}

async function value(ns: string, key: string): Promise<unknown> {
  const response = await call(ts, 'GET', `/v1/namespaces/${ns}/entries/${key}`);
  return response.status === 200 ? (response.json as { value: unknown }).value : undefined;
}

async function show(id: string, as?: string): Promise<Cr> {
  const response = await call(ts, 'GET', `/v1/change-requests/${id}`, as === undefined ? {} : { token: as });
  assert.equal(response.status, 200, response.text);
  return response.json as Cr;
}

async function auditActions(): Promise<Array<{ action: string; details: Record<string, unknown> }>> {
  const response = await call(ts, 'GET', '/v1/audit?limit=1000&order=newest');
  assert.equal(response.status, 200, response.text);
  return (response.json as { items: Array<{ action: string; details: Record<string, unknown> }> }).items;
}

void describe('change requests', () => {
  let author: string;
  let alice: string;
  let bob: string;
  let reader: string;

  before(async () => {
    author = await token('author', 'writer');
    alice = await token('alice', 'writer');
    bob = await token('bob', 'writer');
    reader = await token('reader', 'reader');
  });

  void it('a commit becomes a request (202); two approvals from others apply it as one commit; the author cannot approve', async () => {
    const ns = 'cr-apply';
    await createNamespace(ts, ns);
    await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/limit`, { body: { value: 1 } });
    await requireApproval(ns, { required: 2 });
    const opened = await call(ts, 'POST', `/v1/namespaces/${ns}/commits`, {
      token: author,
      body: {
        message: 'raise the limit',
        changes: [
          { op: 'set', key: 'limit', value: 5 },
          { op: 'set', key: 'new', value: 'x' },
        ],
      },
    });
    assert.equal(opened.status, 202, opened.text);
    const body = opened.json as { changeRequest: Cr; message: string };
    const id = body.changeRequest.id;
    assert.match(id, /^CR-/u);
    assert.match(
      body.message,
      new RegExp(`change request ${id} opened; needs 2 approvals: herald cr approve ${id}`, 'u'),
    );
    assert.equal(await value(ns, 'limit'), 1, 'nothing is committed yet');
    assert.equal(await value(ns, 'new'), undefined);

    // A single-entry PUT takes the same road.
    const put = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/other`, { token: author, body: { value: 2 } });
    assert.equal(put.status, 202, put.text);

    const shown = await show(id, reader);
    assert.equal(shown.state, 'open');
    assert.equal(shown.current, true);
    assert.deepEqual(
      shown.changes?.map((c) => [c.key, c.kind, c.before?.value, c.after?.value]),
      [
        ['limit', 'changed', 1, 5],
        ['new', 'added', undefined, 'x'],
      ],
    );

    const own = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: author, body: {} });
    assertProblem(own, 'approval_refused');
    const byReader = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: reader, body: {} });
    assertProblem(byReader, 'forbidden');
    const comment = await call(ts, 'POST', `/v1/change-requests/${id}/comments`, {
      token: reader,
      body: { text: 'lgtm?' },
    });
    assert.equal(comment.status, 200, comment.text);

    const first = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: alice, body: {} });
    assert.equal(first.status, 200, first.text);
    assert.equal((first.json as { changeRequest: Cr }).changeRequest.state, 'open');
    const twice = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: alice, body: {} });
    assertProblem(twice, 'approval_refused');
    assert.equal(await value(ns, 'limit'), 1, 'one approval of two applies nothing');

    const second = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: bob, body: {} });
    assert.equal(second.status, 200, second.text);
    const applied = (second.json as { changeRequest: Cr }).changeRequest;
    assert.equal(applied.state, 'applied');
    assert.equal(await value(ns, 'limit'), 5);
    assert.equal(await value(ns, 'new'), 'x');

    const history = await call(ts, 'GET', `/v1/namespaces/${ns}/history?limit=10`);
    const commits = (
      history.json as { items: Array<{ revision: number; author: string; message: string; changes: unknown[] }> }
    ).items;
    assert.equal(commits[0]?.revision, applied.applied?.revision, 'one commit');
    assert.equal(commits[0]?.changes.length, 2);
    assert.match(commits[0]?.author ?? '', /^author /u, 'authored by the author');
    assert.equal(commits[0]?.message, 'raise the limit');

    const actions = (await auditActions()).filter((r) => JSON.stringify(r.details).includes(id)).map((r) => r.action);
    for (const step of [
      'change_request.open',
      'change_request.comment',
      'change_request.approve',
      'change_request.apply',
      'entries.commit',
    ])
      assert.ok(actions.includes(step), `${step} is audited: ${actions.join(', ')}`);
    const closed = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: reader, body: {} });
    assertProblem(closed, 'forbidden');
  });

  void it('a rejected request applies nothing and stays closed', async () => {
    const ns = 'cr-reject';
    await createNamespace(ts, ns);
    await requireApproval(ns, { required: 1 });
    const opened = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/k`, { token: author, body: { value: 1 } });
    assert.equal(opened.status, 202, opened.text);
    const id = (opened.json as { changeRequest: Cr }).changeRequest.id;
    const rejected = await call(ts, 'POST', `/v1/change-requests/${id}/reject`, {
      token: alice,
      body: { reason: 'no' },
    });
    assert.equal(rejected.status, 200, rejected.text);
    assert.equal((rejected.json as Cr).state, 'rejected');
    assertProblem(
      await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: bob, body: {} }),
      'change_request_closed',
    );
    assert.equal(await value(ns, 'k'), undefined);
    const listed = await call(ts, 'GET', `/v1/change-requests?namespace=${ns}&state=rejected`);
    assert.deepEqual(
      (listed.json as { items: Cr[] }).items.map((c) => c.id),
      [id],
    );
  });

  void it('a request whose namespace moved on goes stale, is never applied over the newer state, and applies once rebased', async () => {
    const ns = 'cr-stale';
    await createNamespace(ts, ns);
    await requireApproval(ns, { required: 1 });
    const opened = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { token: author, body: { value: 'mine' } });
    const id = (opened.json as { changeRequest: Cr }).changeRequest.id;
    // The namespace moves on: an emergency change by an admin, with a reason.
    const bypass = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/b`, {
      body: { value: 'urgent' },
      headers: { 'herald-bypass-approval': encodeURIComponent('pager: outage #42') },
    });
    assert.equal(bypass.status, 200, bypass.text);
    assert.equal((await show(id)).current, false);

    const approve = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: alice, body: {} });
    assert.equal(approve.status, 200, approve.text);
    assert.equal((approve.json as { changeRequest: Cr }).changeRequest.state, 'stale');
    assert.equal(await value(ns, 'a'), undefined, 'not applied over the newer state');
    assertProblem(
      await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: bob, body: {} }),
      'change_request_stale',
    );

    const rebased = await call(ts, 'POST', `/v1/change-requests/${id}/rebase`, { token: author });
    assert.equal(rebased.status, 200, rebased.text);
    const after = rebased.json as Cr;
    assert.equal(after.state, 'open');
    assert.equal(after.current, true);
    assert.deepEqual(after.approvals, [], 'approvals were of a change to another state');
    const applied = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: alice, body: {} });
    assert.equal((applied.json as { changeRequest: Cr }).changeRequest.state, 'applied', applied.text);
    assert.equal(await value(ns, 'a'), 'mine');
    assert.equal(await value(ns, 'b'), 'urgent');

    // The bypass is audited with its reason and shows on the commit.
    const audit = (await auditActions()).find((r) => r.action === 'entries.commit' && 'bypassApproval' in r.details);
    assert.deepEqual((audit?.details.bypassApproval as { reason: string }).reason, 'pager: outage #42');
    const history = await call(ts, 'GET', `/v1/namespaces/${ns}/history?limit=10`);
    const messages = (history.json as { items: Array<{ message: string }> }).items.map((c) => c.message);
    assert.ok(
      messages.some((m) => m.includes('approval bypassed by') && m.includes('pager: outage #42')),
      messages.join('|'),
    );
  });

  void it('a rebase that meets a change to the same entry conflicts clearly', async () => {
    const ns = 'cr-conflict';
    await createNamespace(ts, ns);
    await requireApproval(ns, { required: 1 });
    const opened = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { token: author, body: { value: 1 } });
    const id = (opened.json as { changeRequest: Cr }).changeRequest.id;
    const bypass = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, {
      body: { value: 2 },
      headers: { 'herald-bypass-approval': 'hotfix' },
    });
    assert.equal(bypass.status, 200, bypass.text);
    const rebase = await call(ts, 'POST', `/v1/change-requests/${id}/rebase`, { token: author });
    const problem = assertProblem(rebase, 'rebase_conflict');
    assert.deepEqual(problem.conflicts, [{ key: 'a', label: '' }]);
    assert.equal(await value(ns, 'a'), 2);
  });

  void it('only admins bypass; a writer asking to is refused and nothing changes', async () => {
    const ns = 'cr-bypass-refused';
    await createNamespace(ts, ns);
    await requireApproval(ns, { required: 1 });
    const refused = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, {
      token: author,
      body: { value: 1 },
      headers: { 'herald-bypass-approval': 'because' },
    });
    assertProblem(refused, 'forbidden');
    assert.equal(await value(ns, 'a'), undefined);
  });

  void it('releases can require approval too: a release request, applied by an approval from a releaser', async () => {
    const ns = 'cr-release';
    await createNamespace(ts, ns);
    await call(ts, 'PUT', `/v1/namespaces/${ns}/policy`, { body: { strategy: 'manual' } });
    await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { body: { value: 1 } });
    await requireApproval(ns, { required: 1, releases: true });
    const releaser = await token('rel', 'releaser');
    const other = await token('rel2', 'releaser');
    const asked = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { token: releaser, body: { note: 'go' } });
    assert.equal(asked.status, 202, asked.text);
    const id = (asked.json as { changeRequest: Cr }).changeRequest.id;
    const before = ((await call(ts, 'GET', `/v1/namespaces/${ns}/releases`)).json as { items: unknown[] }).items.length;
    assertProblem(await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: alice, body: {} }), 'forbidden');
    const approved = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: other, body: {} });
    assert.equal(approved.status, 200, approved.text);
    const cr = (approved.json as { changeRequest: Cr }).changeRequest;
    assert.equal(cr.state, 'applied');
    const releases = (
      (await call(ts, 'GET', `/v1/namespaces/${ns}/releases`)).json as { items: Array<{ seq: number }> }
    ).items;
    assert.equal(releases.length, before + 1);
    assert.equal(releases[0]?.seq, cr.applied?.releaseSeq);
  });
});

void describe('change windows', () => {
  void it('a window around now refuses a release; an admin overrides it with a reason, audited', async () => {
    const ns = 'win-release';
    await createNamespace(ts, ns);
    await call(ts, 'PUT', `/v1/namespaces/${ns}/policy`, { body: { strategy: 'manual' } });
    await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { body: { value: 1 } });
    const now = Date.now();
    const set = await call(ts, 'PUT', `/v1/namespaces/${ns}/windows`, {
      body: {
        windows: [
          {
            name: 'freeze',
            from: new Date(now - 3_600_000).toISOString(),
            to: new Date(now + 3_600_000).toISOString(),
          },
        ],
      },
    });
    assert.equal(set.status, 200, set.text);
    assert.equal((set.json as { blocked?: { window: string } }).blocked?.window, 'freeze');
    const refused = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: {} });
    const problem = assertProblem(refused, 'change_window');
    assert.equal(problem.window, 'freeze');
    assert.match(String(problem.detail), /--override-window/u);
    const writer = await token('win-writer', 'releaser');
    assertProblem(
      await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, {
        token: writer,
        body: {},
        headers: { 'herald-override-window': 'please' },
      }),
      'forbidden',
    );
    const overridden = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, {
      body: {},
      headers: { 'herald-override-window': encodeURIComponent('security fix CVE-1') },
    });
    assert.equal(overridden.status, 201, overridden.text);
    const audit = (await auditActions()).find((r) => r.action === 'release.override');
    assert.equal((audit?.details.overrideWindow as { reason: string }).reason, 'security fix CVE-1');
  });

  void it('an approved change to an immediate namespace waits out a window; approving again then applies it', async () => {
    const ns = 'win-cr';
    await createNamespace(ts, ns);
    await requireApproval(ns, { required: 1 });
    const author = await token('win-author', 'writer');
    const approver = await token('win-approver', 'writer');
    const opened = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { token: author, body: { value: 1 } });
    const id = (opened.json as { changeRequest: Cr }).changeRequest.id;
    const now = Date.now();
    await call(ts, 'PUT', `/v1/namespaces/${ns}/windows`, {
      body: {
        windows: [
          { name: 'hold', from: new Date(now - 60_000).toISOString(), to: new Date(now + 3_600_000).toISOString() },
        ],
      },
    });
    assertProblem(
      await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: approver, body: {} }),
      'change_window',
    );
    assert.equal(await value(ns, 'a'), undefined, 'a commit that would release does not start in the window');
    const held = await show(id);
    assert.equal(held.state, 'open');
    assert.equal(held.approvals.length, 1, 'the approval is kept');
    await call(ts, 'PUT', `/v1/namespaces/${ns}/windows`, { body: { windows: [] } });
    const again = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, { token: approver, body: {} });
    assert.equal((again.json as { changeRequest: Cr }).changeRequest.state, 'applied', again.text);
    assert.equal(await value(ns, 'a'), 1);
  });

  void it('windows are checked when set', async () => {
    const ns = 'win-bad';
    await createNamespace(ts, ns);
    const bad = await call(ts, 'PUT', `/v1/namespaces/${ns}/windows`, {
      body: { windows: [{ weekly: { from: 'Fri 16:00', to: 'Mon 08:00', timeZone: 'Nowhere/City' } }] },
    });
    assertProblem(bad, 'invalid_request');
  });
});
