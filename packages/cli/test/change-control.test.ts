// Change control from the command line, as real `herald` processes against a real server: a
// namespace that requires approval turns `herald set` and `herald apply` into change requests;
// `herald cr approve|reject|show|list|rebase|comment`; the emergency `--bypass-approval --reason`;
// a change window that refuses `herald release` until `--override-window --reason`; and a
// release scheduled with `herald release --at`, listed and cancelled.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

let ts: TestServer;
let admin: (args: string[]) => Promise<RunResult>;
let author: (args: string[]) => Promise<RunResult>;
let alice: (args: string[]) => Promise<RunResult>;
let bob: (args: string[]) => Promise<RunResult>;

before(async () => {
  ts = await startTestServer();
  admin = heraldAt(ts.url, ts.adminToken);
  const token = async (name: string) =>
    parseJson<{ token: string }>(
      ok(await admin(['token', 'create', '--name', name, '--role', 'writer', '--ns', '*', '--json'])),
    ).token;
  author = heraldAt(ts.url, await token('author'));
  alice = heraldAt(ts.url, await token('alice'));
  bob = heraldAt(ts.url, await token('bob'));
});

after(async () => {
  await ts.close();
});

async function value(ns: string, key: string): Promise<unknown> {
  const result = await admin(['get', ns, key, '--json']);
  return result.code === 0 ? parseJson<{ value: unknown }>(result.stdout).value : undefined;
}

function requestId(stdout: string): string {
  const match = /change request (CR-[0-9a-f]+) opened; needs (\d+) approvals?: herald cr approve (CR-[0-9a-f]+)/u.exec(
    stdout,
  );
  assert.ok(match, `the CLI says a change request was opened: ${stdout}`);
  assert.equal(match[1], match[3]);
  return match[1] as string;
}

void describe('herald cr', () => {
  void test('set becomes a change request; the author cannot approve; two approvals apply it', async () => {
    ok(await admin(['ns', 'create', 'cli-cr']));
    ok(await admin(['set', 'cli-cr', 'pool', '10']));
    assert.match(ok(await admin(['approval', 'set', 'cli-cr', '--required', '2'])), /needs 2 approval/u);
    const opened = ok(await author(['set', 'cli-cr', 'pool', '50', '-m', 'more connections']));
    const id = requestId(opened);
    assert.match(opened, /needs 2 approvals/u);
    assert.equal(await value('cli-cr', 'pool'), 10);

    const shown = ok(await alice(['cr', 'show', id]));
    assert.match(shown, /more connections/u);
    assert.match(shown, /pool/u);
    assert.match(shown, /10/u);
    assert.match(shown, /50/u);
    const listed = parseJson<{ items: Array<{ id: string; state: string }> }>(
      ok(await alice(['cr', 'list', '--ns', 'cli-cr', '--json'])),
    );
    assert.deepEqual(
      listed.items.map((c) => [c.id, c.state]),
      [[id, 'open']],
    );

    fails(await author(['cr', 'approve', id]), { line: /author cannot approve.*\[approval_refused\]$/u });
    ok(await alice(['cr', 'comment', id, 'looks right']));
    assert.match(ok(await alice(['cr', 'approve', id])), /1\/2 approvals/u);
    assert.match(ok(await bob(['cr', 'approve', id])), new RegExp(`${id} applied as revision \\d+`, 'u'));
    assert.equal(await value('cli-cr', 'pool'), 50);
  });

  void test('reject; a stale request is not applied and rebases; --bypass-approval needs a reason and is audited', async () => {
    ok(await admin(['ns', 'create', 'cli-cr2']));
    ok(await admin(['approval', 'set', 'cli-cr2', '--required', '1']));
    const rejected = requestId(ok(await author(['set', 'cli-cr2', 'a', '1'])));
    assert.match(ok(await alice(['cr', 'reject', rejected, '--reason', 'not now'])), /rejected by alice/u);
    fails(await bob(['cr', 'approve', rejected]), { line: /\[change_request_closed\]$/u });

    const stale = requestId(ok(await author(['set', 'cli-cr2', 'b', '"mine"'])));
    fails(await admin(['set', 'cli-cr2', 'c', '1', '--bypass-approval']), { exitCode: 2, line: /--reason/u });
    ok(await admin(['set', 'cli-cr2', 'c', '1', '--bypass-approval', '--reason', 'incident 7: über-urgent']));
    assert.equal(await value('cli-cr2', 'c'), 1);
    const approved = await alice(['cr', 'approve', stale]);
    assert.equal(approved.code, 1, 'approving a stale request does not apply it');
    assert.match(approved.stdout, new RegExp(`${stale} is stale.*herald cr rebase ${stale}`, 'u'));
    assert.equal(await value('cli-cr2', 'b'), undefined);
    assert.match(ok(await author(['cr', 'rebase', stale])), /rebased onto revision \d+/u);
    assert.match(ok(await alice(['cr', 'approve', stale])), /applied/u);
    assert.equal(await value('cli-cr2', 'b'), 'mine');

    const audit = parseJson<{ items: Array<{ action: string; details: Record<string, unknown> }> }>(
      ok(await admin(['audit', 'list', '--action', 'entries.commit', '--ns', 'cli-cr2', '--json'])),
    );
    const bypass = audit.items.find((r) => 'bypassApproval' in r.details);
    assert.equal((bypass?.details.bypassApproval as { reason: string }).reason, 'incident 7: über-urgent');
  });

  void test('herald apply becomes one change request for the whole folder', async () => {
    ok(await admin(['ns', 'create', 'cli-cr3']));
    ok(await admin(['approval', 'set', 'cli-cr3', '--required', '1']));
    const folder = await mkdtemp(join(tmpdir(), 'herald-cr-apply-'));
    await writeFile(join(folder, 'pool.yaml'), '5\n');
    await writeFile(join(folder, 'name.yaml'), 'shop\n');
    const id = requestId(ok(await author(['apply', '-f', folder, '--ns', 'cli-cr3'])));
    const shown = parseJson<{ changes: Array<{ key: string }> }>(ok(await alice(['cr', 'show', id, '--json'])));
    assert.equal(shown.changes.length, 2, JSON.stringify(shown));
    ok(await alice(['cr', 'approve', id]));
    assert.notEqual(await value('cli-cr3', shown.changes[0]?.key ?? ''), undefined);
  });
});

void describe('windows and schedules', () => {
  void test('a window refuses herald release until an admin overrides it with a reason', async () => {
    ok(await admin(['ns', 'create', 'cli-win']));
    ok(await admin(['set', 'cli-win', 'a', '1']));
    const folder = await mkdtemp(join(tmpdir(), 'herald-win-'));
    const file = join(folder, 'windows.yaml');
    const now = Date.now();
    await writeFile(
      file,
      JSON.stringify([
        { name: 'freeze', from: new Date(now - 60_000).toISOString(), to: new Date(now + 3_600_000).toISOString() },
      ]),
    );
    assert.match(ok(await admin(['windows', 'set', 'cli-win', '-f', file])), /blocked now: "freeze"/u);
    fails(await admin(['release', 'cli-win']), { line: /change window "freeze".*\[change_window\]$/u });
    assert.match(
      ok(await admin(['release', 'cli-win', '--override-window', '--reason', 'hotfix'])),
      /released cli-win as release/u,
    );
  });

  void test('herald release --at schedules it; schedule list shows it; schedule cancel cancels it', async () => {
    ok(await admin(['ns', 'create', 'cli-sched']));
    ok(await admin(['set', 'cli-sched', 'a', '1']));
    const at = new Date(Date.now() + 24 * 3_600_000).toISOString();
    const out = ok(await admin(['release', 'cli-sched', '--at', at, '-m', 'tomorrow']));
    const id = /\((SCH-[0-9a-f]+)\)/u.exec(out)?.[1];
    assert.ok(id, out);
    const listed = parseJson<{ items: Array<{ id: string; state: string; at: string }> }>(
      ok(await admin(['schedule', 'list', '--ns', 'cli-sched', '--json'])),
    );
    assert.deepEqual(
      listed.items.map((s) => [s.id, s.state, s.at]),
      [[id, 'pending', at]],
    );
    assert.match(ok(await admin(['schedule', 'list'])), new RegExp(`${id}.*cli-sched.*release.*pending`, 'u'));
    ok(await admin(['schedule', 'cancel', id, '--reason', 'not tomorrow']));
    fails(await admin(['schedule', 'cancel', id]), { line: /\[invalid_transition\]$/u });
    fails(await admin(['release', 'cli-sched', '--at', '2020-01-01T00:00:00Z']), { line: /not in the future/u });
  });
});
