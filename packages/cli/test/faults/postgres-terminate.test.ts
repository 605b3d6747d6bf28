// PostgreSQL backends terminated under load: `herald server --postgres` runs as a child process
// while concurrent writers PUT entries, and every backend of its database is terminated
// (pg_terminate_backend) again and again. Every acknowledged write must be in the store at the
// revision it was acknowledged with, no revision twice; every failure a writer sees is a 503
// problem+json with Retry-After (never a hang past the writer's bound, never another 5xx); and the
// server commits again after each round. HERALD_PG_FAULT_ROUNDS rounds (default 10); prints its
// figures as one line of JSON.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import {
  createTestDatabase,
  eventually,
  startHeraldProcess,
  terminateBackends,
  testAdminToken,
  type ServerProcess,
} from '@herald/testkit';

const rounds = positive(process.env.HERALD_PG_FAULT_ROUNDS, 10);
const writerCount = 6;
const ns = 'pgfaults';

function positive(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  assert.match(text, /^[1-9]\d*$/u, 'must be a positive integer');
  return Number(text);
}

const headers = { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' };

interface Ack {
  key: string;
  value: number;
  revision: number;
}

void test(`acknowledged writes survive ${rounds} rounds of terminated PostgreSQL backends under load`, async (t) => {
  const database = await createTestDatabase();
  t.after(() => database.drop());
  const server: ServerProcess = await startHeraldProcess([
    'server',
    '--postgres',
    database.url,
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
  ]);
  t.after(() => server.kill());
  const url = server.url;
  const created = await fetch(new URL('/v1/namespaces', url), {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: ns }),
  });
  assert.equal(created.status, 201, await created.text());

  const acked: Ack[] = [];
  const badFailures: string[] = [];
  let attempted = 0;
  let unavailable = 0;
  let writing = true;
  const writer = async (w: number): Promise<void> => {
    while (writing) {
      const value = ++attempted;
      const key = `w${w}/k${value % 5}`;
      try {
        const response = await fetch(new URL(`/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`, url), {
          method: 'PUT',
          headers,
          body: JSON.stringify({ value }),
          signal: AbortSignal.timeout(60_000),
        });
        const text = await response.text();
        if (response.status === 200) {
          acked.push({ key, value, revision: (JSON.parse(text) as { revision: number }).revision });
        } else if (
          response.status === 503 &&
          (response.headers.get('content-type') ?? '').startsWith('application/problem+json') &&
          response.headers.get('retry-after') !== null
        ) {
          unavailable += 1;
          await sleep(50);
        } else {
          badFailures.push(`${response.status} ${text.slice(0, 200)}`);
        }
      } catch (error) {
        badFailures.push(`no answer: ${(error as Error).message}`);
      }
    }
  };
  const writers = Array.from({ length: writerCount }, (_, w) => writer(w));

  let terminated = 0;
  for (let round = 1; round <= rounds; round++) {
    const before = acked.length;
    await eventually(() => acked.length > before + 5, {
      message: `round ${round}: the server commits again`,
      timeoutMs: 60_000,
    });
    terminated += await terminateBackends(database.name);
  }
  const afterFaults = acked.length;
  await eventually(() => acked.length > afterFaults + 5, {
    message: 'commits after the last round',
    timeoutMs: 60_000,
  });
  writing = false;
  await Promise.all(writers);

  // Every acknowledged write, read back as of its revision; no revision acknowledged twice.
  const revisions = new Set<number>();
  let lost = 0;
  for (const ack of acked) {
    assert.ok(!revisions.has(ack.revision), `revision ${ack.revision} acknowledged twice`);
    revisions.add(ack.revision);
    const response = await fetch(
      new URL(`/v1/namespaces/${ns}/entries/${encodeURIComponent(ack.key)}?asOf=${ack.revision}`, url),
      { headers, signal: AbortSignal.timeout(30_000) },
    );
    const body = (await response.json()) as { value?: unknown; revision?: number };
    if (response.status !== 200 || body.value !== ack.value || body.revision !== ack.revision) lost += 1;
  }
  console.log(
    JSON.stringify({
      suite: 'fault-postgres-terminate',
      cases: attempted,
      faults: rounds,
      backendsTerminated: terminated,
      acknowledged: acked.length,
      lost,
      unavailable,
      otherFailures: badFailures.length,
    }),
  );
  assert.equal(lost, 0, 'acknowledged writes lost');
  assert.deepEqual(badFailures.slice(0, 10), [], 'failures other than 503 with Retry-After');
});
