// A scheduled release survives the loss of the leader (issue 15): two `herald server --postgres`
// child processes on one fresh database; a release scheduled (`herald release NS --at`) through the
// follower; the leader killed with SIGKILL before the time comes; the other node, leader now,
// carries the release out once, and `herald schedule list` shows it done with the release it made.
//
// The schedule is set far enough ahead that the kill lands before it is due (checked: the schedule
// is still pending when the leader dies); every wait is a bounded poll, never a timing assertion.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import {
  createTestDatabase,
  eventually,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type ServerProcess,
  type TestDatabase,
} from '@herald/testkit';
import { heraldAt, ok, parseJson } from './helpers.js';

delete process.env.HERALD_SECRET_KEY;
delete process.env.HERALD_POSTGRES_URL;

let db: TestDatabase;
let dir: { path: string; cleanup: () => Promise<void> };
let keyFile: string;
const started: ServerProcess[] = [];

before(async () => {
  dir = await tempDir('herald-schedule-failover-');
  keyFile = join(dir.path, 'secret.key');
  await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  db = await createTestDatabase();
});

after(async () => {
  for (const child of started) await child.kill('SIGKILL').catch(() => undefined);
  await db?.drop().catch(() => undefined);
  await dir?.cleanup().catch(() => undefined);
});

async function startNode(id: string): Promise<ServerProcess> {
  const child = await startHeraldProcess(
    [
      'server',
      '--postgres',
      db.url,
      '--listen',
      '127.0.0.1:0',
      '--node-id',
      id,
      '--data',
      join(dir.path, id),
      '--secret-key-file',
      keyFile,
      '--log-level',
      'error',
    ],
    {},
    60_000,
  );
  started.push(child);
  return child;
}

async function isLeader(node: ServerProcess): Promise<boolean> {
  const response = await fetch(new URL('/v1/cluster', node.url), {
    headers: { authorization: `Bearer ${testAdminToken}` },
    signal: AbortSignal.timeout(10_000),
  });
  return ((await response.json()) as { node: { leader: boolean } }).node.leader;
}

interface Schedule {
  id: string;
  state: string;
  outcome?: { releaseSeq?: number };
}

void test('a release scheduled on PostgreSQL is carried out by the next leader after SIGKILL of the leader', async () => {
  const a = await startNode('node-a');
  const b = await startNode('node-b');
  const leaders = await eventually(
    async () => {
      const flags = await Promise.all([isLeader(a), isLeader(b)]);
      return flags.filter(Boolean).length === 1 ? flags : undefined;
    },
    { message: 'exactly one leader', timeoutMs: 60_000, intervalMs: 200 },
  );
  const [leader, follower] = leaders[0] ? [a, b] : [b, a];
  const onFollower = heraldAt(follower.url, testAdminToken);

  ok(await onFollower(['ns', 'create', 'sched-ha']));
  ok(await onFollower(['set', 'sched-ha', 'color', '"blue"']));
  const at = new Date(Date.now() + 20_000).toISOString();
  const out = ok(await onFollower(['release', 'sched-ha', '--at', at, '-m', 'at the hour']));
  const id = /\((SCH-[0-9a-f]+)\)/u.exec(out)?.[1];
  assert.ok(id, out);
  const list = async (): Promise<Schedule | undefined> =>
    parseJson<{ items: Schedule[] }>(ok(await onFollower(['schedule', 'list', '--ns', 'sched-ha', '--json']))).items[0];

  assert.equal((await list())?.state, 'pending', 'the leader is killed before the schedule is due');
  assert.equal(await leader.kill('SIGKILL'), 'SIGKILL');

  await eventually(async () => isLeader(follower), {
    message: 'the survivor becomes leader',
    timeoutMs: 90_000,
    intervalMs: 500,
  });
  const done = await eventually(
    async () => {
      const schedule = await list();
      return schedule?.state === 'done' || schedule?.state === 'failed' ? schedule : undefined;
    },
    { message: 'the schedule is carried out', timeoutMs: 120_000, intervalMs: 500 },
  );
  assert.equal(done.state, 'done', JSON.stringify(done));
  const releases = parseJson<{ items: Array<{ seq: number; note: string }> }>(
    ok(await onFollower(['releases', 'sched-ha', '--json'])),
  ).items;
  // The commit made release 1 (the namespace's policy is immediate); the schedule made one more, once.
  const scheduled = releases.filter((r) => r.note === 'at the hour');
  assert.equal(scheduled.length, 1, JSON.stringify(releases));
  assert.equal(done.outcome?.releaseSeq, scheduled[0]?.seq);
  const audit = parseJson<{ items: Array<{ action: string }> }>(
    ok(await onFollower(['audit', 'list', '--action', 'schedule', '--ns', 'sched-ha', '--json'])),
  ).items.map((r) => r.action);
  for (const action of ['schedule.create', 'schedule.start', 'schedule.run'])
    assert.ok(audit.includes(action), `${action} is audited: ${audit.join(', ')}`);
});
