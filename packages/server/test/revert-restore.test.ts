// Undoing changes through the admin API on a real server and SQLite file, in its two meanings:
// reverting one commit (its inverse, later commits kept; a conflict when a later commit touched
// the same entries) and restoring a namespace or one key to a revision (later commits undone).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '@herald/store';
import { startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, entryPath, type RawResponse } from './helpers.js';

let ts: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };

before(async () => {
  dir = await tempDir();
  ts = await startTestServer({ store: SqliteStore.open({ path: join(dir.path, 'herald.db') }) });
});

after(async () => {
  await ts.close();
  await dir.cleanup();
});

interface RevertAnswer {
  revision: number | null;
  reverted: number;
  changes: Array<{ key: string; label: string; kind: string }>;
}

async function committed(ns: string, changes: unknown[], message = ''): Promise<number> {
  const response = await call(ts, 'POST', `/v1/namespaces/${ns}/commits`, { body: { changes, message } });
  assert.equal(response.status, 201, response.text);
  return (response.json as { revision: number }).revision;
}

async function values(ns: string): Promise<Record<string, unknown>> {
  const response = await call(ts, 'GET', `/v1/namespaces/${ns}/entries?limit=100`);
  assert.equal(response.status, 200, response.text);
  const items = (response.json as { items: Array<{ key: string; label: string; value: unknown }> }).items;
  return Object.fromEntries(items.map((e) => [e.label ? `${e.key}[${e.label}]` : e.key, e.value]));
}

function revertCommit(ns: string, revision: number, body: Record<string, unknown> = {}): Promise<RawResponse> {
  return call(ts, 'POST', `/v1/namespaces/${ns}/commits/${revision}/revert`, { body });
}

void describe('reverting one commit', () => {
  void it('undoes only that commit: later commits to other entries stay', async () => {
    const ns = 'rc-clean';
    await createNamespace(ts, ns);
    await committed(ns, [
      { op: 'set', key: 'a', value: 1 },
      { op: 'set', key: 'b', value: 1 },
    ]);
    const bad = await committed(
      ns,
      [
        { op: 'set', key: 'a', value: 2 },
        { op: 'set', key: 'c', value: 1 },
        { op: 'delete', key: 'b' },
      ],
      'the bad one',
    );
    await committed(ns, [{ op: 'set', key: 'd', value: 1 }], 'a later, unrelated one');

    const preview = await revertCommit(ns, bad, { dryRun: true });
    assert.equal(preview.status, 200, preview.text);
    const shown = preview.json as RevertAnswer;
    assert.equal(shown.revision, null);
    assert.deepEqual(
      shown.changes.map((c) => `${c.kind} ${c.key}`),
      ['changed a', 'added b', 'removed c'],
    );
    assert.deepEqual(await values(ns), { a: 2, c: 1, d: 1 }, 'a dry run changes nothing');

    const response = await revertCommit(ns, bad);
    assert.equal(response.status, 200, response.text);
    const answer = response.json as RevertAnswer;
    assert.equal(answer.reverted, bad);
    assert.ok(answer.revision !== null && answer.revision > bad);
    assert.deepEqual(await values(ns), { a: 1, b: 1, d: 1 }, 'the later commit (d) is kept');

    const history = await call(ts, 'GET', `/v1/namespaces/${ns}/history?limit=1`);
    const [newest] = (history.json as { items: Array<{ message: string }> }).items;
    assert.equal(newest?.message, `revert r${bad}: the bad one`);
  });

  void it('conflicts (409 revert_conflict, nothing changed) when a later commit changed the same entry', async () => {
    const ns = 'rc-conflict';
    await createNamespace(ts, ns);
    await committed(ns, [{ op: 'set', key: 'db/pool/max', value: 10 }]);
    const bad = await committed(ns, [
      { op: 'set', key: 'db/pool/max', value: 50 },
      { op: 'set', key: 'other', value: 1 },
    ]);
    const later = await committed(ns, [{ op: 'set', key: 'db/pool/max', value: 20 }]);
    const before = await values(ns);

    const problem = assertProblem(await revertCommit(ns, bad), 'revert_conflict');
    assert.deepEqual(problem.conflicts, [
      {
        key: 'db/pool/max',
        label: '',
        expected: `revision ${bad} (written by the commit)`,
        actualRevision: later,
      },
    ]);
    assert.match(problem.detail, /db\/pool\/max/u);
    assert.deepEqual(await values(ns), before, 'a conflicting revert changes nothing');
    assertProblem(await revertCommit(ns, bad, { dryRun: true }), 'revert_conflict', 'the preview says so too');
  });

  void it('undoes a lock, a label and a deletion, and refuses a revision that is not a commit of the namespace', async () => {
    const ns = 'rc-kinds';
    await createNamespace(ts, ns);
    await createNamespace(ts, 'rc-elsewhere');
    await committed(ns, [
      { op: 'set', key: 'k', value: 'v' },
      { op: 'set', key: 'k', label: 'prod', value: 'p' },
    ]);
    const lock = await committed(ns, [{ op: 'lock', key: 'k' }]);
    const removal = await committed(ns, [{ op: 'delete', key: 'k', label: 'prod' }]);
    const elsewhere = await committed('rc-elsewhere', [{ op: 'set', key: 'x', value: 1 }]);

    assert.equal((await revertCommit(ns, removal)).status, 200);
    assert.deepEqual(await values(ns), { k: 'v', 'k[prod]': 'p' });
    assert.equal((await revertCommit(ns, lock)).status, 200);
    const entry = await call(ts, 'GET', entryPath(ns, 'k'));
    assert.equal((entry.json as { locked: boolean }).locked, false);

    assertProblem(await revertCommit(ns, elsewhere), 'commit_not_found');
    assertProblem(await revertCommit(ns, 999_999), 'commit_not_found');
  });
});

void describe('restoring to a revision', () => {
  void it('restores one key as it was, undoing its later commits and leaving other keys alone', async () => {
    const ns = 'restore-key';
    await createNamespace(ts, ns);
    const first = await committed(ns, [
      { op: 'set', key: 'a', value: 1 },
      { op: 'set', key: 'b', value: 1 },
    ]);
    await committed(ns, [
      { op: 'set', key: 'a', value: 2 },
      { op: 'set', key: 'b', value: 2 },
    ]);
    await committed(ns, [{ op: 'set', key: 'a', value: 3 }]);

    const response = await call(ts, 'POST', `/v1/namespaces/${ns}/restore`, { body: { revision: first, key: 'a' } });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(await values(ns), { a: 1, b: 2 });

    // The first name of the route keeps working, with the same meaning.
    const old = await call(ts, 'POST', `/v1/namespaces/${ns}/revert`, { body: { revision: first } });
    assert.equal(old.status, 200, old.text);
    assert.deepEqual(await values(ns), { a: 1, b: 1 });
  });
});
