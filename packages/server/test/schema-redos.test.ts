// Finding 3 of issue 19: a JSON Schema `pattern` ran a backtracking RegExp on the event loop, so
// `^(a+)+$` and a 40-character value blocked every request for longer than a test can wait. The
// server runs as a child process here, so a blocked server cannot also block the test's clock.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess;

before(async () => {
  dir = await tempDir();
  server = await startHeraldProcess(['server', '--data', dir.path, '--listen', '127.0.0.1:0', '--log-level', 'error']);
});

after(async () => {
  await server.kill();
  await dir.cleanup();
});

async function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    // A liveness guard, not a timing assertion: the old code needed hours for this value.
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

void it('a catastrophic-backtracking pattern neither blocks the server nor fails the write', async () => {
  const created = await send('POST', '/v1/namespaces', {
    name: 'redos',
    schema: {
      prefixes: [{ prefix: 'names/', schema: { type: 'string', pattern: '^(a+)+$' } }],
      document: { type: 'object', patternProperties: { '^(b+)+$': { type: 'integer' } } },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const evil = `${'a'.repeat(40)}!`;
  const write = send('PUT', '/v1/namespaces/redos/entries/names%2Fevil', { value: evil });
  const evilKey = send('PUT', `/v1/namespaces/redos/entries/${'b'.repeat(40)}c`, { value: 'x' });
  // Another request sent while those are being checked is answered: the event loop is free.
  const meanwhile = await send('GET', '/v1/namespaces/redos');
  assert.equal(meanwhile.status, 200);
  const refused = await write;
  assert.equal(refused.status, 422);
  assert.equal((refused.body as { code: string }).code, 'schema_violation');
  const keyWrite = await evilKey;
  assert.equal(keyWrite.status, 200, `the key matches no patternProperties pattern: ${JSON.stringify(keyWrite.body)}`);
  const good = await send('PUT', '/v1/namespaces/redos/entries/names%2Fgood', { value: 'a'.repeat(40) });
  assert.equal(good.status, 200, JSON.stringify(good.body));
});

void it('a pattern with no linear-time match (lookahead, backreference) is refused as invalid_schema', async () => {
  for (const pattern of ['^(?=a)a$', '^(a)\\1$']) {
    const response = await send('PUT', '/v1/namespaces/redos/schema', {
      schema: { prefixes: [{ prefix: 'x/', schema: { type: 'string', pattern } }] },
    });
    assert.equal(response.status, 400, pattern);
    assert.equal((response.body as { code: string }).code, 'invalid_schema', pattern);
  }
});
