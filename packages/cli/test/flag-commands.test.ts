// `herald flag set/get/enable/disable/list`, and flags in `herald apply` folders (NAME.flag.yaml,
// $evaluators.yaml): real `herald` child processes against a real `herald server` child process.
// A malformed flag is refused by the server through both, in the CLI's one-line error form.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';
import { fails, heraldAt, ok, parseJson, type RunResult } from './helpers.js';

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let herald: (args: string[], env?: Record<string, string>) => Promise<RunResult>;

before(async () => {
  dir = await tempDir('herald-cli-flags-');
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
  ok(await herald(['ns', 'create', 'shop']));
});

after(async () => {
  await server?.kill();
  await dir?.cleanup();
});

const definition = JSON.stringify({ state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off' });

void test('flag set, get, enable, disable and list are commits of flag entries', async () => {
  assert.match(
    ok(await herald(['flag', 'set', 'shop', 'checkout', definition])),
    /^shop\/checkout {2}DISABLED {2}default off {2}variants on, off \(revision \d+\)\n$/u,
  );
  assert.deepEqual(parseJson(ok(await herald(['flag', 'get', 'shop', 'checkout']))), JSON.parse(definition));
  assert.match(
    ok(await herald(['flag', 'enable', 'shop', 'checkout', '-m', 'launch'])),
    /^enabled shop\/checkout \(revision \d+\)\n$/u,
  );
  const entry = parseJson<{ value: { state: string }; contentType: string }>(
    ok(await herald(['flag', 'get', 'shop', 'checkout', '--json'])),
  );
  assert.equal(entry.value.state, 'ENABLED');
  assert.equal(entry.contentType, 'application/vnd.herald.flag+json');
  ok(await herald(['flag', 'set', 'shop', 'checkout', definition, '--label', 'prod']));
  ok(await herald(['set', 'shop', 'plain', '1']));
  assert.equal(
    ok(await herald(['flag', 'list', 'shop'])),
    'checkout  ENABLED  default off  variants on, off\ncheckout [prod]  DISABLED  default off  variants on, off\n',
  );
  assert.match(ok(await herald(['flag', 'disable', 'shop', 'checkout'])), /^disabled shop\/checkout/u);
  const history = parseJson<{ items: Array<{ message: string }> }>(ok(await herald(['history', 'shop', '--json'])));
  assert.ok(
    history.items.some((i) => i.message === 'launch'),
    'the toggle is an ordinary commit with its message',
  );
  fails(await herald(['flag', 'enable', 'shop', 'plain']), {
    exitCode: 1,
    line: /^herald: shop\/plain is not a flag/u,
  });
});

void test('a malformed flag is refused with its problems, in the CLI error form', async () => {
  const line = fails(
    await herald([
      'flag',
      'set',
      'shop',
      'bad',
      JSON.stringify({ state: 'ENABLED', variants: { on: true }, defaultVariant: 'off' }),
    ]),
    { exitCode: 1 },
  );
  assert.match(
    line,
    /^herald: .*bad:\/defaultVariant defaultVariant "off" is not one of the variants.* \[invalid_flag\]$/u,
  );
});

void test('apply writes NAME.flag.yaml as a flag and $evaluators.yaml as the shared evaluators, and is refused for a bad flag', async () => {
  ok(await herald(['ns', 'create', 'applied']));
  const folder = join(dir.path, 'config');
  await mkdir(join(folder, 'flags'), { recursive: true });
  await writeFile(join(folder, '$evaluators.yaml'), 'staff:\n  ends_with: [{ var: email }, "@example.com"]\n');
  await writeFile(
    join(folder, 'flags', 'checkout.flag.yaml'),
    'state: ENABLED\nvariants: { on: true, off: false }\ndefaultVariant: off\ntargeting:\n  if: [{ $ref: staff }, "on", "off"]\n',
  );
  await writeFile(join(folder, 'db.yaml'), 'pool: 10\n');
  ok(await herald(['apply', '-f', folder, '--ns', 'applied']), 'apply');
  const listed = ok(await herald(['flag', 'list', 'applied']));
  assert.equal(listed, 'flags/checkout  ENABLED  default off  variants on, off  targeted\n');
  assert.match(
    ok(await herald(['apply', '-f', folder, '--ns', 'applied'])),
    /already matches/u,
    'content types compared too',
  );

  await writeFile(
    join(folder, 'flags', 'checkout.flag.yaml'),
    'state: ENABLED\nvariants: { on: true, off: false }\ndefaultVariant: off\ntargeting:\n  if: [{ $ref: nobody }, "on", "maybe"]\n',
  );
  const line = fails(await herald(['apply', '-f', folder, '--ns', 'applied']), { exitCode: 1, stdout: 'any' });
  assert.match(line, /\$ref "nobody" names no shared evaluator.*\[invalid_flag\]$/u);
});

void test('herald flags NS: the summary table (state, variants, rollout, evaluations, stale) and --json', async () => {
  ok(await herald(['ns', 'create', 'summary']));
  ok(await herald(['flag', 'set', 'summary', 'checkout', definition]));
  ok(
    await herald([
      'flag',
      'set',
      'summary',
      'banner',
      JSON.stringify({
        state: 'ENABLED',
        variants: { a: 'a', b: 'b' },
        defaultVariant: 'a',
        targeting: { if: [true, 'b', 'a'] },
      }),
    ]),
  );
  // Evaluated over OFREP, counted by the server.
  const evaluated = await fetch(`${server.url}/v1/namespaces/summary/ofrep/v1/evaluate/flags/banner`, {
    method: 'POST',
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    body: '{"context":{}}',
  });
  assert.equal(evaluated.status, 200, await evaluated.text());
  const lines = ok(await herald(['flags', 'summary']))
    .trimEnd()
    .split('\n');
  assert.match(lines[0] ?? '', /^FLAG +STATE +DEFAULT OF VARIANTS +ROLLOUT +LAST HOUR +LAST DAY +EVALUATED$/u);
  assert.match(lines[1] ?? '', /^banner +ENABLED +a of a, b \+targeting +- +b 1 +b 1 +(just now|\d+ s ago)$/u);
  assert.match(lines[2] ?? '', /^checkout +DISABLED +off of on, off +- +- +- +never$/u);
  const summary = parseJson<{ staleAfterDays: number; flags: Array<{ key: string; stale: boolean }> }>(
    ok(await herald(['flags', 'summary', '--json', '--stale-days', '30'])),
  );
  assert.equal(summary.staleAfterDays, 30);
  assert.deepEqual(
    summary.flags.map((f) => [f.key, f.stale]),
    [
      ['banner', false],
      ['checkout', false],
    ],
  );
  fails(await herald(['flags', 'summary', '--stale-days', '0']), { exitCode: 2 });
  fails(await herald(['flags', 'nowhere']), { exitCode: 1, line: /namespace_not_found/u });
});
