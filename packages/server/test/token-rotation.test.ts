// Token rotation on a real server with a manual clock: the successor has the old token's name and
// scopes, both work during the overlap, the old one is `token_expired` after it, and the step is
// audited. A revoked or expired token cannot be rotated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken } from './helpers.js';

interface TokenInfo {
  id: string;
  name: string;
  scopes: unknown[];
  expiresAt: string | null;
}

let ts: TestServer;
const clock = new ManualClock();

before(async () => {
  ts = await startTestServer({ clock });
  await createNamespace(ts, 'pay');
});

after(() => ts.close());

void describe('token rotation', () => {
  void it('gives a successor with the same name and scopes; the old token works until the overlap ends', async () => {
    const scopes = [{ namespaces: 'pay', role: 'reader' }];
    const old = await createToken(ts, scopes, { name: 'agent-west' });
    const rotated = await call(ts, 'POST', `/v1/tokens/${old.id}/rotate`, { body: { overlapSeconds: 600 } });
    assert.equal(rotated.status, 201, rotated.text);
    const body = rotated.json as { token: string; info: TokenInfo; previous: TokenInfo };
    assert.notEqual(body.info.id, old.id);
    assert.notEqual(body.token, old.token);
    assert.equal(body.info.name, 'agent-west');
    assert.deepEqual(body.info.scopes, scopes);
    assert.equal(body.info.expiresAt, null, 'a token without expiry has a successor without expiry');
    assert.equal(body.previous.expiresAt, new Date(clock.now() + 600_000).toISOString());

    const read = (token: string) => call(ts, 'GET', '/v1/namespaces/pay', { token });
    assert.equal((await read(old.token)).status, 200, 'the old token during the overlap');
    assert.equal((await read(body.token)).status, 200, 'the successor at once');
    clock.advance(599_999);
    assert.equal((await read(old.token)).status, 200, 'the old token 1 ms before the overlap ends');
    clock.advance(1);
    assertProblem(await read(old.token), 'token_expired', 'the old token after the overlap');
    assert.equal((await read(body.token)).status, 200, 'the successor after the overlap');

    const audit = (await call(ts, 'GET', '/v1/audit')).json as { items: Array<{ action: string; target: string }> };
    assert.ok(audit.items.some((r) => r.action === 'token.rotate' && r.target === `token:${old.id}`));
    // Rotating it again is refused: it has expired.
    assertProblem(await call(ts, 'POST', `/v1/tokens/${old.id}/rotate`, { body: {} }), 'token_not_rotatable');
  });

  void it('keeps the lifetime of a token that expires, and refuses revoked, unknown and non-admin rotations', async () => {
    const timed = await createToken(ts, [{ namespaces: 'pay', role: 'reader' }], { expiresInSeconds: 3600 });
    const rotated = await call(ts, 'POST', `/v1/tokens/${timed.id}/rotate`, { body: { overlapSeconds: 0 } });
    assert.equal(rotated.status, 201, rotated.text);
    const body = rotated.json as { token: string; info: TokenInfo };
    assert.equal(body.info.expiresAt, new Date(clock.now() + 3600_000).toISOString());
    assertProblem(await call(ts, 'GET', '/v1/namespaces/pay', { token: timed.token }), 'token_expired', 'overlap 0');

    const revoked = await createToken(ts, [{ namespaces: 'pay', role: 'reader' }]);
    assert.equal((await call(ts, 'DELETE', `/v1/tokens/${revoked.id}`)).status, 200);
    assertProblem(await call(ts, 'POST', `/v1/tokens/${revoked.id}/rotate`, { body: {} }), 'token_not_rotatable');
    assertProblem(await call(ts, 'POST', '/v1/tokens/no-such-id/rotate', { body: {} }), 'token_not_found');
    assertProblem(
      await call(ts, 'POST', `/v1/tokens/${body.info.id}/rotate`, { body: {}, token: body.token }),
      'forbidden',
      'a reader may not rotate, not even itself',
    );
    assertProblem(
      await call(ts, 'POST', `/v1/tokens/${body.info.id}/rotate`, { body: { overlapSeconds: -1 } }),
      'invalid_request',
    );
  });
});
