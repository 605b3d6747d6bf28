// The first hour of a new user, as real `herald` child processes against one real `herald server`:
// a version, quiet server output, a CLI that does not load the server for `herald get`, errors
// that name the next step, write commands that take a message, secrets never echoed, and
// listings (audit, tokens, fleet, history, rollout status) written for people.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import {
  eventually,
  runHerald,
  spawnHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type HeraldChild,
  type ServerProcess,
} from '@herald/testkit';
import { allModules, commandModules } from '../src/command-modules.js';
import { closedPort, fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let herald: (args: string[], env?: Record<string, string>) => Promise<RunResult>;
const children: HeraldChild[] = [];

before(async () => {
  dir = await tempDir('herald-first-hour-');
  // No --log-level: the default level, as `npm start` runs it (stdout is a pipe here: JSON).
  server = await startHeraldProcess(['server', '--data', join(dir.path, 'data'), '--listen', '127.0.0.1:0']);
  herald = heraldAt(server.url, testAdminToken);
});

after(async () => {
  for (const child of children) await child.stop('SIGKILL');
  await server?.kill('SIGKILL');
  await dir?.cleanup();
});

/** The server's JSON log lines about requests to `path`. */
function requestLines(path: string): Array<Record<string, unknown>> {
  return server.output
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => typeof record.url === 'string' && record.url.startsWith(path));
}

void describe('the server', () => {
  void test('at the default level a successful request logs nothing; a refused one logs one JSON line', async () => {
    ok(await herald(['ns', 'create', 'quiet']));
    ok(await herald(['set', 'quiet', 'k', '1']));
    for (let i = 0; i < 3; i += 1) ok(await herald(['get', 'quiet', 'k']));
    fails(await herald(['get', 'quiet', 'missing']), { line: /\[entry_not_found\]/u });
    const refused = await eventually(() => {
      const lines = requestLines('/v1/namespaces/quiet/entries/missing');
      return lines.length > 0 ? lines : undefined;
    });
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.code, 'entry_not_found');
    // Lines are written in order: the refusal's line is there, so the successes' would be too.
    assert.deepEqual(requestLines('/v1/namespaces/quiet/entries/k'), [], 'no line for a successful request');
    assert.deepEqual(requestLines('/v1/namespaces'), refused, 'only the refusal');
  });

  void test('--log-format takes json or pretty; anything else is a usage error', async () => {
    const result = await runHerald(['server', '--data', join(dir.path, 'never'), '--log-format', 'fancy']);
    fails(result, { exitCode: 2, line: /--log-format must be json or pretty/u });
  });
});

void describe('the CLI itself', () => {
  void test('herald --version and -V print the version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(ok(await runHerald(['--version'])).trim(), version);
    assert.equal(ok(await runHerald(['-V'])).trim(), version);
  });

  void test('every top-level command is mapped to the module that registers it', async () => {
    const registered = new Map<string, number>();
    for (const [index, load] of allModules.entries()) {
      const program = new Command('herald');
      (await load())(program);
      for (const command of program.commands) registered.set(command.name(), index);
    }
    assert.deepEqual(Object.keys(commandModules).sort(), [...registered.keys()].sort());
    for (const [name, load] of Object.entries(commandModules)) {
      const program = new Command('herald');
      (await load())(program);
      assert.ok(
        program.commands.some((c) => c.name() === name),
        `${name} is registered by the module it maps to`,
      );
    }
  });

  /**
   * Module hooks that record every module a process resolves, imported (a resolve hook) or required
   * (Module._resolveFilename, which the resolve hook does not see): NODE_OPTIONS for them, and their log.
   */
  async function moduleLog(name: string): Promise<{ nodeOptions: string; read: () => Promise<string> }> {
    const hooks = join(dir.path, `hooks-${name}`);
    await mkdir(hooks, { recursive: true });
    const log = join(hooks, 'loaded.txt');
    await writeFile(
      join(hooks, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}
`,
    );
    await writeFile(
      join(hooks, 'register.mjs'),
      `import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  appendFileSync(${JSON.stringify(log)}, file + '\\n');
  return file;
};
`,
    );
    return { nodeOptions: `--import ${join(hooks, 'register.mjs')}`, read: () => readFile(log, 'utf8') };
  }

  void test('herald get loads neither the server nor fastify, SQLite or PostgreSQL', async () => {
    const modules = await moduleLog('get');
    ok(await herald(['ns', 'create', 'lazy']));
    ok(await herald(['set', 'lazy', 'k', '"v"']));
    const result = await herald(['get', 'lazy', 'k'], { NODE_OPTIONS: modules.nodeOptions });
    assert.equal(ok(result).trim(), 'v');
    const loaded = await modules.read();
    assert.match(loaded, /sdk\/dist/u, 'the hook saw the modules (the admin client)');
    for (const heavy of [
      '/server/dist/',
      '/store/dist/',
      'node_modules/fastify/',
      'better-sqlite3',
      'node_modules/pg/',
    ])
      assert.equal(loaded.includes(heavy), false, `${heavy} is not loaded by herald get`);
  });

  void test("herald server on the embedded store loads neither the PostgreSQL driver nor flagd's evaluator to start", async () => {
    const modules = await moduleLog('server');
    const node = await startHeraldProcess(
      ['server', '--data', join(dir.path, 'lean-start'), '--listen', '127.0.0.1:0'],
      {
        NODE_OPTIONS: modules.nodeOptions,
      },
    );
    await node.kill();
    const loaded = await modules.read();
    assert.match(loaded, /store\/dist\/src\/sqlite\//u, 'the hook saw the modules (the SQLite store)');
    for (const heavy of ['node_modules/pg/', '/store/dist/src/postgres/', 'node_modules/@openfeature/flagd-core/'])
      assert.equal(loaded.includes(heavy), false, `${heavy} is not loaded by the start path`);
  });
});

void describe('errors that name the next step', () => {
  void test('no token: set HERALD_TOKEN or pass --token', async () => {
    fails(await runHerald(['ns', 'list'], { HERALD_URL: server.url, HERALD_TOKEN: '' }), {
      exitCode: 1,
      line: /^herald: no token: set HERALD_TOKEN or pass --token \[unauthenticated\]$/u,
    });
    fails(await runHerald(['watch', 'quiet'], { HERALD_URL: server.url, HERALD_TOKEN: '' }), {
      exitCode: 2,
      line: /set HERALD_TOKEN or pass --token/u,
    });
  });

  void test('no server: is `herald server` running at URL?', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    fails(await herald(['ns', 'list'], { HERALD_URL: url }), {
      exitCode: 1,
      line: new RegExp(`is \`herald server\` running at ${url.replaceAll('.', '\\.')}\\?.*\\[unreachable\\]$`, 'u'),
    });
  });

  void test('a watch the server refuses for good exits non-zero with the code, instead of retrying forever', async () => {
    fails(await herald(['watch', 'no-such-namespace']), { exitCode: 1, line: /\[namespace_not_found\]$/u });
    ok(await herald(['ns', 'create', 'elsewhere']));
    const other = ok(await herald(['token', 'create', '--role', 'client', '--ns', 'elsewhere'])).trim();
    fails(await herald(['watch', 'quiet'], { HERALD_TOKEN: other }), { exitCode: 1, line: /\[forbidden\]$/u });
  });

  void test('deleting a namespace that has entries names --force', async () => {
    ok(await herald(['ns', 'create', 'full']));
    ok(await herald(['set', 'full', 'k', '1']));
    fails(await herald(['ns', 'delete', 'full']), {
      line: /herald ns delete full --force.*\[namespace_not_empty\]$/u,
    });
    ok(await herald(['ns', 'delete', 'full', '--force']));
  });

  void test('a refused policy lists each problem once', async () => {
    ok(await herald(['ns', 'create', 'policed']));
    const file = join(dir.path, 'bad-policy.yaml');
    await writeFile(
      file,
      'strategy: staged\nwaves:\n  - { name: a, percent: 200, bake: 1s }\n  - { name: b, percent: 100, bakes: 1s }\n',
    );
    const line = fails(await herald(['policy', 'set', 'policed', '-f', file]), { line: /\[invalid_policy\]$/u });
    for (const path of ['waves[0].percent', 'waves[1].bakes', 'waves[1].bake:'])
      assert.equal(line.split(path).length - 1, 1, `${path} once in: ${line}`);
  });
});

void describe('writes', () => {
  void test('rm, lock and unlock take -m; history of a key shows the commit messages', async () => {
    ok(await herald(['ns', 'create', 'msgs']));
    ok(await herald(['set', 'msgs', 'k', '1', '-m', 'first value']));
    ok(await herald(['lock', 'msgs', 'k', '-m', 'hold it']));
    ok(await herald(['unlock', 'msgs', 'k', '--message', 'let go']));
    assert.match(ok(await herald(['rm', 'msgs', 'k', '-m', 'not needed'])), /^deleted msgs\/k \(revision \d+\)$/mu);
    const keyHistory = ok(await herald(['history', 'msgs', 'k']));
    for (const message of ['first value', 'hold it', 'let go', 'not needed'])
      assert.ok(keyHistory.includes(`"${message}"`), `"${message}" in: ${keyHistory}`);
    const json = parseJson<{ items: Array<{ message: string }> }>(ok(await herald(['history', 'msgs', 'k', '--json'])));
    assert.deepEqual(
      json.items.map((i) => i.message),
      ['not needed', 'let go', 'hold it', 'first value'],
    );
  });

  void test('apply takes the namespace as an argument; --ns still works; two different ones are refused', async () => {
    ok(await herald(['ns', 'create', 'applied']));
    const folder = join(dir.path, 'apply');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'port.json'), '8080');
    assert.match(ok(await herald(['apply', 'applied', '-f', folder, '-m', 'as code'])), /applied 1 change/u);
    assert.match(ok(await herald(['apply', '-f', folder, '--ns', 'applied'])), /already matches/u);
    fails(await herald(['apply', 'applied', '-f', folder, '--ns', 'other']), { exitCode: 2, line: /twice/u });
    fails(await herald(['apply', '-f', folder]), { exitCode: 2, line: /herald apply NS -f DIR/u });
    assert.match(ok(await herald(['history', 'applied'])), /"as code"/u);
  });

  void test('set --secret never echoes the secret: not in its output, not in --json, not in listings', async () => {
    ok(await herald(['ns', 'create', 'vault']));
    const secret = 'hunter2-very-secret';
    for (const args of [
      ['set', 'vault', 'db/password', secret, '--text', '--secret'],
      ['set', 'vault', 'db/password', secret, '--text', '--secret', '--json'],
      ['ls', 'vault'],
      ['history', 'vault'],
    ]) {
      const result = await herald(args);
      ok(result, args.join(' '));
      assert.equal(result.stdout.includes(secret), false, `${args.join(' ')} echoed the secret: ${result.stdout}`);
    }
    const json = parseJson<{ secret: boolean; redacted: boolean; value: unknown }>(
      ok(await herald(['set', 'vault', 'db/password', secret, '--text', '--secret', '--json'])),
    );
    assert.deepEqual([json.secret, json.redacted, json.value], [true, true, null]);
    // Asked for by name, it is shown: that is what get is for.
    assert.equal(ok(await herald(['get', 'vault', 'db/password'])).trim(), secret);
  });

  void test('set on an existing secret without --secret keeps it secret and says so; --no-secret makes it plain', async () => {
    ok(await herald(['ns', 'create', 'vault2']));
    ok(await herald(['set', 'vault2', 'api/key', 'first-secret', '--text', '--secret']));
    const kept = ok(await herald(['set', 'vault2', 'api/key', 'second-secret', '--text']));
    assert.match(kept, /<secret> \(revision \d+; kept secret, --no-secret makes it plain\)/u);
    assert.equal(kept.includes('second-secret'), false, 'not echoed');
    const still = parseJson<{ secret: boolean }>(ok(await herald(['get', 'vault2', 'api/key', '--json'])));
    assert.equal(still.secret, true);
    const plain = ok(await herald(['set', 'vault2', 'api/key', 'now-public', '--text', '--no-secret']));
    assert.match(plain, /= now-public \(revision \d+\)$/mu);
    assert.equal(
      parseJson<{ secret: boolean }>(ok(await herald(['get', 'vault2', 'api/key', '--json']))).secret,
      false,
    );
    // A plain entry stays plain, with no extra read's word about it.
    assert.doesNotMatch(ok(await herald(['set', 'vault2', 'api/key', 'again', '--text'])), /kept secret/u);
  });
});

void describe('listings for people', () => {
  void test('audit list: newest first, with filters (actor, action, namespace, since)', async () => {
    ok(await herald(['ns', 'create', 'audited']));
    ok(await herald(['set', 'audited', 'a', '1']));
    ok(await herald(['set', 'audited', 'b', '2']));
    const all = parseJson<{ items: Array<{ seq: number; action: string; target: string; actor: string }> }>(
      ok(await herald(['audit', 'list', '--json', '--limit', '1000'])),
    ).items;
    const seqs = all.map((r) => r.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
      'newest first',
    );
    const mine = parseJson<{ items: Array<{ action: string; target: string; actor: string }> }>(
      ok(await herald(['audit', 'list', '--json', '--ns', 'audited', '--action', 'entries', '--since', '1h'])),
    ).items;
    assert.equal(mine.length, 2);
    assert.ok(mine.every((r) => r.action === 'entries.commit' && r.target === 'namespace:audited'));
    const actor = mine[0]?.actor ?? '';
    assert.ok(
      parseJson<{ items: Array<{ actor: string }> }>(
        ok(await herald(['audit', 'list', '--json', '--actor', actor])),
      ).items.every((r) => r.actor === actor),
    );
    assert.deepEqual(
      parseJson<{ items: unknown[] }>(ok(await herald(['audit', 'list', '--json', '--since', '2999-01-01T00:00Z'])))
        .items,
      [],
    );
    const oldest = parseJson<{ items: Array<{ seq: number }> }>(
      ok(await herald(['audit', 'list', '--json', '--oldest', '--limit', '3'])),
    ).items;
    assert.deepEqual(
      oldest.map((r) => r.seq),
      [1, 2, 3],
    );
    const human = ok(await herald(['audit', 'list', '--ns', 'audited'])).split('\n');
    assert.match(human[0] ?? '', /^SEQ\s+AT \(UTC\)\s+ACTOR\s+ACTION\s+TARGET$/u);
    fails(await herald(['audit', 'list', '--since', 'yesterday-ish']), { exitCode: 2, line: /--since/u });
  });

  void test('token list has a header and shows expiry', async () => {
    ok(
      await herald([
        'token',
        'create',
        '--role',
        'reader',
        '--ns',
        'quiet',
        '--name',
        'short-lived',
        '--expires-in',
        '7200',
      ]),
    );
    const lines = ok(await herald(['token', 'list']))
      .trimEnd()
      .split('\n');
    assert.match(lines[0] ?? '', /^ID\s+NAME\s+SCOPES\s+CREATED \(UTC\)\s+EXPIRES \(UTC\)\s+STATE$/u);
    const row = lines.find((l) => l.includes('short-lived')) ?? '';
    assert.match(
      row,
      /reader:quiet\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+active, expires in (1|2) h/u,
    );
    assert.ok(
      lines.some((l) => /never\s+active$/u.test(l)),
      'the admin token never expires',
    );
  });

  void test('fleet shows reject reasons and health details without --json; rollout status explains a wave', async () => {
    const ns = 'fleeted';
    ok(await herald(['ns', 'create', ns]));
    ok(await herald(['set', ns, 'bad', 'false']));
    ok(await herald(['release', ns]));
    const clientToken = ok(await herald(['token', 'create', '--role', 'client', '--ns', ns])).trim();
    const sim = spawnHerald(
      [
        'simulate',
        '--ns',
        ns,
        '--instances',
        '4',
        '--reject-when',
        'bad=true',
        '--unhealthy-when',
        'crash=true',
        '--report-interval',
        '500',
      ],
      { HERALD_URL: server.url, HERALD_TOKEN: clientToken },
    );
    children.push(sim);
    await sim.waitForLine((l) => l.includes('simulating 4 instances'), { timeoutMs: 60_000 });
    const fleetJson = async () =>
      parseJson<{ instances: Array<{ status: string; health: string; seq: number }> }>(
        ok(await herald(['fleet', ns, '--json'])),
      ).instances;
    await eventually(async () => (await fleetJson()).length === 4, { timeoutMs: 30_000, message: '4 instances' });

    ok(await herald(['set', ns, 'crash', 'true']));
    ok(await herald(['release', ns, '-m', 'crashes']));
    await eventually(async () => (await fleetJson()).every((i) => i.health === 'failing'), {
      timeoutMs: 30_000,
      message: 'failing health reported',
    });
    ok(await herald(['set', ns, 'bad', 'true']));
    ok(await herald(['release', ns]));
    // Both releases of the bad content (the commit's own and `herald release`) are rejected; wait
    // until every instance has reported the newer one, so the listing has one line for all four.
    await eventually(
      async () => {
        const items = await fleetJson();
        return items.every((i) => i.status === 'rejected') && new Set(items.map((i) => i.seq)).size === 1;
      },
      { timeoutMs: 30_000, message: 'rejects of the newest release reported' },
    );
    const fleet = ok(await herald(['fleet', ns]));
    assert.match(fleet, /^4 instances report on fleeted$/mu);
    assert.match(fleet, /^rejected by 4:$/mu);
    assert.match(fleet, /release \d+: validation_failed: simulated rejection of release \d+ — 4 \(/u);
    assert.match(fleet, /^health: 4 failing$/mu);
    assert.match(fleet, /failing: simulated failure on release \d+ — 4 \(/u);

    // A staged rollout whose first wave takes half of the fleet.
    ok(await herald(['set', ns, 'bad', 'false']));
    ok(await herald(['set', ns, 'crash', 'false']));
    const policy = join(dir.path, 'fleeted-policy.yaml');
    await writeFile(
      policy,
      'strategy: staged\nwaves:\n  - { name: half, percent: 50, bake: 10m }\n  - { name: all, percent: 100, bake: 0s }\ngates: { minInstances: 0, minReportRatio: 0, maxUnhealthyRatio: 1 }\nautoRollback: false\n',
    );
    ok(await herald(['policy', 'set', ns, '-f', policy]));
    ok(await herald(['release', ns, '-m', 'staged']));
    const status = ok(await herald(['rollout', 'status', ns]));
    const lines = status.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^rollout \S+ of fleeted: release \d+ -> \d+, running at wave 0 "half"$/u);
    assert.match(status, /\d of 4 instances selected \(about 2 expected at 50 %/u);
    assert.match(status, /bake \d+ s of 10 min/u);
    assert.doesNotMatch(status, /\d+ms|\d+s\d/u, 'durations in human units');
    assert.equal(new Set(lines).size, lines.length, `each line once:\n${status}`);
    assert.equal(status.match(/left/gu)?.length, 1, `the bake left is said once:\n${status}`);
    ok(await herald(['rollout', 'abort', ns, '-m', 'test over']));
    assert.match(
      ok(await herald(['audit', 'list', '--ns', ns, '--action', 'rollout', '--limit', '1', '--json'])),
      /test over/u,
    );
  });
});
