// PostgreSQL that stops answering under load (issue 19, finding 9): `herald server --postgres`
// runs as a child process behind a TCP proxy (testkit TcpProxy) while concurrent writers PUT
// entries, and the proxy alternately pauses (stops reading, as a SIGSTOPped PostgreSQL looks from
// the client: nothing closes, nothing answers) and blackholes (reads and drops on the floor until
// the heal, as a network that loses packets). The machine's shared PostgreSQL itself is never
// stopped. Checked: every request is answered within the node's deadline plus a generous slack
// (a bound on hanging, not a performance figure); every failure during a fault is 503
// problem+json with Retry-After and a catalogue code; /readyz says unready during each fault;
// writes succeed again after each heal (a bounded wait); no acknowledged write is lost.
// HERALD_PG_STALL_CYCLES cycles (default 2: one pause, one blackhole), each fault held
// HERALD_PG_STALL_MS (default 10000: longer than the deadline and its slack, so a request held for the whole stall fails the test); prints its figures as one line of JSON.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import {
  createTestDatabase,
  eventually,
  startHeraldProcess,
  TcpProxy,
  testAdminToken,
  testAdminUrl,
  type ServerProcess,
} from '@herald/testkit';

const cycles = positive(process.env.HERALD_PG_STALL_CYCLES, 2);
const stallMs = positive(process.env.HERALD_PG_STALL_MS, 10_000);
const deadlineMs = 3000;
/** What "answered in time" allows on top of the deadline: a loaded machine, not a hang. */
const slackMs = 5000;
const writerCount = 4;
const ns = 'pgstall';

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

void test(`requests are answered in time and no acknowledged write is lost over ${cycles} PostgreSQL stalls`, async (t) => {
  const database = await createTestDatabase();
  t.after(() => database.drop());
  const target = new URL(testAdminUrl());
  const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  t.after(async () => {
    proxy.resume();
    proxy.heal();
    await proxy.close();
  });
  const proxied = new URL(database.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const server: ServerProcess = await startHeraldProcess([
    'server',
    '--postgres',
    proxied.toString(),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'fatal',
    '--pg-connect-timeout',
    '1000',
    '--pg-statement-timeout',
    '8000',
    '--request-deadline',
    String(deadlineMs),
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
  const late: string[] = [];
  const badFailures: string[] = [];
  const codes: Record<string, number> = {};
  let attempted = 0;
  let slowestMs = 0;
  let writing = true;
  const writer = async (w: number): Promise<void> => {
    while (writing) {
      const value = ++attempted;
      const key = `w${w}/k${value % 5}`;
      const started = performance.now();
      try {
        const response = await fetch(new URL(`/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`, url), {
          method: 'PUT',
          headers,
          body: JSON.stringify({ value }),
          signal: AbortSignal.timeout(60_000),
        });
        const text = await response.text();
        const tookMs = performance.now() - started;
        slowestMs = Math.max(slowestMs, tookMs);
        if (tookMs > deadlineMs + slackMs) late.push(`${response.status} after ${Math.round(tookMs)} ms`);
        if (response.status === 200) {
          acked.push({ key, value, revision: (JSON.parse(text) as { revision: number }).revision });
          continue;
        }
        const code = (JSON.parse(text) as { code?: string }).code ?? 'none';
        codes[code] = (codes[code] ?? 0) + 1;
        if (
          response.status !== 503 ||
          !(response.headers.get('content-type') ?? '').startsWith('application/problem+json') ||
          response.headers.get('retry-after') === null ||
          !['deadline_exceeded', 'unavailable'].includes(code)
        )
          badFailures.push(`${response.status} ${text.slice(0, 200)}`);
        await sleep(50);
      } catch (error) {
        badFailures.push(`no answer after ${Math.round(performance.now() - started)} ms: ${(error as Error).message}`);
      }
    }
  };
  const writers = Array.from({ length: writerCount }, (_, w) => writer(w));

  /** /readyz's status, and whether it answered in time. */
  const readiness = async (): Promise<number> => {
    const started = performance.now();
    const response = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(60_000) });
    await response.text();
    const tookMs = performance.now() - started;
    if (tookMs > deadlineMs + slackMs) late.push(`/readyz ${response.status} after ${Math.round(tookMs)} ms`);
    return response.status;
  };

  const recoveries: number[] = [];
  let unreadySeen = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    const mode = cycle % 2 === 0 ? 'pause' : 'blackhole';
    const before = acked.length;
    await eventually(() => acked.length > before + 5, {
      message: `cycle ${cycle}: the server commits before the ${mode}`,
      timeoutMs: 60_000,
    });
    if (mode === 'pause') proxy.pause();
    else proxy.blackhole();
    const faultStarted = performance.now();
    try {
      const unready = await eventually(async () => (await readiness()) === 503, {
        message: `cycle ${cycle}: /readyz unready during the ${mode}`,
        timeoutMs: stallMs + 30_000,
        intervalMs: 250,
      });
      if (unready) unreadySeen += 1;
      const left = stallMs - (performance.now() - faultStarted);
      if (left > 0) await sleep(left);
    } finally {
      if (mode === 'pause') proxy.resume();
      else proxy.heal();
    }
    const healed = performance.now();
    const atHeal = acked.length;
    await eventually(() => acked.length > atHeal, {
      message: `cycle ${cycle}: a write acknowledged after the ${mode} ended`,
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    recoveries.push(Math.round(performance.now() - healed));
    await eventually(async () => (await readiness()) === 200, {
      message: `cycle ${cycle}: /readyz ready after the ${mode}`,
      timeoutMs: 60_000,
      intervalMs: 250,
    });
  }
  writing = false;
  await Promise.all(writers);

  // Every acknowledged write, read back as of its revision.
  let lost = 0;
  for (const ack of acked) {
    const response = await fetch(
      new URL(`/v1/namespaces/${ns}/entries/${encodeURIComponent(ack.key)}?asOf=${ack.revision}`, url),
      { headers, signal: AbortSignal.timeout(30_000) },
    );
    const body = (await response.json()) as { value?: unknown; revision?: number };
    if (response.status !== 200 || body.value !== ack.value || body.revision !== ack.revision) lost += 1;
  }
  console.log(
    JSON.stringify({
      suite: 'fault-postgres-unresponsive',
      cases: attempted,
      faults: cycles,
      stallMs,
      deadlineMs,
      acknowledged: acked.length,
      lost,
      refusedByCode: codes,
      slowestAnswerMs: Math.round(slowestMs),
      answeredLate: late.length,
      unreadyDuringFault: unreadySeen,
      firstWriteAfterHealMs: recoveries,
      otherFailures: badFailures.length,
    }),
  );
  assert.equal(lost, 0, 'acknowledged writes lost');
  assert.deepEqual(late.slice(0, 10), [], `answers later than the deadline (${deadlineMs} ms) + ${slackMs} ms`);
  assert.deepEqual(badFailures.slice(0, 10), [], 'failures other than 503 with Retry-After and a catalogue code');
  assert.equal(unreadySeen, cycles, '/readyz unready during every fault');
});
