// The HTTP side of the rollout gates (issue 15): what a Prometheus-compatible server or a check
// URL may answer, served for real on loopback, and what the probes make of it. A real Prometheus
// answering real queries is in cli/test/metric-gates-e2e.test.ts; these are the answers it gives
// only when something is wrong (errors, odd result types, huge or slow answers).
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { probeUrl, queryPrometheus } from '@herald/server';

let server: Server;
let base: string;
const held = new Set<ServerResponse>();

const answers: Record<string, (url: URL) => { status: number; body: string } | 'hang'> = {
  '/vector': () => ({
    status: 200,
    body: JSON.stringify({
      status: 'success',
      data: {
        resultType: 'vector',
        result: [
          { metric: { a: '1' }, value: [1, '0.5'] },
          { metric: { a: '2' }, value: [1, 'NaN'] },
          { metric: { a: '3' }, value: [1, '2'] },
        ],
      },
    }),
  }),
  '/scalar': () => ({
    status: 200,
    body: JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '7'] } }),
  }),
  '/empty': () => ({
    status: 200,
    body: JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }),
  }),
  '/matrix': () => ({
    status: 200,
    body: JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }),
  }),
  '/bad': () => ({
    status: 400,
    body: JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 3' }),
  }),
  '/html': () => ({ status: 502, body: '<html>bad gateway</html>' }),
  '/huge': () => ({ status: 200, body: 'x'.repeat(2 * 1024 * 1024) }),
  '/slow': () => 'hang',
  '/check-ok': () => ({ status: 204, body: '' }),
  '/check-503': () => ({ status: 503, body: 'down' }),
  '/check-json': () => ({ status: 200, body: JSON.stringify({ pass: false, value: 3 }) }),
};

before(async () => {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const key = url.pathname.replace(/\/api\/v1\/query$/u, '');
    const answer = answers[key]?.(url) ?? { status: 404, body: '' };
    if (answer === 'hang') {
      held.add(response);
      return;
    }
    response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  for (const response of held) response.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

void describe('queryPrometheus', () => {
  void test('a vector gives one value per series, NaN left out; a scalar its value; an empty vector none', async () => {
    assert.deepEqual(await queryPrometheus(`${base}/vector`, 'q', 5000), { values: [0.5, 2] });
    assert.deepEqual(await queryPrometheus(`${base}/scalar/`, 'q', 5000), { values: [7] });
    assert.deepEqual(await queryPrometheus(`${base}/empty`, 'q', 5000), { values: [] });
  });

  void test('an error, another result type, a non-JSON, a huge or a slow answer is an error, said why', async () => {
    assert.match((await queryPrometheus(`${base}/bad`, 'q', 5000)).error ?? '', /^bad_data: parse error at char 3$/u);
    assert.match((await queryPrometheus(`${base}/matrix`, 'q', 5000)).error ?? '', /returned a matrix/u);
    assert.match((await queryPrometheus(`${base}/html`, 'q', 5000)).error ?? '', /HTTP 502: the answer is not JSON/u);
    assert.match((await queryPrometheus(`${base}/huge`, 'q', 5000)).error ?? '', /over 1048576 bytes/u);
    assert.match((await queryPrometheus(`${base}/slow`, 'q', 300)).error ?? '', /no answer within 300 ms/u);
  });
});

void describe('probeUrl', () => {
  void test('2xx passes, anything else fails; a JSON body decides instead and gives its value', async () => {
    assert.deepEqual(await probeUrl(`${base}/check-ok`, 5000), { values: [], pass: true });
    assert.deepEqual(await probeUrl(`${base}/check-503`, 5000), { values: [], pass: false });
    assert.deepEqual(await probeUrl(`${base}/check-json`, 5000), { values: [3], pass: false });
  });

  void test('no answer is an error, not a verdict', async () => {
    const result = await probeUrl(`${base}/slow`, 300);
    assert.equal(result.pass, undefined);
    assert.match(result.error ?? '', /no answer within 300 ms/u);
  });
});
