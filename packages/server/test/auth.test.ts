// Authentication (401 unauthenticated) and authorisation (403 forbidden) on a real server: the
// roles do what packages/core/src/access.ts says, listings show only what a token may see, and
// tokens exist in the database only as SHA-256 hashes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock } from '@herald/core';
import { SqliteStore } from '@herald/store';
import { startTestServer, tempDir, type TestServer } from '@herald/testkit';
import {
  assertProblem,
  call,
  createNamespace,
  createToken,
  entryPath,
  setEntry,
  storeState,
  type RawResponse,
} from './helpers.js';

let ts: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };
let dbPath: string;

before(async () => {
  dir = await tempDir();
  dbPath = join(dir.path, 'herald.db');
  // Our own store on a known path, so that the tests can read the database file itself.
  ts = await startTestServer({ store: SqliteStore.open({ path: dbPath }) });
  for (const name of ['team-a-1', 'team-a-2', 'team-b-1', 'other']) {
    await createNamespace(ts, name);
    await setEntry(ts, name, 'greeting', { value: `hello from ${name}` });
  }
});

after(async () => {
  await ts.close();
  await dir.cleanup();
});

async function unauthenticated(response: RawResponse, message: string): Promise<void> {
  assertProblem(response, 'unauthenticated', message);
  assert.match(
    response.headers.get('www-authenticate') ?? '',
    /^Bearer\b/u,
    `${message}: WWW-Authenticate names the scheme`,
  );
}

async function expired(response: RawResponse, message: string): Promise<void> {
  assertProblem(response, 'token_expired', message);
  assert.equal(response.status, 401, message);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer\b/u, message);
}

void describe('401 unauthenticated', () => {
  void it('refuses a request without a token, and changes nothing', async () => {
    const before = await storeState(ts);
    await unauthenticated(await call(ts, 'GET', '/v1/namespaces', { token: null }), 'list');
    await unauthenticated(
      await call(ts, 'POST', '/v1/namespaces', { token: null, body: { name: 'sneaky' } }),
      'create',
    );
    await unauthenticated(
      await call(ts, 'PUT', entryPath('team-a-1', 'k'), { token: null, body: { value: 1 } }),
      'write',
    );
    await unauthenticated(await call(ts, 'GET', '/v1/audit', { token: null }), 'audit');
    assert.deepEqual(await storeState(ts), before);
  });

  void it('refuses a wrong token, another scheme and an empty bearer', async () => {
    const wrong = await call(ts, 'GET', '/v1/namespaces', { token: 'hrd_not-a-real-token' });
    await unauthenticated(wrong, 'wrong token');
    // One character off the real admin token.
    await unauthenticated(
      await call(ts, 'GET', '/v1/namespaces', { token: `${ts.adminToken.slice(0, -1)}x` }),
      'near miss',
    );
    const basic = Buffer.from(`admin:${ts.adminToken}`).toString('base64');
    await unauthenticated(
      await call(ts, 'GET', '/v1/namespaces', { token: null, headers: { authorization: `Basic ${basic}` } }),
      'basic',
    );
    await unauthenticated(
      await call(ts, 'GET', '/v1/namespaces', { token: null, headers: { authorization: 'Bearer ' } }),
      'empty bearer',
    );
    await unauthenticated(
      await call(ts, 'GET', '/v1/namespaces', { token: null, headers: { authorization: ts.adminToken } }),
      'no scheme',
    );
  });

  void it('accepts the bearer scheme in any case (RFC 9110 §11.1)', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const response = await call(ts, 'GET', '/v1/namespaces', {
        token: null,
        headers: { authorization: `${scheme} ${ts.adminToken}` },
      });
      assert.equal(response.status, 200, `${scheme}: ${response.text}`);
    }
  });

  void it('refuses a token once it is revoked, with the same answer as for an unknown one', async () => {
    const { token, id } = await createToken(ts, [{ namespaces: '*', role: 'reader' }], { name: 'to revoke' });
    assert.equal((await call(ts, 'GET', '/v1/namespaces/team-a-1', { token })).status, 200);
    const revoked = await call(ts, 'DELETE', `/v1/tokens/${id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.notEqual((revoked.json as { revokedAt: string | null }).revokedAt, null);
    const after = await call(ts, 'GET', '/v1/namespaces/team-a-1', { token });
    await unauthenticated(after, 'revoked');
    const unknown = await call(ts, 'GET', '/v1/namespaces/team-a-1', { token: 'hrd_unknown' });
    assert.equal((after.json as { detail: string }).detail, (unknown.json as { detail: string }).detail);
    // Revoking an unknown id is token_not_found.
    assertProblem(await call(ts, 'DELETE', '/v1/tokens/no-such-id'), 'token_not_found');
  });

  void it('refuses a token once it has expired, by the server clock', async (t) => {
    const clock = new ManualClock();
    const timed = await startTestServer({ clock });
    t.after(() => timed.close());
    await createNamespace(timed, 'timed');
    const { token } = await createToken(timed, [{ namespaces: '*', role: 'reader' }], { expiresInSeconds: 60 });
    const read = () => call(timed, 'GET', '/v1/namespaces/timed', { token });
    assert.equal((await read()).status, 200);
    clock.advance(59_999);
    assert.equal((await read()).status, 200, 'still valid 1 ms before expiry');
    clock.advance(1);
    // Expiry has its own code, so a client knows to pick up a successor rather than give up.
    await expired(await read(), 'expired');
    clock.advance(3_600_000);
    await expired(await read(), 'long expired');
    // The admin token, which has no expiry, is unaffected by the clock.
    assert.equal((await call(timed, 'GET', '/v1/namespaces/timed')).status, 200);
    // The listing shows when it expired.
    const tokens = (await call(timed, 'GET', '/v1/tokens')).json as { items: Array<{ expiresAt: string | null }> };
    assert.ok(tokens.items.some((item) => item.expiresAt === new Date(Date.UTC(2026, 0, 1) + 60_000).toISOString()));
  });

  void it('keeps health, readiness, metrics and the API description open without a token', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
      assert.equal((await call(ts, 'GET', path, { token: null })).status, 200, path);
    }
  });
});

type Role = 'admin' | 'writer' | 'releaser' | 'reader' | 'client';
type Permission = 'read' | 'write' | 'manage' | 'system';

/** What each role may do inside its own namespaces, from packages/core/src/access.ts. */
const allowed: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(['read', 'write', 'manage']),
  writer: new Set(['read', 'write']),
  releaser: new Set(['read']),
  reader: new Set(['read']),
  client: new Set([]),
};

interface Operation {
  name: string;
  permission: Permission;
  /** Runs the operation on `ns` as `token`; `tag` keeps writes of different roles apart. */
  run(token: string, ns: string, tag: string): Promise<RawResponse>;
  /** Status when allowed. */
  ok: number;
}

const operations: Operation[] = [
  {
    name: 'get namespace',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', `/v1/namespaces/${ns}`, { token }),
  },
  {
    name: 'list entries',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', `/v1/namespaces/${ns}/entries`, { token }),
  },
  {
    name: 'get entry',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', entryPath(ns, 'greeting'), { token }),
  },
  {
    name: 'history',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', `/v1/namespaces/${ns}/history`, { token }),
  },
  {
    name: 'key history',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', `/v1/namespaces/${ns}/history?key=greeting`, { token }),
  },
  {
    name: 'diff',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', `/v1/namespaces/${ns}/diff?from=1`, { token }),
  },
  {
    name: 'get schema',
    permission: 'read',
    ok: 200,
    run: (token, ns) => call(ts, 'GET', `/v1/namespaces/${ns}/schema`, { token }),
  },
  {
    name: 'put entry',
    permission: 'write',
    ok: 200,
    run: (token, ns, tag) => call(ts, 'PUT', entryPath(ns, `by/${tag}`), { token, body: { value: tag } }),
  },
  {
    name: 'commit',
    permission: 'write',
    ok: 201,
    run: (token, ns, tag) =>
      call(ts, 'POST', `/v1/namespaces/${ns}/commits`, {
        token,
        body: { changes: [{ op: 'set', key: `commit/${tag}`, value: 1 }] },
      }),
  },
  {
    name: 'lock',
    permission: 'write',
    ok: 200,
    run: async (token, ns, tag) => {
      const key = `lockable/${tag}`;
      await setEntry(ts, ns, key, { value: 1 });
      return call(ts, 'PUT', `/v1/namespaces/${ns}/locks/${encodeURIComponent(key)}`, { token });
    },
  },
  {
    name: 'delete entry',
    permission: 'write',
    ok: 200,
    run: async (token, ns, tag) => {
      const key = `deletable/${tag}`;
      await setEntry(ts, ns, key, { value: 1 });
      return call(ts, 'DELETE', entryPath(ns, key), { token });
    },
  },
  {
    name: 'revert (dry run)',
    permission: 'write',
    ok: 200,
    run: (token, ns) => call(ts, 'POST', `/v1/namespaces/${ns}/revert`, { token, body: { revision: 1, dryRun: true } }),
  },
  {
    name: 'create namespace',
    permission: 'manage',
    ok: 201,
    run: (token, ns, tag) =>
      call(ts, 'POST', '/v1/namespaces', { token, body: { name: `${ns.replace(/-\d+$/u, '')}-new-${tag}` } }),
  },
  {
    name: 'set schema',
    permission: 'manage',
    ok: 200,
    run: (token, ns) => call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { token, body: { schema: { prefixes: [] } } }),
  },
  {
    name: 'delete namespace',
    permission: 'manage',
    ok: 204,
    run: async (token, ns, tag) => {
      const name = `${ns.replace(/-\d+$/u, '')}-doomed-${tag}`;
      await createNamespace(ts, name);
      return call(ts, 'DELETE', `/v1/namespaces/${name}`, { token });
    },
  },
  {
    name: 'create token',
    permission: 'system',
    ok: 201,
    run: (token) => call(ts, 'POST', '/v1/tokens', { token, body: { scopes: [{ namespaces: '*', role: 'admin' }] } }),
  },
  { name: 'list tokens', permission: 'system', ok: 200, run: (token) => call(ts, 'GET', '/v1/tokens', { token }) },
  {
    name: 'revoke token',
    permission: 'system',
    ok: 200,
    run: (token) => call(ts, 'DELETE', '/v1/tokens/anything', { token }),
  },
  { name: 'read audit', permission: 'system', ok: 200, run: (token) => call(ts, 'GET', '/v1/audit', { token }) },
  {
    name: 'verify audit',
    permission: 'system',
    ok: 200,
    run: (token) => call(ts, 'GET', '/v1/audit/verify', { token }),
  },
  {
    name: 'compact',
    permission: 'system',
    ok: 200,
    run: (token) => call(ts, 'POST', '/v1/compact', { token, body: { revision: 1 } }),
  },
];

void describe('roles and scopes (403 forbidden)', () => {
  const roles: Role[] = ['admin', 'writer', 'releaser', 'reader', 'client'];
  const tokens = new Map<Role, string>();

  before(async () => {
    for (const role of roles)
      tokens.set(role, (await createToken(ts, [{ namespaces: 'team-a-*', role }], { name: role })).token);
  });

  for (const role of roles) {
    void it(`${role} on team-a-*: allowed exactly what access.ts gives it, in its namespaces only`, async () => {
      const token = tokens.get(role) as string;
      for (const op of operations) {
        const inside = op.permission !== 'system' && allowed[role].has(op.permission);
        const before = await storeState(ts);
        const response = await op.run(token, 'team-a-1', role);
        if (inside) {
          assert.equal(response.status, op.ok, `${role} may ${op.name}: ${response.text}`);
        } else {
          assertProblem(response, 'forbidden', `${role} may not ${op.name}`);
          // Setup writes (done as admin inside run) are allowed; only the refused request itself must change nothing.
          if (!['lock', 'delete entry', 'delete namespace'].includes(op.name))
            assert.deepEqual(await storeState(ts), before, `${role} ${op.name} changed the store`);
        }
        // Outside its glob, the same token may do nothing at all, and an absent namespace looks the same as a present one.
        if (op.permission !== 'system') {
          const outside = await op.run(token, 'team-b-1', `${role}-outside`);
          assertProblem(outside, 'forbidden', `${role} ${op.name} on team-b-1`);
        }
      }
      assertProblem(
        await call(ts, 'GET', '/v1/namespaces/team-b-missing', { token }),
        'forbidden',
        'absent namespace outside the glob',
      );
    });
  }

  void it('an admin of every namespace may do everything, including tokens, audit and compaction', async () => {
    for (const op of operations) {
      if (op.name === 'revoke token') continue; // needs a real id; covered by the revocation test
      const response = await op.run(ts.adminToken, 'team-a-2', 'root');
      assert.equal(response.status, op.ok, `admin of * may ${op.name}: ${response.text}`);
    }
  });

  void it('a token with several scopes gets the union of them', async () => {
    const { token } = await createToken(ts, [
      { namespaces: 'team-a-*', role: 'reader' },
      { namespaces: 'team-b-1', role: 'writer' },
    ]);
    assert.equal((await call(ts, 'PUT', entryPath('team-b-1', 'union'), { token, body: { value: 1 } })).status, 200);
    assertProblem(await call(ts, 'PUT', entryPath('team-a-1', 'union'), { token, body: { value: 1 } }), 'forbidden');
    assert.equal((await call(ts, 'GET', entryPath('team-a-1', 'greeting'), { token })).status, 200);
    assertProblem(await call(ts, 'GET', entryPath('other', 'greeting'), { token }), 'forbidden');
  });

  void it('a glob with "?" matches one character, and glob metacharacters of regular expressions are literal', async () => {
    const { token } = await createToken(ts, [{ namespaces: 'team-?-1', role: 'reader' }]);
    assert.equal((await call(ts, 'GET', '/v1/namespaces/team-a-1', { token })).status, 200);
    assert.equal((await call(ts, 'GET', '/v1/namespaces/team-b-1', { token })).status, 200);
    assertProblem(await call(ts, 'GET', '/v1/namespaces/team-a-2', { token }), 'forbidden');
    const dotted = await createToken(ts, [{ namespaces: 'team.a.1', role: 'reader' }]);
    assertProblem(
      await call(ts, 'GET', '/v1/namespaces/team-a-1', { token: dotted.token }),
      'forbidden',
      '"." is not a wildcard',
    );
  });
});

void describe('namespace listing', () => {
  async function listAll(token: string, limit: number): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages += 1) {
      const response = await call(
        ts,
        'GET',
        `/v1/namespaces?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { token },
      );
      assert.equal(response.status, 200, response.text);
      const page = response.json as { items: Array<{ name: string }>; next?: string };
      names.push(...page.items.map((item) => item.name));
      cursor = page.next;
      if (!cursor) return names;
    }
    throw new Error('listing did not end');
  }

  void it('shows only the namespaces the token can see, on every page size', async () => {
    for (const role of ['reader', 'client', 'writer'] as const) {
      const { token } = await createToken(ts, [{ namespaces: 'team-a-*', role }]);
      for (const limit of [1, 2, 100]) {
        const names = await listAll(token, limit);
        assert.ok(
          names.includes('team-a-1') && names.includes('team-a-2'),
          `${role} limit ${limit}: ${names.join(',')}`,
        );
        assert.ok(
          names.every((name) => name.startsWith('team-a-')),
          `${role} limit ${limit} sees only team-a-*: ${names.join(',')}`,
        );
      }
    }
    const all = await listAll(ts.adminToken, 100);
    for (const name of ['team-a-1', 'team-a-2', 'team-b-1', 'other'])
      assert.ok(all.includes(name), `admin sees ${name}`);
  });
});

void describe('tokens at rest', () => {
  void it('are stored only as SHA-256 hashes: no token string in the tokens or audit tables, the API or the file', async () => {
    const issued = [
      await createToken(ts, [{ namespaces: '*', role: 'reader' }], { name: 'hash-check-1' }),
      await createToken(ts, [{ namespaces: 'team-a-*', role: 'writer', secrets: true }], {
        name: 'hash-check-2',
        expiresInSeconds: 3600,
      }),
    ];
    const secrets = [ts.adminToken, ...issued.map((i) => i.token)];
    for (const token of issued.map((i) => i.token)) assert.match(token, /^hrd_[A-Za-z0-9_-]{43}$/u, 'a 256-bit token');

    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const tokens = db.prepare('SELECT * FROM tokens').all() as Array<Record<string, unknown>>;
      const audit = db.prepare('SELECT * FROM audit').all() as Array<Record<string, unknown>>;
      assert.ok(tokens.length >= 3 && audit.length >= 3);
      const tokensText = JSON.stringify(tokens);
      const auditText = JSON.stringify(audit);
      for (const secret of secrets) {
        assert.ok(!tokensText.includes(secret), 'a token string is in the tokens table');
        assert.ok(!auditText.includes(secret), 'a token string is in the audit table');
      }
      // What is there is the hash, under the token's public id: the check above looked in the right place.
      for (const { token, id } of issued) {
        const row = tokens.find((r) => r.id === id);
        assert.equal(row?.token_hash, createHash('sha256').update(token).digest('hex'));
      }
      assert.ok(auditText.includes(issued[0]?.id ?? '<none>'), 'the audit names the token by id');
    } finally {
      db.close();
    }

    const raw = Buffer.concat(
      await Promise.all(
        ['herald.db', 'herald.db-wal'].map((f) => readFile(join(dir.path, f)).catch(() => Buffer.alloc(0))),
      ),
    );
    for (const secret of secrets) assert.equal(raw.indexOf(secret), -1, 'a token string is in the database file');
    assert.notEqual(
      raw.indexOf(
        createHash('sha256')
          .update(issued[0]?.token ?? '')
          .digest('hex'),
      ),
      -1,
      'the file holds the hash',
    );

    const listing = await call(ts, 'GET', '/v1/tokens');
    const auditApi = await call(ts, 'GET', '/v1/audit?limit=1000');
    for (const secret of secrets) {
      assert.ok(!listing.text.includes(secret), 'GET /v1/tokens shows a token');
      assert.ok(!auditApi.text.includes(secret), 'GET /v1/audit shows a token');
    }
    assert.ok(
      !listing.text.includes('tokenHash') && !listing.text.includes('token_hash'),
      'the listing does not even show hashes',
    );
  });
});
