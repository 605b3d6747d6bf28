// `herald apply -f DIR --ns NS`: config as code. A folder of YAML/JSON files (path without the
// extension → key) is diffed against the live namespace and applied as ONE commit; --dry-run shows
// the diff only; --prune deletes keys that are no longer in the folder. Real `herald` child
// processes against a real `herald server` child process.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';
import { fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

interface Entry {
  key: string;
  label: string;
  value: unknown;
  revision: number;
}
interface HistoryPage {
  items: Array<{
    revision: number;
    message: string;
    changes: Array<{ op: string; key: string; label: string; entry?: Entry }>;
  }>;
}

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let herald: (args: string[], env?: Record<string, string>) => Promise<RunResult>;
let counter = 0;

before(async () => {
  dir = await tempDir('herald-cli-apply-');
  server = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'warn',
  ]);
  herald = heraldAt(server.url, testAdminToken);
});

after(async () => {
  await server?.kill();
  await dir?.cleanup();
});

/** A fresh namespace and an empty config folder for one test. */
async function fixture(): Promise<{ ns: string; folder: string }> {
  counter += 1;
  const ns = `apply-${counter}`;
  ok(await herald(['ns', 'create', ns]));
  const folder = join(dir.path, `config-${counter}`);
  await mkdir(folder, { recursive: true });
  return { ns, folder };
}

async function writeFiles(folder: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(folder, path)), { recursive: true });
    await writeFile(join(folder, path), text);
  }
}

async function history(ns: string): Promise<HistoryPage['items']> {
  return parseJson<HistoryPage>(ok(await herald(['history', ns, '--json', '--limit', '1000']))).items;
}

/** Every live entry of the namespace (all labels) as { "key [label]": value }. */
async function live(ns: string): Promise<Record<string, unknown>> {
  const { items } = parseJson<{ items: Entry[] }>(ok(await herald(['ls', ns, '--json'])));
  return Object.fromEntries(items.map((e) => [e.label ? `${e.key} [${e.label}]` : e.key, e.value]));
}

const nested = {
  'db/pool.yaml': 'max: 10\nidle: 2\n',
  'db/replicas/eu.yml': '- host: a\n- host: b\n',
  'features.json': '{"checkout": true, "ratio": 0.25}',
  'name.yaml': 'payments\n',
};
const nestedValues = {
  'db/pool': { max: 10, idle: 2 },
  'db/replicas/eu': [{ host: 'a' }, { host: 'b' }],
  features: { checkout: true, ratio: 0.25 },
  name: 'payments',
};

void test('nested YAML and JSON files: the diff is shown and applied as exactly one commit', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, nested);
  const out = ok(await herald(['apply', '-f', folder, '--ns', ns]));
  for (const key of Object.keys(nestedValues))
    assert.match(out, new RegExp(`^\\+ ${key} = `, 'mu'), `diff line for ${key}`);
  assert.deepEqual(await live(ns), nestedValues);

  const commits = await history(ns);
  assert.equal(commits.length, 1, 'one commit for all the files');
  const commit = commits[0];
  assert.ok(commit);
  assert.deepEqual(commit.changes.map((c) => c.key).sort(), Object.keys(nestedValues).sort());
  assert.ok(commit.changes.every((c) => c.op === 'set'));
  assert.match(out, new RegExp(`revision ${commit.revision}\\b`, 'u'));
  assert.equal(
    parseJson<{ revision: number }>(ok(await herald(['ns', 'get', ns, '--json']))).revision,
    commit.revision,
  );
});

void test('--dry-run shows the diff and changes nothing', async () => {
  const { ns, folder } = await fixture();
  ok(await herald(['set', ns, 'name', '"old"']));
  await writeFiles(folder, nested);
  const before = await history(ns);
  const out = ok(await herald(['apply', '-f', folder, '--ns', ns, '--dry-run']));
  assert.match(out, /^\+ db\/pool = /mu);
  assert.match(out, /^~ name: old -> payments$/mu);
  assert.match(out, /dry run/u);
  assert.deepEqual(await history(ns), before);
  assert.deepEqual(await live(ns), { name: 'old' });

  const json = parseJson<{ applied: boolean; dryRun: boolean; changes: Array<{ key: string; kind: string }> }>(
    ok(await herald(['apply', '-f', folder, '--ns', ns, '--dry-run', '--json'])),
  );
  assert.equal(json.applied, false);
  assert.equal(json.dryRun, true);
  assert.deepEqual(json.changes.map((c) => `${c.kind} ${c.key}`).sort(), [
    'added db/pool',
    'added db/replicas/eu',
    'added features',
    'changed name',
  ]);
  assert.deepEqual(await history(ns), before);
});

void test('re-applying an unchanged folder is a no-op: no new revision', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, nested);
  ok(await herald(['apply', '-f', folder, '--ns', ns]));
  const before = await history(ns);
  const out = ok(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.match(out, /already matches/u);
  assert.doesNotMatch(out, /^[+~-] /mu);
  assert.deepEqual(await history(ns), before);
  const json = parseJson<{ applied: boolean; revision: number | null }>(
    ok(await herald(['apply', '-f', folder, '--ns', ns, '--json'])),
  );
  assert.equal(json.applied, false);
  assert.equal(json.revision, null);
  assert.equal((await history(ns)).length, 1);
});

void test('a changed file shows a ~ line and only that key changes, in one new commit', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, nested);
  ok(await herald(['apply', '-f', folder, '--ns', ns]));
  await writeFiles(folder, { 'db/pool.yaml': 'max: 20\nidle: 2\n' });
  const out = ok(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.match(out, /^~ db\/pool: \{"max":10,"idle":2\} -> \{"max":20,"idle":2\}$/mu);
  assert.doesNotMatch(out, /^[+~-] (features|name|db\/replicas)/mu);
  const commits = await history(ns);
  assert.equal(commits.length, 2);
  assert.deepEqual(
    commits[0]?.changes.map((c) => [c.op, c.key, c.entry?.value]),
    [['set', 'db/pool', { max: 20, idle: 2 }]],
  );
  assert.deepEqual((await live(ns))['db/pool'], { max: 20, idle: 2 });
});

void test('without --prune keys missing from the folder are kept; with --prune they are deleted', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, nested);
  ok(await herald(['set', ns, 'manual', '1']));
  ok(await herald(['set', ns, 'manual', '2', '--label', 'prod']));
  const kept = ok(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.match(kept, /not in the folder kept/u);
  assert.doesNotMatch(kept, /^- manual/mu);
  await rm(join(folder, 'name.yaml'));
  ok(await herald(['apply', '-f', folder, '--ns', ns]));
  const afterKeep = await live(ns);
  assert.equal(afterKeep.manual, 1);
  assert.equal(afterKeep.name, 'payments');

  const pruned = ok(await herald(['apply', '-f', folder, '--ns', ns, '--prune']));
  assert.match(pruned, /^- manual = 1$/mu);
  assert.match(pruned, /^- name = payments$/mu);
  const afterPrune = await live(ns);
  assert.equal('manual' in afterPrune, false);
  assert.equal('name' in afterPrune, false);
  assert.deepEqual(afterPrune['db/pool'], nestedValues['db/pool']);
  // --prune works on the label being applied only: the prod variant is not in scope.
  assert.equal(afterPrune['manual [prod]'], 2);
  const commits = await history(ns);
  assert.deepEqual(commits[0]?.changes.map((c) => `${c.op} ${c.key}`).sort(), ['delete manual', 'delete name']);
});

void test('--label applies the folder to that label and leaves the default label alone', async () => {
  const { ns, folder } = await fixture();
  ok(await herald(['set', ns, 'db/pool', '{"max": 1}']));
  await writeFiles(folder, { 'db/pool.yaml': 'max: 50\n', 'extra.json': '"x"' });
  const out = ok(await herald(['apply', '-f', folder, '--ns', ns, '--label', 'prod', '--prune']));
  assert.match(out, /^\+ db\/pool \[prod\] = /mu);
  assert.deepEqual(await live(ns), { 'db/pool': { max: 1 }, 'db/pool [prod]': { max: 50 }, 'extra [prod]': 'x' });
  // Applying the same folder to the same label again is a no-op.
  const before = await history(ns);
  assert.match(ok(await herald(['apply', '-f', folder, '--ns', ns, '--label', 'prod'])), /already matches/u);
  assert.deepEqual(await history(ns), before);
});

void test('an invalid YAML file fails with one line naming the file, and nothing is applied', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, { ...nested, 'broken.yaml': 'a: [1, 2\nb: }\n' });
  const line = fails(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.ok(line.includes(join(folder, 'broken.yaml')), line);
  assert.deepEqual(await history(ns), []);
  assert.deepEqual(await live(ns), {});
});

void test('an invalid JSON file fails with one line naming the file, and nothing is applied', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, { ...nested, 'sub/broken.json': '{"a": 1,}' });
  const line = fails(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.ok(line.includes(join(folder, 'sub', 'broken.json')), line);
  assert.deepEqual(await history(ns), []);
});

void test('two files that map to the same key fail, and nothing is applied', async () => {
  const { ns, folder } = await fixture();
  await writeFiles(folder, { ...nested, 'a.json': '1', 'a.yaml': '2\n' });
  const line = fails(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.match(line, /a\.json/u);
  assert.match(line, /a\.yaml/u);
  assert.match(line, /"a"/u);
  assert.deepEqual(await history(ns), []);
});

void test('a file that violates the namespace schema: nothing is applied, the violation is named', async () => {
  const { ns, folder } = await fixture();
  const schemaFile = join(dir.path, `schema-${ns}.json`);
  await writeFile(
    schemaFile,
    JSON.stringify({
      prefixes: [
        { prefix: 'db/pool', schema: { type: 'object', properties: { max: { type: 'integer', maximum: 100 } } } },
      ],
    }),
  );
  ok(await herald(['schema', 'set', ns, '-f', schemaFile]));
  await writeFiles(folder, { ...nested, 'db/pool.yaml': 'max: 1000\n' });
  // The diff is shown first, then the server refuses the whole commit.
  const line = fails(await herald(['apply', '-f', folder, '--ns', ns]), { stdout: 'any' });
  assert.match(line, /db\/pool/u);
  assert.match(line, /\[schema_violation\]/u);
  assert.equal(line.split('db/pool').length - 1, 1, `the violation is named once: ${line}`);
  assert.deepEqual(await history(ns), []);
  assert.deepEqual(await live(ns), {});

  // The same folder with a valid value applies.
  await writeFiles(folder, { 'db/pool.yaml': 'max: 100\n' });
  ok(await herald(['apply', '-f', folder, '--ns', ns]));
  assert.equal((await history(ns)).length, 1);
});

void test('a folder that does not exist, or a namespace that does not exist, fails with one line', async () => {
  const { ns, folder } = await fixture();
  fails(await herald(['apply', '-f', join(folder, 'missing'), '--ns', ns]), { line: /missing/u });
  await writeFiles(folder, nested);
  fails(await herald(['apply', '-f', folder, '--ns', 'no-such-namespace']), { line: /not_found\]/u });
});
