// `herald revert NS REV` (undo one commit) and `herald restore NS --to REV [KEY]` (make the
// namespace or a key as it was), run as real `herald` processes against a real server; the old
// form `herald revert NS --to REV` that scripts use keeps restoring.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

let ts: TestServer;
let herald: (args: string[]) => Promise<RunResult>;

before(async () => {
  ts = await startTestServer();
  herald = heraldAt(ts.url, ts.adminToken);
});

after(async () => {
  await ts.close();
});

async function set(ns: string, key: string, value: string, message = ''): Promise<number> {
  return parseJson<{ revision: number }>(ok(await herald(['set', ns, key, value, '-m', message, '--json']))).revision;
}

async function value(ns: string, key: string): Promise<unknown> {
  return parseJson<{ value: unknown }>(ok(await herald(['get', ns, key, '--json']))).value;
}

void describe('herald revert NS REVISION', () => {
  void test('undoes that commit alone and keeps the later ones', async () => {
    ok(await herald(['ns', 'create', 'cli-rc']));
    await set('cli-rc', 'a', '1');
    const bad = await set('cli-rc', 'a', '2', 'the bad one');
    await set('cli-rc', 'b', '1', 'a later one');
    const preview = ok(await herald(['revert', 'cli-rc', String(bad), '--dry-run']));
    assert.match(preview, /dry run: nothing changed/u);
    assert.equal(await value('cli-rc', 'a'), 2);
    const out = ok(await herald(['revert', 'cli-rc', String(bad)]));
    assert.match(out, new RegExp(`reverted r${bad} at revision \\d+`, 'u'));
    assert.equal(await value('cli-rc', 'a'), 1);
    assert.equal(await value('cli-rc', 'b'), 1);
  });

  void test('a later commit to the same key is a conflict, with its code, and nothing changes', async () => {
    ok(await herald(['ns', 'create', 'cli-rc2']));
    await set('cli-rc2', 'db/pool/max', '10');
    const bad = await set('cli-rc2', 'db/pool/max', '50');
    await set('cli-rc2', 'db/pool/max', '20');
    fails(await herald(['revert', 'cli-rc2', String(bad)]), { line: /db\/pool\/max.*\[revert_conflict\]$/u });
    assert.equal(await value('cli-rc2', 'db/pool/max'), 20);
    fails(await herald(['revert', 'cli-rc2']), { line: /herald restore/u });
  });
});

void describe('herald restore NS --to REVISION [KEY]', () => {
  void test('restores one key, and the old `revert --to` form restores the namespace', async () => {
    ok(await herald(['ns', 'create', 'cli-restore']));
    const first = await set('cli-restore', 'a', '1');
    await set('cli-restore', 'b', '1');
    await set('cli-restore', 'a', '2');
    await set('cli-restore', 'b', '2');
    assert.match(ok(await herald(['restore', 'cli-restore', 'a', '--to', String(first)])), /restored to revision/u);
    assert.equal(await value('cli-restore', 'a'), 1);
    assert.equal(await value('cli-restore', 'b'), 2);
    ok(await herald(['revert', 'cli-restore', '--to', String(first)]));
    fails(await herald(['get', 'cli-restore', 'b']), { line: /\[entry_not_found\]$/u });
  });
});
