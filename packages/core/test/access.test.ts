import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  allows,
  allowsSecrets,
  globMatches,
  hashToken,
  isRole,
  isSystemAdmin,
  issueToken,
  roles,
  tokenFromSecret,
  type Permission,
  type Role,
  type Scope,
} from '../src/index.js';

const permissions: Permission[] = ['read', 'write', 'release', 'view', 'manage'];

void describe('roles and permissions', () => {
  void test('the five roles', () => {
    assert.deepEqual([...roles], ['admin', 'writer', 'releaser', 'reader', 'client']);
    for (const role of roles) assert.equal(isRole(role), true);
    for (const other of ['', 'Admin', 'root', 'toString', 'includes', 'admin '])
      assert.equal(isRole(other), false, other);
  });

  void test('each role has exactly its permissions', () => {
    const expected: Record<Role, Permission[]> = {
      admin: ['read', 'write', 'release', 'view', 'manage'],
      writer: ['read', 'write', 'view'],
      releaser: ['read', 'release', 'view'],
      reader: ['read', 'view'],
      client: ['view'],
    };
    for (const role of roles) {
      const scopes: Scope[] = [{ namespaces: 'payments', role }];
      const granted = permissions.filter((permission) => allows(scopes, permission, 'payments'));
      assert.deepEqual(granted, expected[role], role);
    }
  });

  void test('no scopes allow nothing', () => {
    for (const permission of permissions) assert.equal(allows([], permission, 'payments'), false);
  });

  void test('a permission applies only to the namespaces the scope matches', () => {
    const scopes: Scope[] = [{ namespaces: 'payments', role: 'admin' }];
    assert.equal(allows(scopes, 'write', 'payments'), true);
    assert.equal(allows(scopes, 'write', 'payments2'), false);
    assert.equal(allows(scopes, 'read', 'billing'), false);
  });

  void test('scopes combine: any scope that matches and grants is enough', () => {
    const scopes: Scope[] = [
      { namespaces: 'team-a-*', role: 'writer' },
      { namespaces: '*', role: 'client' },
    ];
    assert.equal(allows(scopes, 'write', 'team-a-api'), true);
    assert.equal(allows(scopes, 'write', 'team-b-api'), false);
    assert.equal(allows(scopes, 'view', 'team-b-api'), true);
    assert.equal(allows(scopes, 'release', 'team-a-api'), false);
  });
});

void describe('globMatches', () => {
  void test('a literal glob matches only that name', () => {
    assert.equal(globMatches('payments', 'payments'), true);
    assert.equal(globMatches('payments', 'payments2'), false);
    assert.equal(globMatches('payments', 'xpayments'), false);
    assert.equal(globMatches('payments', ''), false);
  });

  void test('"*" matches any run of characters, including none', () => {
    assert.equal(globMatches('*', 'anything'), true);
    assert.equal(globMatches('*', ''), true);
    assert.equal(globMatches('team-*', 'team-'), true);
    assert.equal(globMatches('team-*', 'team-a.b_c'), true);
    assert.equal(globMatches('team-*', 'xteam-a'), false);
    assert.equal(globMatches('*-prod', 'api-prod'), true);
    assert.equal(globMatches('*-prod', 'api-prod-2'), false);
    assert.equal(globMatches('a*b*c', 'abc'), true);
    assert.equal(globMatches('a*b*c', 'a-x-b-y-c'), true);
    assert.equal(globMatches('a*b*c', 'a-x-c-y-b'), false);
  });

  void test('"?" matches exactly one character', () => {
    assert.equal(globMatches('ns?', 'ns1'), true);
    assert.equal(globMatches('ns?', 'ns'), false);
    assert.equal(globMatches('ns?', 'ns12'), false);
    assert.equal(globMatches('??', 'ab'), true);
    assert.equal(globMatches('??', 'a'), false);
  });

  void test('regex metacharacters in names are literal: "a.b" does not match "axb"', () => {
    assert.equal(globMatches('a.b', 'a.b'), true);
    assert.equal(globMatches('a.b', 'axb'), false);
    assert.equal(globMatches('team.*', 'team.api'), true);
    assert.equal(globMatches('team.*', 'teamxapi'), false);
    const literals = [
      'a+b',
      'a^b',
      'a$b',
      'a{1}b',
      'a(b)',
      'a|b',
      'a[b]',
      'a\\b',
      '(x',
      'x)',
      '[',
      ']',
      '{',
      '}',
      '\\',
    ];
    for (const glob of literals) {
      assert.equal(globMatches(glob, glob), true, `${glob} matches itself`);
    }
    assert.equal(globMatches('a+b', 'aab'), false);
    assert.equal(globMatches('a|b', 'a'), false);
    assert.equal(globMatches('a|b', 'b'), false);
    assert.equal(globMatches('a[b]', 'ab'), false);
    assert.equal(globMatches('a{1}b', 'ab'), false);
    assert.equal(globMatches('a$b', 'a'), false);
    assert.equal(globMatches('a\\b', 'ab'), false);
  });

  void test('a glob cannot sneak in regex syntax', () => {
    assert.equal(globMatches('.*', 'anything'), false);
    assert.equal(globMatches('.*', '.x'), true);
  });
});

void describe('allowsSecrets', () => {
  void test('admins read secrets in their namespaces', () => {
    assert.equal(allowsSecrets([{ namespaces: 'pay*', role: 'admin' }], 'payments'), true);
    assert.equal(allowsSecrets([{ namespaces: 'pay*', role: 'admin' }], 'billing'), false);
  });

  void test('other roles only when their scope says secrets: true', () => {
    for (const role of roles.filter((r) => r !== 'admin')) {
      assert.equal(allowsSecrets([{ namespaces: '*', role }], 'payments'), false, role);
      assert.equal(allowsSecrets([{ namespaces: '*', role, secrets: false }], 'payments'), false, role);
      assert.equal(allowsSecrets([{ namespaces: 'payments', role, secrets: true }], 'payments'), true, role);
      assert.equal(allowsSecrets([{ namespaces: 'payments', role, secrets: true }], 'billing'), false, role);
    }
  });

  void test('secrets in one scope do not leak to another scope', () => {
    const scopes: Scope[] = [
      { namespaces: 'payments', role: 'client', secrets: true },
      { namespaces: '*', role: 'reader' },
    ];
    assert.equal(allowsSecrets(scopes, 'payments'), true);
    assert.equal(allowsSecrets(scopes, 'billing'), false);
  });

  void test('no scopes, no secrets', () => {
    assert.equal(allowsSecrets([], 'payments'), false);
  });
});

void describe('isSystemAdmin', () => {
  void test('only admin on "*" is a system admin', () => {
    assert.equal(isSystemAdmin([{ namespaces: '*', role: 'admin' }]), true);
    assert.equal(
      isSystemAdmin([
        { namespaces: 'payments', role: 'reader' },
        { namespaces: '*', role: 'admin' },
      ]),
      true,
    );
    assert.equal(isSystemAdmin([]), false);
    assert.equal(isSystemAdmin([{ namespaces: 'payments', role: 'admin' }]), false);
    assert.equal(isSystemAdmin([{ namespaces: 'a*', role: 'admin' }]), false);
    assert.equal(isSystemAdmin([{ namespaces: '?*', role: 'admin' }]), false);
    for (const role of roles.filter((r) => r !== 'admin')) {
      assert.equal(isSystemAdmin([{ namespaces: '*', role, secrets: true }]), false, role);
    }
  });
});

void describe('tokens', () => {
  void test('issued tokens are unique, well-formed and carry the hash of the whole token', () => {
    const issued = Array.from({ length: 200 }, () => issueToken());
    assert.equal(new Set(issued.map((t) => t.token)).size, 200);
    assert.equal(new Set(issued.map((t) => t.id)).size, 200);
    assert.equal(new Set(issued.map((t) => t.tokenHash)).size, 200);
    for (const t of issued) {
      assert.match(t.id, /^[0-9a-f]{16}$/u);
      assert.match(t.token, /^hrd_[A-Za-z0-9_-]{43}$/u);
      assert.equal(t.tokenHash, hashToken(t.token));
      assert.ok(!t.token.includes(t.id), 'the public id is not part of the secret');
    }
  });

  void test('hashToken is stable SHA-256 hex of the UTF-8 token', () => {
    assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hashToken('abc'), hashToken('abc'));
    assert.equal(hashToken('ключ'), createHash('sha256').update(Buffer.from('ключ', 'utf8')).digest('hex'));
    assert.notEqual(hashToken('abc'), hashToken('abd'));
    assert.match(hashToken(''), /^[0-9a-f]{64}$/u);
  });

  void test('tokenFromSecret keeps the given id and token and hashes it', () => {
    const t = tokenFromSecret('bootstrap', 'operator-chosen secret');
    assert.deepEqual(t, {
      id: 'bootstrap',
      token: 'operator-chosen secret',
      tokenHash: hashToken('operator-chosen secret'),
    });
  });
});
