// The audit log: every admin action appends exactly one hash-chained record (and a refused one
// none); GET /v1/audit/verify checks the chain. Then the SQLite file is tampered with directly,
// with the server and its store closed, and each kind of tampering must make verify fail at the
// right record once the server is started again on the file.
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { auditHash, SecretCipher, systemClock, type AuditRecord } from '@herald/core';
import { AdminClient } from '@herald/sdk';
import { createServer, ensureBootstrapAdmin, type HeraldServer } from '@herald/server';
import { SqliteStore } from '@herald/store';
import { tempDir, testAdminToken, type TestServer } from '@herald/testkit';
import { assertProblem, call, createToken, entryPath, type RawResponse } from './helpers.js';

interface Verification {
  ok: boolean;
  count: number;
  head: string;
  firstBad?: { seq: number; reason: string };
}

let dir: { path: string; cleanup: () => Promise<void> };

before(async () => {
  dir = await tempDir();
});

after(async () => {
  await dir.cleanup();
});

async function auditOf(ts: TestServer): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const response = await call(ts, 'GET', `/v1/audit?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(response.status, 200, response.text);
    const page = response.json as { items: AuditRecord[]; next?: string };
    records.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return records;
}

async function verify(ts: TestServer): Promise<Verification> {
  const response = await call(ts, 'GET', '/v1/audit/verify');
  assert.equal(response.status, 200, response.text);
  return response.json as Verification;
}

// One secret key for every server these tests open on a file: the server keeps its signing key
// encrypted under it, so a server started with another key could not open the same file again.
const secretKey = SecretCipher.generateKey();
const silentLogs = new Writable({ write: (_chunk, _encoding, done) => done() });

/**
 * Opens a server on the database file at `path`, runs `body`, and closes server and store again.
 * (Like testkit's startTestServer, but with the same secret key every time.)
 */
async function withServer<T>(path: string, body: (ts: TestServer) => Promise<T>): Promise<T> {
  const store = SqliteStore.open({ path });
  let server: HeraldServer | undefined;
  try {
    await ensureBootstrapAdmin(store, systemClock, testAdminToken);
    server = createServer({
      store,
      clock: systemClock,
      cipher: new SecretCipher(secretKey),
      config: { port: 0, logLevel: 'silent' },
      logStream: silentLogs,
    });
    const url = await server.listen();
    const ts: TestServer = {
      server,
      store,
      url,
      adminToken: testAdminToken,
      admin: new AdminClient({ url, token: testAdminToken }),
      close: async () => undefined,
    };
    return await body(ts);
  } finally {
    await server?.close();
    await store.close();
  }
}

void describe('audit log', () => {
  const original = () => join(dir.path, 'original', 'herald.db');
  let recorded: AuditRecord[] = [];
  let head = '';

  void it('appends one record per admin action, and none for a refused action or a read', async () => {
    await withServer(original(), async (ts) => {
      const initial = await auditOf(ts);
      let expected = initial.length;
      assert.deepEqual(
        [initial[0]?.seq, initial[0]?.action],
        [1, 'token.create'],
        'the bootstrap admin token is the first record',
      );

      /** Runs an action and asserts exactly one new record with this action and target. */
      const audited = async (
        action: string,
        target: string | RegExp,
        run: () => Promise<RawResponse>,
        status: number,
      ) => {
        const response = await run();
        assert.equal(response.status, status, `${action}: ${response.text}`);
        const records = await auditOf(ts);
        expected += 1;
        assert.equal(records.length, expected, `${action} appends exactly one record`);
        const last = records.at(-1) as AuditRecord;
        assert.equal(last.action, action);
        if (typeof target === 'string') assert.equal(last.target, target);
        else assert.match(last.target, target);
        assert.match(last.actor, /bootstrap admin|writer/u, 'the actor is named');
        return last;
      };
      const notAudited = async (what: string, run: () => Promise<RawResponse>) => {
        const response = await run();
        assert.equal((await auditOf(ts)).length, expected, `${what} (${response.status}) must not be audited`);
      };

      await audited(
        'namespace.create',
        'namespace:audited',
        () => call(ts, 'POST', '/v1/namespaces', { body: { name: 'audited' } }),
        201,
      );
      const put = await audited(
        'entries.commit',
        'namespace:audited',
        () => call(ts, 'PUT', entryPath('audited', 'k'), { body: { value: 1 } }),
        200,
      );
      assert.deepEqual(put.details.changes, [{ op: 'set', key: 'k', label: '' }]);
      assert.equal(typeof put.details.revision, 'number', 'the commit record names its revision');
      const commit = await audited(
        'entries.commit',
        'namespace:audited',
        () =>
          call(ts, 'POST', '/v1/namespaces/audited/commits', {
            body: {
              message: 'two at once',
              changes: [
                { op: 'set', key: 'k', value: 2 },
                { op: 'set', key: 'j', value: 3, secret: true },
              ],
            },
          }),
        201,
      );
      assert.equal(commit.details.message, 'two at once');
      await audited(
        'entries.commit',
        'namespace:audited',
        () => call(ts, 'PUT', '/v1/namespaces/audited/locks/k'),
        200,
      );
      await audited(
        'entries.commit',
        'namespace:audited',
        () => call(ts, 'DELETE', '/v1/namespaces/audited/locks/k'),
        200,
      );
      await audited(
        'namespace.schema.set',
        'namespace:audited',
        () => call(ts, 'PUT', '/v1/namespaces/audited/schema', { body: { schema: { prefixes: [] } } }),
        200,
      );
      await audited(
        'namespace.schema.remove',
        'namespace:audited',
        () => call(ts, 'PUT', '/v1/namespaces/audited/schema', { body: { schema: null } }),
        200,
      );
      const revertTo = put.details.revision as number;
      await audited(
        'entries.revert',
        'namespace:audited',
        () => call(ts, 'POST', '/v1/namespaces/audited/revert', { body: { revision: revertTo } }),
        200,
      );

      let tokenId = '';
      const created = await audited(
        'token.create',
        /^token:/u,
        async () => {
          const response = await call(ts, 'POST', '/v1/tokens', {
            body: { name: 'writer', scopes: [{ namespaces: 'audited', role: 'writer' }] },
          });
          tokenId = (response.json as { info: { id: string } }).info.id;
          return response;
        },
        201,
      );
      assert.equal(created.target, `token:${tokenId}`);
      await audited('token.revoke', `token:${tokenId}`, () => call(ts, 'DELETE', `/v1/tokens/${tokenId}`), 200);

      // A write by another token is recorded under that token's name and id.
      const writer = await createToken(ts, [{ namespaces: 'audited', role: 'writer' }], { name: 'writer' });
      expected += 1;
      const byWriter = await audited(
        'entries.commit',
        'namespace:audited',
        () => call(ts, 'PUT', entryPath('audited', 'w'), { token: writer.token, body: { value: 1 } }),
        200,
      );
      assert.ok(byWriter.actor.includes(writer.id), `actor ${byWriter.actor} names token ${writer.id}`);

      const revision = await ts.store.currentRevision();
      const compacted = await audited(
        'store.compact',
        'store',
        () => call(ts, 'POST', '/v1/compact', { body: { revision } }),
        200,
      );
      assert.equal(compacted.details.revision, revision);
      await audited(
        'namespace.delete',
        'namespace:audited',
        () => call(ts, 'DELETE', '/v1/namespaces/audited?force=true'),
        204,
      );

      // Refused actions and reads leave no record.
      await audited(
        'namespace.create',
        'namespace:audited',
        () => call(ts, 'POST', '/v1/namespaces', { body: { name: 'audited' } }),
        201,
      );
      await notAudited('duplicate namespace', () => call(ts, 'POST', '/v1/namespaces', { body: { name: 'audited' } }));
      await notAudited('failed precondition', () =>
        call(ts, 'PUT', entryPath('audited', 'k'), { body: { value: 1, ifRevision: 999_999 } }),
      );
      await notAudited('forbidden', () => call(ts, 'DELETE', '/v1/namespaces/audited', { token: writer.token }));
      await notAudited('unauthenticated', () =>
        call(ts, 'POST', '/v1/namespaces', { token: null, body: { name: 'nope' } }),
      );
      await notAudited('bad input', () => call(ts, 'PUT', entryPath('audited', '%'), { body: { value: 1 } }));
      await notAudited('reads', async () => {
        await call(ts, 'GET', '/v1/namespaces/audited/entries');
        await call(ts, 'GET', '/v1/tokens');
        return call(ts, 'GET', '/v1/audit/verify');
      });

      recorded = await auditOf(ts);
      // Secret values are never in the log.
      assert.ok(!JSON.stringify(recorded).includes('"value"'));
    });
  });

  void it('is a contiguous hash chain that verify accepts', async () => {
    assert.ok(recorded.length >= 15, `${recorded.length} records`);
    recorded.forEach((record, i) => {
      assert.equal(record.seq, i + 1);
      assert.equal(record.prevHash, i === 0 ? '0'.repeat(64) : recorded[i - 1]?.hash);
      assert.equal(record.hash, auditHash(record), `record ${record.seq} hashes to its hash`);
    });
    await withServer(original(), async (ts) => {
      const result = await verify(ts);
      head = (recorded.at(-1) as AuditRecord).hash;
      assert.deepEqual(result, { ok: true, count: recorded.length, head });
    });
  });

  void it('refuses the audit log and its verification to a non-admin', async () => {
    await withServer(original(), async (ts) => {
      const { token } = await createToken(ts, [{ namespaces: '*', role: 'writer' }]);
      assertProblem(await call(ts, 'GET', '/v1/audit', { token }), 'forbidden');
      assertProblem(await call(ts, 'GET', '/v1/audit/verify', { token }), 'forbidden');
    });
  });
});

void describe('tampering with the file', () => {
  /** A copy of the log as the first suite left it (plus the token the forbidden test created), tampered with by `tamper`. */
  async function tampered(
    name: string,
    tamper: (db: Database.Database, records: AuditRecord[]) => void,
  ): Promise<Verification> {
    const target = join(dir.path, name);
    await cp(join(dir.path, 'original'), target, { recursive: true });
    const path = join(target, 'herald.db');
    const db = new Database(path);
    try {
      const rows = db.prepare('SELECT * FROM audit ORDER BY seq').all() as Array<Record<string, unknown>>;
      const records = rows.map((row) => ({
        seq: row.seq as number,
        at: row.at as number,
        actor: row.actor as string,
        action: row.action as string,
        target: row.target as string,
        details: JSON.parse(row.details as string) as Record<string, unknown>,
        prevHash: row.prev_hash as string,
        hash: row.hash as string,
      }));
      tamper(db, records);
    } finally {
      db.close();
    }
    return withServer(path, verify);
  }

  const middle = 5;

  void it('the untouched copy verifies', async () => {
    const result = await tampered('untouched', () => undefined);
    assert.equal(result.ok, true);
    assert.equal(result.firstBad, undefined);
  });

  void it('detects a changed record at that record', async () => {
    const result = await tampered('changed-details', (db) => {
      db.prepare('UPDATE audit SET details = \'{"message":"nothing to see"}\' WHERE seq = ?').run(middle);
    });
    assert.equal(result.ok, false);
    assert.equal(result.firstBad?.seq, middle);
    assert.match(result.firstBad?.reason ?? '', /altered/u);
  });

  void it('detects a changed actor, action or time at that record', async () => {
    for (const [column, value] of [
      ['actor', 'someone else'],
      ['action', 'namespace.read'],
      ['at', 0],
    ] as const) {
      const result = await tampered(`changed-${column}`, (db) => {
        db.prepare(`UPDATE audit SET ${column} = ? WHERE seq = ?`).run(value, middle);
      });
      assert.equal(result.ok, false, column);
      assert.equal(result.firstBad?.seq, middle, column);
    }
  });

  void it('detects a changed record whose own hash was recomputed, at the next record', async () => {
    const result = await tampered('rehashed', (db, records) => {
      const record = records[middle - 1] as AuditRecord;
      const forged = { ...record, details: { ...record.details, forged: true } };
      db.prepare('UPDATE audit SET details = ?, hash = ? WHERE seq = ?').run(
        JSON.stringify(forged.details),
        auditHash(forged),
        middle,
      );
    });
    assert.equal(result.ok, false);
    assert.equal(result.firstBad?.seq, middle + 1);
    assert.match(result.firstBad?.reason ?? '', /link/u);
  });

  void it('detects a removed middle record at the record after it', async () => {
    const result = await tampered('removed', (db) => {
      db.prepare('DELETE FROM audit WHERE seq = ?').run(middle);
    });
    assert.equal(result.ok, false);
    assert.equal(result.firstBad?.seq, middle + 1);
    assert.match(result.firstBad?.reason ?? '', /removed/u);
  });

  void it('detects a removed record even when the later records are renumbered to close the gap', async () => {
    const result = await tampered('removed-renumbered', (db) => {
      db.prepare('DELETE FROM audit WHERE seq = ?').run(middle);
      db.prepare('UPDATE audit SET seq = -seq WHERE seq > ?').run(middle);
      db.prepare('UPDATE audit SET seq = -seq - 1 WHERE seq < 0').run();
    });
    assert.equal(result.ok, false);
    assert.equal(result.firstBad?.seq, middle);
    assert.match(result.firstBad?.reason ?? '', /link/u);
  });

  void it('detects two records whose seq were swapped, at the first of them', async () => {
    const result = await tampered('swapped', (db) => {
      db.prepare('UPDATE audit SET seq = -1 WHERE seq = ?').run(middle);
      db.prepare('UPDATE audit SET seq = ? WHERE seq = ?').run(middle, middle + 1);
      db.prepare('UPDATE audit SET seq = ? WHERE seq = -1').run(middle + 1);
    });
    assert.equal(result.ok, false);
    assert.equal(result.firstBad?.seq, middle);
  });

  void it('detects a changed first record (the genesis link)', async () => {
    const result = await tampered('first', (db) => {
      db.prepare("UPDATE audit SET target = 'token:forged' WHERE seq = 1").run();
    });
    assert.equal(result.ok, false);
    assert.equal(result.firstBad?.seq, 1);
  });

  void it('a cut tail still verifies, but changes the head and count, which is how truncation is caught', async () => {
    const before = await tampered('tail-control', () => undefined);
    const result = await tampered('tail', (db) => {
      db.prepare('DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)').run();
    });
    assert.equal(result.ok, true);
    assert.equal(result.count, before.count - 1);
    assert.notEqual(result.head, before.head);
  });
});
