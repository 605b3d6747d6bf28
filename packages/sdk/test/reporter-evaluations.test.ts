// Flag evaluation counts in the SDK's reports, against real HTTP servers on loopback that answer
// as a current control plane would (202), as an overloaded one (503), and as one from before the
// counts (400 for the unknown field): each count is sent once, kept through a failure, and an
// older server's refusal stops the counts, not the reports.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { resolveOptions } from '../src/options.js';
import { Reporter } from '../src/reporter.js';

interface Seen {
  evaluations?: Array<{ namespace: string; flag: string; variant: string; count: number }>;
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A report endpoint: `answer` decides the status of each report body. */
async function reportServer(answer: (body: Seen) => number): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const body = JSON.parse(text) as Seen;
      seen.push(body);
      const status = answer(body);
      response.writeHead(status, {
        'content-type': status === 202 ? 'application/json' : 'application/problem+json',
      });
      response.end(
        JSON.stringify(status === 202 ? { accepted: true } : { status, code: 'invalid_request', detail: 'no' }),
      );
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function reporter(url: string): Reporter {
  const options = resolveOptions({
    url,
    token: 't',
    instanceId: 'i-1',
    views: [{ namespace: 'shop' }],
    trustedKeys: 'tofu',
    reportIntervalMs: 3_600_000,
  });
  const r = new Reporter({ options, views: () => [], status: () => undefined });
  r.start();
  return r;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(check(), what);
}

void test('counts go with the next report, once each, and survive a failed report', async () => {
  let failNext = false;
  const server = await reportServer(() => (failNext ? ((failNext = false), 503) : 202));
  const r = reporter(server.url);
  r.countEvaluation('shop', 'checkout', 'on');
  r.countEvaluation('shop', 'checkout', 'on');
  r.countEvaluation('shop', 'checkout', 'off');
  r.soon();
  await until(() => server.seen.length === 1, 'the first report');
  assert.deepEqual(server.seen[0]?.evaluations, [
    { namespace: 'shop', flag: 'checkout', variant: 'on', count: 2 },
    { namespace: 'shop', flag: 'checkout', variant: 'off', count: 1 },
  ]);
  r.soon();
  await until(() => server.seen.length === 2, 'the second report');
  assert.equal(server.seen[1]?.evaluations, undefined, 'counts already sent are not sent again');
  failNext = true;
  r.countEvaluation('shop', 'banner', 'blue', 5);
  r.soon();
  await until(() => server.seen.length === 3, 'the failed report');
  // The retry after a 503 comes with backoff; ask again rather than wait for it.
  await until(() => {
    r.soon();
    return server.seen.length >= 4;
  }, 'the report after the failure');
  assert.deepEqual(server.seen.at(-1)?.evaluations, [{ namespace: 'shop', flag: 'banner', variant: 'blue', count: 5 }]);
  r.stop();
  await r.finish(false, undefined);
});

void test('an older server that refuses the field: the counts stop, the reports go on', async () => {
  const server = await reportServer((body) => (body.evaluations ? 400 : 202));
  const r = reporter(server.url);
  r.countEvaluation('shop', 'checkout', 'on');
  r.soon();
  await until(() => server.seen.length === 1, 'the refused report');
  r.countEvaluation('shop', 'checkout', 'on');
  r.soon();
  await until(() => server.seen.length === 2, 'the next report');
  assert.equal(server.seen[1]?.evaluations, undefined);
  r.stop();
  await r.finish(false, undefined);
});
