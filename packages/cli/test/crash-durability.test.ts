// Durability (issue 2): a commit is acknowledged only once it is durable. `herald server` runs as a
// child process on a temp SQLite folder while concurrent writers PUT entries through the REST API;
// at a random moment the server is killed with SIGKILL, restarted on the same folder, and the store
// is checked: every acknowledged write is there at the revision it was acknowledged with, the
// revisions of the namespace are 1..max with no hole and no duplicate, and revisions keep growing
// across restarts. Writes that got no answer before the kill are unknown: present or not, but if
// present, in sequence and applied once. Repeated for HERALD_CRASH_CYCLES cycles (default 20).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const cycles = parseCycles(process.env.HERALD_CRASH_CYCLES);
const writerCount = 8;
const keyCount = 12;
const ns = 'durability';

function parseCycles(text: string | undefined): number {
  if (text === undefined || text === '') return 20;
  assert.match(text, /^[1-9]\d*$/u, 'HERALD_CRASH_CYCLES must be a positive integer');
  return Number(text);
}

interface Ack {
  key: string;
  value: number;
  revision: number;
  cycle: number;
}

interface Commit {
  revision: number;
  changes: Array<{ op: string; key: string; label: string; entry?: { value: unknown } }>;
}

const headers = {
  authorization: `Bearer ${testAdminToken}`,
  'content-type': 'application/json',
  accept: 'application/json',
};

async function api<T>(url: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(new URL(path, url), {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  assert.ok(response.ok, `${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Every commit of the namespace, oldest first, following `next` cursors. */
async function allCommits(url: string): Promise<Commit[]> {
  const commits: Commit[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ order: 'oldest', limit: '1000', ...(cursor ? { cursor } : {}) });
    const page = await api<{ items: Commit[]; next?: string }>(url, `/v1/namespaces/${ns}/history?${query.toString()}`);
    commits.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return commits;
}

function startServer(data: string): Promise<ServerProcess> {
  return startHeraldProcess(['server', '--data', data, '--listen', '127.0.0.1:0', '--log-level', 'error']);
}

void test(`acknowledged commits survive SIGKILL of the server (${cycles} cycles, ${writerCount} concurrent writers)`, async (t) => {
  const dir = await tempDir('herald-crash-');
  const data = join(dir.path, 'data');
  let server = await startServer(data);
  t.after(async () => {
    await server.kill();
    await dir.cleanup();
  });
  await api(server.url, '/v1/namespaces', { method: 'POST', body: { name: ns } });

  const acked: Ack[] = [];
  /** Writes the server answered with an error: they must not be in the store. */
  const refused = new Set<number>();
  let attempted = 0;
  let unknown = 0;
  let lost = 0;
  let unknownPresent = 0;
  /** The highest revision known to be committed (verified after the previous restart). */
  let committedMax = 0;

  /** Checks the store behind `url` against everything acknowledged so far; returns its highest revision. */
  const verify = async (url: string, cycle: number): Promise<number> => {
    const commits = await allCommits(url);
    const revisions = commits.map((c) => c.revision);
    // 1..max, no hole and no duplicate: the i-th commit (oldest first) is revision i + 1.
    const firstBad = revisions.findIndex((r, i) => r !== i + 1);
    assert.equal(
      firstBad,
      -1,
      `cycle ${cycle}: revisions are not 1..${revisions.length}: at position ${firstBad} found ${revisions[firstBad]}`,
    );
    const max = revisions.length;
    assert.ok(max >= committedMax, `cycle ${cycle}: the revision went back from ${committedMax} to ${max}`);

    const byRevision = new Map<number, { key: string; value: unknown }>();
    const seenValues = new Set<number>();
    for (const commit of commits) {
      assert.equal(commit.changes.length, 1, `revision ${commit.revision} has ${commit.changes.length} changes`);
      const change = commit.changes[0];
      assert.ok(change && change.op === 'set' && change.entry, `revision ${commit.revision} is a set with its value`);
      const value = change.entry.value;
      assert.ok(
        typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= attempted,
        `revision ${commit.revision}: ${String(value)} was never written`,
      );
      assert.ok(!seenValues.has(value), `value ${value} was committed twice`);
      assert.ok(!refused.has(value), `value ${value} was refused by the server, yet it is in the store`);
      seenValues.add(value);
      byRevision.set(commit.revision, { key: change.key, value });
    }

    let lostNow = 0;
    for (const ack of acked) {
      const found = byRevision.get(ack.revision);
      if (found?.key !== ack.key || found.value !== ack.value) {
        lostNow += 1;
        t.diagnostic(
          `LOST: ${ack.key}=${ack.value} acknowledged at revision ${ack.revision} in cycle ${ack.cycle}; store has ${JSON.stringify(found)}`,
        );
      }
    }
    lost = Math.max(lost, lostNow);

    // An independent read path for a sample: the entry as of its acknowledged revision.
    const sample = acked.filter((a) => a.cycle === cycle - 1).slice(-20);
    for (const ack of sample) {
      const entry = await api<{ value: unknown; revision: number }>(
        url,
        `/v1/namespaces/${ns}/entries/${ack.key}?asOf=${ack.revision}`,
      );
      assert.deepEqual([entry.value, entry.revision], [ack.value, ack.revision], `${ack.key} as of ${ack.revision}`);
    }
    // The live entries agree with the newest commit of each key.
    const newest = new Map<string, number>();
    for (const commit of commits) newest.set(commit.changes[0]?.key ?? '', commit.revision);
    for (const [key, revision] of newest) {
      const entry = await api<{ value: unknown; revision: number }>(url, `/v1/namespaces/${ns}/entries/${key}`);
      assert.deepEqual([entry.value, entry.revision], [byRevision.get(revision)?.value, revision], `live ${key}`);
    }
    return max;
  };

  const writer = async (url: string, cycle: number, stop: { stopped: boolean }): Promise<void> => {
    while (!stop.stopped) {
      attempted += 1;
      const value = attempted;
      const key = `k${value % keyCount}`;
      let response: Response;
      let body: { revision?: unknown; value?: unknown };
      try {
        response = await fetch(`${url}/v1/namespaces/${ns}/entries/${key}`, {
          method: 'PUT',
          headers,
          body: JSON.stringify({ value }),
          signal: AbortSignal.timeout(30_000),
        });
        body = (await response.json()) as typeof body;
      } catch {
        // No (complete) answer: the server is gone. This write may or may not have committed.
        unknown += 1;
        if (!stop.stopped) await sleep(5);
        continue;
      }
      if (!response.ok) {
        refused.add(value);
        continue;
      }
      assert.equal(typeof body.revision, 'number', `PUT answered ${JSON.stringify(body)}`);
      assert.equal(body.value, value);
      acked.push({ key, value, revision: body.revision as number, cycle });
    }
  };

  for (let cycle = 1; cycle <= cycles; cycle += 1) {
    if (cycle > 1) server = await startServer(data);
    committedMax = await verify(server.url, cycle);
    const ackedBefore = acked.length;

    const stop = { stopped: false };
    const writers = Array.from({ length: writerCount }, () => writer(server.url, cycle, stop));
    await sleep(50 + Math.floor(Math.random() * 350));
    const ended = await server.kill('SIGKILL');
    assert.equal(ended, 'SIGKILL', 'the server was killed, not stopped');
    stop.stopped = true;
    await Promise.all(writers);

    // Revisions keep increasing across restarts: nothing acknowledged after a restart reuses a
    // revision that was committed before it.
    const fresh = acked.slice(ackedBefore);
    for (const ack of fresh)
      assert.ok(
        ack.revision > committedMax,
        `cycle ${cycle}: acknowledged revision ${ack.revision} is not above ${committedMax}`,
      );
  }

  server = await startServer(data);
  const finalMax = await verify(server.url, cycles + 1);
  const presentValues = new Set((await allCommits(server.url)).map((c) => c.changes[0]?.entry?.value));
  const ackedValues = new Set(acked.map((a) => a.value));
  for (const value of presentValues) if (typeof value === 'number' && !ackedValues.has(value)) unknownPresent += 1;

  const summary =
    `crash durability: ${cycles} SIGKILL cycles, ${writerCount} writers, ${attempted} writes attempted, ` +
    `${acked.length} acknowledged, ${lost} lost, ${refused.size} refused, ${unknown} unanswered ` +
    `(${unknownPresent} of them committed), final revision ${finalMax}`;
  t.diagnostic(summary);
  // The figures as one line of JSON, for RELIABILITY.md.
  console.log(
    JSON.stringify({
      suite: 'fault-sigkill-commits',
      cases: attempted,
      faults: cycles,
      acknowledged: acked.length,
      lost,
      unanswered: unknown,
      finalRevision: finalMax,
    }),
  );
  assert.equal(lost, 0, 'acknowledged writes lost');
  assert.ok(acked.length >= cycles, `too few acknowledged writes to mean anything: ${acked.length}`);
  assert.equal(
    finalMax,
    acked.length + unknownPresent,
    'every committed revision is an acknowledged write or an unanswered one',
  );
});
