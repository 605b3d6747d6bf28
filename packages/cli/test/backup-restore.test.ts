// "Backup and restore" of issue 19: `herald backup` copies the SQLite store online, while a real
// server goes on writing, and `herald restore` puts the copy in place only after checking it (the
// audit chain verifies, every namespace's revision is its newest commit's). A server started on the
// restored folder serves every write the backup acknowledged as present. A backup whose releases or
// signing keys were altered is refused, with nothing put in place.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import Database from 'better-sqlite3';
import { runHerald, startHeraldProcess, tempDir, testAdminToken } from '@herald/testkit';

async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? null : (JSON.parse(text) as unknown) };
}

void it('backs up while a server writes, and restores a copy that verifies and serves', async () => {
  const dir = await tempDir();
  const data = join(dir.path, 'data');
  const restored = join(dir.path, 'restored');
  const backup = join(dir.path, 'backups', 'herald.backup');
  let server = await startHeraldProcess(['server', '--data', data, '--listen', '127.0.0.1:0', '--log-level', 'error']);
  try {
    assert.equal((await api(server.url, 'POST', '/v1/namespaces', { name: 'bk' })).status, 201);
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const response = await api(server.url, 'PUT', `/v1/namespaces/bk/entries/k${written % 50}`, { value: written });
        assert.equal(response.status, 200);
        written += 1;
      }
    })();
    // Some writes land before the backup, more while it runs.
    while (written < 20) await new Promise((resolve) => setTimeout(resolve, 20));
    const result = await runHerald(['backup', '--data', data, '--out', backup]);
    assert.equal(result.code, 0, result.stderr);
    writing = false;
    await writer;
    const made = JSON.parse(result.stdout) as { revision: number; auditRecords: number };
    assert.ok(made.revision >= 20, `the backup holds the writes made before it: ${result.stdout}`);
    assert.equal((statSync(backup).mode & 0o777).toString(8), '600');

    // Restore refuses to overwrite a store unless told to; into a fresh folder it needs nothing.
    const refused = await runHerald(['restore', '--from', backup, '--data', data]);
    assert.notEqual(refused.code, 0);
    const restore = await runHerald(['restore', '--from', backup, '--data', restored]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal((JSON.parse(restore.stdout) as { revision: number }).revision, made.revision);

    await server.kill();
    copyFileSync(join(data, 'secret.key'), join(restored, 'secret.key'));
    server = await startHeraldProcess([
      'server',
      '--data',
      restored,
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'error',
    ]);
    const verify = await api(server.url, 'GET', '/v1/audit/verify');
    assert.equal((verify.json as { ok: boolean }).ok, true);
    const ns = (await api(server.url, 'GET', '/v1/namespaces/bk')).json as { revision: number };
    assert.ok(ns.revision > 0 && ns.revision <= made.revision);
    const entries = (await api(server.url, 'GET', '/v1/namespaces/bk/entries?limit=100')).json as { items: unknown[] };
    assert.equal(entries.items.length, Math.min(50, made.revision - 1));
    // The restored server takes writes again, after the restored revision.
    const next = await api(server.url, 'PUT', '/v1/namespaces/bk/entries/after', { value: 'restored' });
    assert.equal(next.status, 200);
  } finally {
    await server.kill();
    await dir.cleanup();
  }
});

void it('restore refuses a file that is not a Herald store and leaves the folder alone', async () => {
  const dir = await tempDir();
  try {
    const bogus = join(dir.path, 'bogus');
    writeFileSync(bogus, 'not a database');
    const result = await runHerald(['restore', '--from', bogus, '--data', join(dir.path, 'data')]);
    assert.notEqual(result.code, 0);
  } finally {
    await dir.cleanup();
  }
});

void it('restore refuses a backup whose releases or signing keys were altered, and leaves the folder alone', async () => {
  const dir = await tempDir();
  const data = join(dir.path, 'data');
  const backup = join(dir.path, 'herald.backup');
  const server = await startHeraldProcess([
    'server',
    '--data',
    data,
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
  ]);
  try {
    assert.equal((await api(server.url, 'POST', '/v1/namespaces', { name: 'rel' })).status, 201);
    for (const value of [1, 2, 3]) {
      assert.equal((await api(server.url, 'PUT', '/v1/namespaces/rel/entries/k', { value })).status, 200);
      assert.equal((await api(server.url, 'POST', '/v1/namespaces/rel/releases', { note: `r${value}` })).status, 201);
    }
    assert.equal((await api(server.url, 'POST', '/v1/keys/rotate', {})).status, 200);
  } finally {
    await server.kill();
  }
  try {
    const made = await runHerald(['backup', '--data', data, '--out', backup]);
    assert.equal(made.code, 0, made.stderr);
    const check = JSON.parse(made.stdout) as {
      releases: number;
      signingKeys: { keys: number; privateKeysChecked: boolean };
    };
    assert.ok(check.releases >= 3, made.stdout);
    // The backup is checked without the secret key (kept apart from backups); restore checks the private keys.
    assert.deepEqual(check.signingKeys, { keys: 2, privateKeysChecked: false });

    // Each alteration is made on its own copy of the good backup; the restore of each is refused.
    const tampered = (name: string, sql: string): string => {
      const path = join(dir.path, `${name}.backup`);
      copyFileSync(backup, path);
      const db = new Database(path);
      try {
        assert.equal(db.prepare(sql).run().changes, 1, `${name}: one row altered`);
      } finally {
        db.close();
      }
      return path;
    };
    const keyOfOther = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    const cases: Array<{ name: string; sql: string; says: RegExp; withKey?: boolean }> = [
      {
        name: 'release-revision',
        sql: "UPDATE releases SET revision = revision - 1 WHERE namespace = 'rel' AND seq = 2",
        says: /release rel 2 is at revision \d+, but the audit log recorded \d+/u,
      },
      {
        name: 'release-removed',
        sql: "DELETE FROM releases WHERE namespace = 'rel' AND seq = 1",
        says: /namespace rel has no release 1/u,
      },
      {
        name: 'key-replaced',
        sql: `UPDATE signing_keys SET public_key = '${keyOfOther.subarray(-32).toString('base64')}' WHERE rowid = (SELECT max(rowid) FROM signing_keys)`,
        says: /endorsement by k-[0-9a-f]+ does not verify/u,
      },
      {
        // The first key has no endorsement: only its private half can show it was replaced.
        name: 'first-key-replaced',
        sql: `UPDATE signing_keys SET public_key = '${keyOfOther.subarray(-32).toString('base64')}' WHERE rowid = (SELECT min(rowid) FROM signing_keys)`,
        says: /private key does not belong to its public key|endorsement by k-[0-9a-f]+ does not verify/u,
        withKey: true,
      },
    ];
    for (const { name, sql, says, withKey } of cases) {
      const into = join(dir.path, `restored-${name}`);
      const result = await runHerald([
        'restore',
        '--from',
        tampered(name, sql),
        '--data',
        into,
        ...(withKey ? ['--secret-key-file', join(data, 'secret.key')] : []),
      ]);
      assert.notEqual(result.code, 0, `${name}: ${result.stdout}`);
      assert.match(result.stderr, /^herald: .+ \[backup_unverified\]\n$/u, name);
      assert.match(result.stderr, says, name);
      assert.deepEqual(readdirSync(into), [], `${name}: nothing put in place`);
    }

    // The untouched backup restores, and a wrong secret key is named as such.
    const wrongKey = join(dir.path, 'wrong.key');
    writeFileSync(wrongKey, `${randomBytes(32).toString('base64')}\n`);
    const wrong = await runHerald([
      'restore',
      '--from',
      backup,
      '--data',
      join(dir.path, 'w'),
      '--secret-key-file',
      wrongKey,
    ]);
    assert.match(wrong.stderr, /the secret key \(fingerprint [0-9a-f]+\) is not this store's .*\[backup_unverified\]/u);
    const good = await runHerald(['restore', '--from', backup, '--data', join(dir.path, 'good')]);
    assert.equal(good.code, 0, good.stderr);
  } finally {
    await dir.cleanup();
  }
});
