/** Access (AccessStore): tokens and HMAC access keys. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { allAudit, audit, rejectsWith, token, type ConformanceTest } from './helpers.js';

export function accessConformance(test: ConformanceTest): void {
  void describe('tokens', () => {
    test('createToken, findToken by hash, listTokens in creation order', async (store) => {
      const t2 = token('t2', 2000, { expiresAt: 9000 });
      const t1 = token('t1', 1000);
      const t0 = token('t0', 2000);
      for (const t of [t2, t1, t0]) await store.createToken(t, audit('token.create', `token:${t.id}`));
      assert.deepEqual(await store.findToken(t2.tokenHash), t2);
      assert.deepEqual(await store.findToken(t1.tokenHash), t1);
      assert.equal(await store.findToken('0'.repeat(64)), undefined);
      assert.deepEqual(await store.listTokens(), [t1, t0, t2]);
    });

    test('revokeToken sets revokedAt once; an unknown token is token_not_found', async (store) => {
      const t = token('t1', 1000);
      await store.createToken(t, audit('token.create'));
      const revoked = await store.revokeToken('t1', 5000, audit('token.revoke', 'token:t1'));
      assert.deepEqual(revoked, { ...t, revokedAt: 5000 });
      assert.deepEqual(await store.findToken(t.tokenHash), revoked);
      const auditCount = (await allAudit(store)).length;
      const again = await store.revokeToken('t1', 9000, audit('token.revoke', 'token:t1'));
      assert.equal(again.revokedAt, 5000, 'a second revoke keeps the first time');
      assert.equal((await allAudit(store)).length, auditCount, 'and records nothing');
      await rejectsWith(store.revokeToken('nope', 1, audit('token.revoke')), 'token_not_found');
      assert.equal((await allAudit(store)).length, auditCount);
    });
  });

  void describe('token rotation', () => {
    test('rotateToken creates the successor and ends the old token at the overlap, in one audited step', async (store) => {
      const old = token('old', 1000);
      await store.createToken(old, audit('token.create', 'token:old'));
      const successor = token('new', 5000, { tokenHash: 'hash-of-new'.padEnd(64, '1') });
      const previous = await store.rotateToken('old', successor, 65_000, audit('token.rotate', 'token:old'));
      assert.deepEqual(previous, { ...old, expiresAt: 65_000 });
      assert.deepEqual(await store.findToken(old.tokenHash), previous);
      assert.deepEqual(await store.findToken(successor.tokenHash), successor);
      assert.deepEqual(
        (await allAudit(store)).map((r) => r.action),
        ['token.create', 'token.rotate'],
      );
    });

    test('rotateToken keeps an expiry that is sooner than the overlap', async (store) => {
      await store.createToken(token('old', 1000, { expiresAt: 10_000 }), audit('token.create'));
      const previous = await store.rotateToken('old', token('new', 5000), 99_000, audit('token.rotate'));
      assert.equal(previous.expiresAt, 10_000);
    });

    test('rotateToken of an unknown, revoked or expired token writes nothing', async (store) => {
      await store.createToken(token('gone', 1000), audit('token.create'));
      await store.revokeToken('gone', 2000, audit('token.revoke'));
      await store.createToken(token('stale', 1000, { expiresAt: 3000 }), audit('token.create'));
      const before = await allAudit(store);
      await rejectsWith(store.rotateToken('nope', token('a', 5000), 9000, audit('token.rotate')), 'token_not_found');
      await rejectsWith(
        store.rotateToken('gone', token('b', 5000), 9000, audit('token.rotate')),
        'token_not_rotatable',
      );
      await rejectsWith(
        store.rotateToken('stale', token('c', 5000), 9000, audit('token.rotate')),
        'token_not_rotatable',
      );
      assert.deepEqual(await allAudit(store), before);
      assert.deepEqual(
        (await store.listTokens()).map((t) => t.id),
        ['gone', 'stale'],
      );
    });
  });

  void describe('access keys', () => {
    test('createAccessKey makes a token and its key at once; findAccessKey finds it by token id, and sees revocation', async (store) => {
      const t = token('k1', 1000, { scopes: [{ namespaces: 'app', role: 'reader' }] });
      await store.createAccessKey(
        { token: t, encryptedSecret: 'v1:sealed' },
        audit('token.create', 'token:k1', { azure: true }),
      );
      assert.deepEqual(await store.findAccessKey('k1'), { token: t, encryptedSecret: 'v1:sealed' });
      assert.deepEqual(await store.findToken(t.tokenHash), t, 'it is a token like any other');
      assert.deepEqual(
        (await store.listTokens()).map((x) => x.id),
        ['k1'],
      );
      await store.createToken(token('plain', 2000), audit('token.create'));
      assert.equal(await store.findAccessKey('plain'), undefined, 'a plain token is not an access key');
      assert.equal(await store.findAccessKey('nope'), undefined);
      await store.revokeToken('k1', 5000, audit('token.revoke', 'token:k1'));
      assert.equal((await store.findAccessKey('k1'))?.token.revokedAt, 5000);
      assert.deepEqual(
        (await allAudit(store)).map((r) => r.action),
        ['token.create', 'token.create', 'token.revoke'],
      );
    });

    test('createAccessKey with a taken id writes nothing', async (store) => {
      await store.createToken(token('k1', 1000), audit('token.create'));
      const before = await allAudit(store);
      await assert.rejects(
        store.createAccessKey(
          { token: token('k1', 2000, { tokenHash: 'other'.padEnd(64, '0') }), encryptedSecret: 's' },
          audit('token.create'),
        ),
      );
      assert.equal(await store.findAccessKey('k1'), undefined);
      assert.deepEqual(await allAudit(store), before);
    });
  });
}
