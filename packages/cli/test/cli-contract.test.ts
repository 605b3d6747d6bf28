// The fixed CLI forms of shared/CLI-CONTRACT.md that exist so far, run as real `herald` child
// processes against one real `herald server` child process on a temp SQLite folder.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runHerald, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';
import { closedPort, fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

interface Entry {
  key: string;
  label: string;
  value: unknown;
  contentType: string;
  revision: number;
}
interface History {
  items: Array<{ revision: number; changes: Array<{ op: string; key: string; label: string; entry?: Entry }> }>;
}

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let herald: (args: string[], env?: Record<string, string>) => Promise<RunResult>;

async function startServer(): Promise<void> {
  server = await startHeraldProcess(['server', '--data', dir.path, '--listen', '127.0.0.1:0', '--log-level', 'warn']);
  herald = heraldAt(server.url, testAdminToken);
}

before(async () => {
  dir = await tempDir('herald-cli-contract-');
  await startServer();
});

after(async () => {
  await server?.kill();
  await dir?.cleanup();
});

async function nsRevision(ns: string): Promise<number> {
  return parseJson<{ revision: number }>(ok(await herald(['ns', 'get', ns, '--json']))).revision;
}

async function getEntry(ns: string, key: string, label?: string): Promise<Entry> {
  return parseJson<Entry>(
    ok(await herald(['get', ns, key, '--json', ...(label === undefined ? [] : ['--label', label])])),
  );
}

void describe('herald ns create NS', () => {
  void test('creates the namespace; a second create of the same name fails with one line', async () => {
    assert.match(ok(await herald(['ns', 'create', 'nsdemo'])), /nsdemo/u);
    const shown = parseJson<{ name: string; revision: number }>(ok(await herald(['ns', 'get', 'nsdemo', '--json'])));
    assert.equal(shown.name, 'nsdemo');
    const list = parseJson<{ items: Array<{ name: string }> }>(ok(await herald(['ns', 'list', '--json'])));
    assert.ok(list.items.some((n) => n.name === 'nsdemo'));
    fails(await herald(['ns', 'create', 'nsdemo']));
  });
});

void describe('herald set / get', () => {
  before(async () => {
    ok(await herald(['ns', 'create', 'entries']));
  });

  void test('VALUE is JSON: objects, numbers and strings keep their JSON type', async () => {
    const setOut = ok(await herald(['set', 'entries', 'db/pool', '{"max": 10, "idle": [1, 2]}']));
    assert.match(setOut, /revision \d+/u);
    const entry = await getEntry('entries', 'db/pool');
    assert.deepEqual(entry.value, { max: 10, idle: [1, 2] });
    assert.equal(entry.contentType, 'application/json');

    ok(await herald(['set', 'entries', 'port', '8080']));
    assert.equal((await getEntry('entries', 'port')).value, 8080);
    ok(await herald(['set', 'entries', 'name', '"svc"']));
    assert.equal((await getEntry('entries', 'name')).value, 'svc');
    // Without --json, get prints the value: JSON for JSON values.
    assert.equal(ok(await herald(['get', 'entries', 'db/pool'])).trim(), '{"max":10,"idle":[1,2]}');
  });

  void test('invalid JSON without --text fails with one line and stores nothing', async () => {
    const before = await nsRevision('entries');
    fails(await herald(['set', 'entries', 'greeting', 'hello world']), { line: /JSON/u });
    assert.equal(await nsRevision('entries'), before);
    fails(await herald(['get', 'entries', 'greeting']), { line: /\[entry_not_found\]/u });
  });

  void test('--text stores VALUE as text, even when it would parse as JSON', async () => {
    ok(await herald(['set', 'entries', 'greeting', 'hello world', '--text']));
    assert.equal(ok(await herald(['get', 'entries', 'greeting'])), 'hello world\n');
    const entry = await getEntry('entries', 'greeting');
    assert.equal(entry.value, 'hello world');
    assert.equal(entry.contentType, 'text/plain');

    ok(await herald(['set', 'entries', 'answer', '42', '--text']));
    assert.equal((await getEntry('entries', 'answer')).value, '42');
  });

  void test('--label writes and reads a variant, separate from the default label', async () => {
    ok(await herald(['set', 'entries', 'replicas', '1']));
    ok(await herald(['set', 'entries', 'replicas', '5', '--label', 'prod']));
    assert.equal((await getEntry('entries', 'replicas')).value, 1);
    const prod = await getEntry('entries', 'replicas', 'prod');
    assert.equal(prod.value, 5);
    assert.equal(prod.label, 'prod');
    assert.equal(ok(await herald(['get', 'entries', 'replicas', '--label', 'prod'])).trim(), '5');
    fails(await herald(['get', 'entries', 'replicas', '--label', 'staging']), { line: /\[entry_not_found\]/u });
  });

  void test('--if-revision N: applies at the right revision, fails non-zero and changes nothing otherwise', async () => {
    const first = parseJson<Entry>(ok(await herald(['set', 'entries', 'guarded', '1', '--json'])));
    const second = parseJson<Entry>(
      ok(await herald(['set', 'entries', 'guarded', '2', '--if-revision', String(first.revision), '--json'])),
    );
    assert.ok(second.revision > first.revision);
    assert.equal(second.value, 2);

    const before = await nsRevision('entries');
    // Stale: the entry moved on from first.revision.
    fails(await herald(['set', 'entries', 'guarded', '3', '--if-revision', String(first.revision)]), {
      line: /\[precondition_failed\]/u,
    });
    fails(await herald(['set', 'entries', 'guarded', '3', '--if-revision', String(second.revision + 1000)]), {
      line: /\[precondition_failed\]/u,
    });
    // 0 means "only if absent".
    fails(await herald(['set', 'entries', 'guarded', '3', '--if-revision', '0']), { line: /\[precondition_failed\]/u });
    assert.equal(await nsRevision('entries'), before);
    const after = await getEntry('entries', 'guarded');
    assert.equal(after.value, 2);
    assert.equal(after.revision, second.revision);

    ok(await herald(['set', 'entries', 'fresh', '"new"', '--if-revision', '0']));
    assert.equal((await getEntry('entries', 'fresh')).value, 'new');
  });

  void test('--if-revision that is not a number is a usage error (exit 2)', async () => {
    fails(await herald(['set', 'entries', 'guarded', '3', '--if-revision', 'abc']), { exitCode: 2 });
  });
});

void describe('herald history NS [KEY]', () => {
  const revisions: number[] = [];
  before(async () => {
    ok(await herald(['ns', 'create', 'hist']));
    for (const [key, value] of [
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ] as const) {
      revisions.push(parseJson<Entry>(ok(await herald(['set', 'hist', key, value, '--json']))).revision);
    }
  });

  void test('--json lists every commit of the namespace, newest first, with the values written', async () => {
    const page = parseJson<History>(ok(await herald(['history', 'hist', '--json'])));
    assert.deepEqual(
      page.items.map((i) => i.revision),
      [...revisions].reverse(),
    );
    const written = page.items.map((i) => i.changes.map((c) => [c.op, c.key, c.entry?.value]));
    assert.deepEqual(written, [[['set', 'a', 3]], [['set', 'b', 2]], [['set', 'a', 1]]]);
  });

  void test('with KEY, only the commits that touched that key', async () => {
    const page = parseJson<History>(ok(await herald(['history', 'hist', 'a', '--json'])));
    assert.deepEqual(
      page.items.map((i) => i.revision),
      [revisions[2], revisions[0]],
    );
    assert.ok(page.items.every((i) => i.changes.every((c) => c.key === 'a')));
  });

  void test('--oldest reverses the order; the human form names each revision and change', async () => {
    const page = parseJson<History>(ok(await herald(['history', 'hist', '--oldest', '--json'])));
    assert.deepEqual(
      page.items.map((i) => i.revision),
      revisions,
    );
    const text = ok(await herald(['history', 'hist']));
    const shown = [...text.matchAll(/^revision (\d+)/gmu)].map((m) => Number(m[1]));
    assert.deepEqual(shown, [...revisions].reverse());
    assert.match(text, /set\s+a = 3/u);
    assert.match(text, /set\s+b = 2/u);
  });

  void test('history of a namespace that does not exist fails with one line', async () => {
    fails(await herald(['history', 'no-such-ns']), { line: /not_found\]/u });
  });
});

void describe('herald apply -f DIR --ns NS', () => {
  void test('applies a folder, --dry-run changes nothing, --prune removes keys not in the folder', async () => {
    ok(await herald(['ns', 'create', 'gitops']));
    const folder = join(dir.path, 'gitops-config');
    await mkdir(join(folder, 'db'), { recursive: true });
    await writeFile(join(folder, 'db', 'pool.yaml'), 'max: 10\n');
    await writeFile(join(folder, 'feature.json'), '{"on": true}');
    ok(await herald(['set', 'gitops', 'stray', '1']));
    const start = await nsRevision('gitops');

    const dry = ok(await herald(['apply', '-f', folder, '--ns', 'gitops', '--dry-run']));
    assert.match(dry, /^\+ db\/pool/mu);
    assert.equal(await nsRevision('gitops'), start);

    const applied = parseJson<{ applied: boolean; revision: number }>(
      ok(await herald(['apply', '-f', folder, '--ns', 'gitops', '--json'])),
    );
    assert.equal(applied.applied, true);
    assert.deepEqual((await getEntry('gitops', 'db/pool')).value, { max: 10 });
    assert.deepEqual((await getEntry('gitops', 'feature')).value, { on: true });
    assert.equal((await getEntry('gitops', 'stray')).value, 1);

    ok(await herald(['apply', '-f', folder, '--ns', 'gitops', '--prune']));
    fails(await herald(['get', 'gitops', 'stray']), { line: /\[entry_not_found\]/u });
  });
});

void describe('herald token create --role ROLE --ns GLOB', () => {
  before(async () => {
    ok(await herald(['ns', 'create', 'team-a']));
    ok(await herald(['ns', 'create', 'team-b']));
    ok(await herald(['set', 'team-a', 'k', '1']));
    ok(await herald(['set', 'team-b', 'k', '1']));
  });

  void test('a reader token can read its namespaces, and cannot write (403) or read others', async () => {
    const out = ok(await herald(['token', 'create', '--role', 'reader', '--ns', 'team-a']));
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 1, 'the token alone on stdout');
    const reader = lines[0] ?? '';
    assert.notEqual(reader, testAdminToken);
    const asReader = heraldAt(server.url, reader);
    assert.equal(ok(await asReader(['get', 'team-a', 'k'])).trim(), '1');
    fails(await asReader(['set', 'team-a', 'k', '2']), { line: /\[forbidden\]/u });
    fails(await asReader(['get', 'team-b', 'k']), { line: /\[forbidden\]/u });
    fails(await asReader(['token', 'create', '--role', 'admin', '--ns', '*']), { line: /\[forbidden\]/u });
    assert.equal((await getEntry('team-a', 'k')).value, 1);
  });

  void test('a writer token with a glob writes the namespaces it matches, only those', async () => {
    const created = parseJson<{
      token: string;
      info: { id: string; scopes: Array<{ role: string; namespaces: string }> };
    }>(ok(await herald(['token', 'create', '--role', 'writer', '--ns', 'team-*', '--json'])));
    assert.deepEqual(
      created.info.scopes.map((s) => [s.role, s.namespaces]),
      [['writer', 'team-*']],
    );
    const asWriter = heraldAt(server.url, created.token);
    ok(await asWriter(['set', 'team-a', 'k', '7']));
    ok(await asWriter(['set', 'team-b', 'k', '8']));
    assert.equal((await getEntry('team-a', 'k')).value, 7);
    assert.equal((await getEntry('team-b', 'k')).value, 8);
    fails(await asWriter(['set', 'entries', 'k', '9']), { line: /\[forbidden\]/u });
    // The token list knows it (without its secret).
    const list = ok(await herald(['token', 'list', '--json']));
    assert.ok(list.includes(created.info.id));
    assert.ok(!list.includes(created.token));
  });

  void test('an unknown role is a usage error', async () => {
    fails(await herald(['token', 'create', '--role', 'superuser', '--ns', '*']), { exitCode: 2 });
  });
});

void describe('failures: one line on stderr starting with "herald:", non-zero exit', () => {
  void test('unreachable server', async () => {
    const port = await closedPort();
    fails(await herald(['get', 'entries', 'port'], { HERALD_URL: `http://127.0.0.1:${port}` }), {
      exitCode: 1,
      line: /cannot reach .*\[unreachable\]/u,
    });
  });

  void test('401: missing or unknown token', async () => {
    fails(await herald(['get', 'entries', 'port'], { HERALD_TOKEN: 'not-a-real-token' }), {
      exitCode: 1,
      line: /\[unauthenticated\]/u,
    });
    fails(await runHerald(['get', 'entries', 'port'], { HERALD_URL: server.url }), {
      exitCode: 1,
      line: /\[unauthenticated\]/u,
    });
  });

  void test('403: a token without the scope', async () => {
    const reader = ok(await herald(['token', 'create', '--role', 'reader', '--ns', 'entries'])).trim();
    fails(await heraldAt(server.url, reader)(['ns', 'create', 'not-allowed']), { exitCode: 1, line: /\[forbidden\]/u });
    fails(await herald(['ns', 'get', 'not-allowed']), { line: /not_found\]/u });
  });

  void test('404: missing namespace and missing key', async () => {
    fails(await herald(['get', 'no-such-ns', 'k']), { exitCode: 1, line: /not_found\]/u });
    fails(await herald(['get', 'entries', 'no/such/key']), { exitCode: 1, line: /\[entry_not_found\]/u });
  });

  void test('412: a failed precondition', async () => {
    fails(await herald(['set', 'entries', 'port', '1', '--if-revision', '999999']), {
      exitCode: 1,
      line: /\[precondition_failed\]/u,
    });
  });

  void test('usage errors exit 2: missing argument, unknown option, unknown command', async () => {
    fails(await herald(['set', 'entries', 'only-a-key']), { exitCode: 2, line: /missing required argument/u });
    fails(await herald(['get']), { exitCode: 2 });
    fails(await herald(['get', 'entries', 'port', '--no-such-flag']), { exitCode: 2, line: /unknown option/u });
    fails(await herald(['frobnicate']), { exitCode: 2, line: /unknown command/u });
    fails(await herald(['apply', '--ns', 'entries']), { exitCode: 2, line: /--file/u });
    fails(await herald(['token', 'create', '--role', 'reader']), { exitCode: 2, line: /--ns/u });
  });

  void test('a --url that is not a URL', async () => {
    fails(await herald(['get', 'entries', 'port', '--url', 'not a url']));
  });
});

void describe('--json', () => {
  void test('every client command with --json prints parseable JSON', async () => {
    const commands: string[][] = [
      ['ns', 'list', '--json'],
      ['ns', 'get', 'entries', '--json'],
      ['set', 'entries', 'json-check', '[1,2]', '--json'],
      ['get', 'entries', 'json-check', '--json'],
      ['ls', 'entries', '--json'],
      ['history', 'entries', '--json'],
      ['history', 'entries', 'json-check', '--json'],
      ['token', 'list', '--json'],
      ['audit', 'list', '--json'],
      ['audit', 'verify', '--json'],
    ];
    for (const command of commands) {
      const parsed: unknown = parseJson(ok(await herald(command), command.join(' ')));
      assert.equal(typeof parsed, 'object', command.join(' '));
      assert.notEqual(parsed, null, command.join(' '));
    }
  });
});

void describe('flags and environment', () => {
  void test('--url and --token work with no HERALD_URL/HERALD_TOKEN in the environment', async () => {
    assert.equal(process.env.HERALD_URL, undefined);
    const out = ok(await runHerald(['get', 'entries', 'port', '--url', server.url, '--token', testAdminToken]));
    assert.equal(out.trim(), '8080');
    // The --url given is the one used: pointed at a closed port, the same command fails.
    fails(
      await runHerald([
        'get',
        'entries',
        'port',
        '--token',
        testAdminToken,
        '--url',
        `http://127.0.0.1:${await closedPort()}`,
      ]),
    );
  });

  void test('HERALD_URL and HERALD_TOKEN work instead of the flags; flags win over them', async () => {
    assert.equal(
      ok(await runHerald(['get', 'entries', 'port'], { HERALD_URL: server.url, HERALD_TOKEN: testAdminToken })).trim(),
      '8080',
    );
    assert.equal(
      ok(
        await runHerald(['get', 'entries', 'port', '--token', testAdminToken], {
          HERALD_URL: server.url,
          HERALD_TOKEN: 'wrong-token-123',
        }),
      ).trim(),
      '8080',
    );
    assert.equal(
      ok(
        await runHerald(['get', 'entries', 'port', '--url', server.url], {
          HERALD_URL: `http://127.0.0.1:${await closedPort()}`,
          HERALD_TOKEN: testAdminToken,
        }),
      ).trim(),
      '8080',
    );
  });
});

void describe('herald audit verify', () => {
  void test('exit 0 while the chain is intact; non-zero with one line after a record is changed', async () => {
    const intact = ok(await herald(['audit', 'verify']));
    assert.match(intact, /intact/u);
    const json = parseJson<{ ok: boolean; count: number }>(ok(await herald(['audit', 'verify', '--json'])));
    assert.equal(json.ok, true);
    assert.ok(json.count > 5, 'the admin actions of this file were audited');

    // Tamper with one record behind the server's back, then start it again on the same folder.
    await server.kill('SIGTERM');
    const db = new Database(join(dir.path, 'herald.db'));
    try {
      const changed = db.prepare("UPDATE audit SET actor = 'mallory' WHERE seq = 2").run();
      assert.equal(changed.changes, 1);
    } finally {
      db.close();
    }
    await startServer();
    fails(await herald(['audit', 'verify']), { exitCode: 1, line: /broken at record 2/u });
  });
});
