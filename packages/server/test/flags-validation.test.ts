// Feature flags are validated on every write through the admin API: a flagd definition under
// application/vnd.herald.flag+json, the shared $evaluators, and Azure feature flags written through
// Herald's own API. A bad flag is refused with 422 invalid_flag naming each problem, and nothing
// is written. (The Azure API's path is in azure-feature-flags.test.ts, apply's in the CLI's tests.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { azureFlagContentType, evaluatorsContentType, flagContentType } from '@herald/flags';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, entryPath, setEntry, storeState } from './helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.close();
});

const goodFlag = {
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant: 'off',
  targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', 'off'] },
};

function violationsOf(response: { json: unknown }): Array<{ path: string; message: string }> {
  return (response.json as { violations: Array<{ path: string; message: string }> }).violations;
}

async function putFlag(namespace: string, key: string, value: unknown, contentType = flagContentType, label?: string) {
  return call(ts, 'PUT', entryPath(namespace, key, label), { body: { value, contentType } });
}

void describe('flagd flags on write', () => {
  void it('stores a valid definition under the flag content type, as any entry', async () => {
    await createNamespace(ts, 'flags-ok');
    const put = await setEntry(ts, 'flags-ok', 'new-checkout', { value: goodFlag, contentType: flagContentType });
    assert.deepEqual(put.value, goodFlag);
    assert.equal(put.contentType, flagContentType);
  });

  void it('refuses a definition with every problem named, and writes nothing', async () => {
    await createNamespace(ts, 'flags-bad');
    const before = await storeState(ts);
    const response = await putFlag('flags-bad', 'checkout', {
      state: 'ON',
      variants: { on: true, off: 'no' },
      defaultVariant: 'maybe',
      colour: 'red',
    });
    assertProblem(response, 'invalid_flag');
    const paths = violationsOf(response).map((v) => v.path);
    assert.deepEqual(paths.sort(), [
      'checkout:/colour',
      'checkout:/defaultVariant',
      'checkout:/state',
      'checkout:/variants',
    ]);
    assert.match(
      violationsOf(response).find((v) => v.path === 'checkout:/variants')?.message ?? '',
      /"on" is boolean, "off" is string/u,
    );
    assert.deepEqual(await storeState(ts), before);
  });

  void it('refuses targeting that does not parse, or returns a variant that does not exist', async () => {
    await createNamespace(ts, 'flags-targeting');
    const unknownOperation = await putFlag('flags-targeting', 'f', { ...goodFlag, targeting: { nonsense: [1, 2] } });
    assert.match(violationsOf(assertProblemResponse(unknownOperation))[0]?.message ?? '', /does not parse/u);
    const unknownVariant = await putFlag('flags-targeting', 'f', {
      ...goodFlag,
      targeting: {
        fractional: [
          ['on', 50],
          ['of', 50],
        ],
      },
    });
    assert.deepEqual(violationsOf(assertProblemResponse(unknownVariant)), [
      { path: 'f:/targeting/fractional/1/0', message: 'targeting can return "of", which is not one of the variants' },
    ]);
    // A bare comparison returns true or false, which flagd reads as variants "true" and "false".
    const bare = await putFlag('flags-targeting', 'f', { ...goodFlag, targeting: { '==': [{ var: 'x' }, 1] } });
    assert.equal(violationsOf(assertProblemResponse(bare)).length, 2);
    const fine = await putFlag('flags-targeting', 'g', {
      state: 'DISABLED',
      variants: { true: 'yes', false: 'no' },
      defaultVariant: 'false',
      targeting: { sem_ver: [{ var: 'version' }, '>=', '2.0.0'] },
    });
    assert.equal(fine.status, 200, fine.text);
  });

  void it('resolves $ref against the $evaluators entry of the label, else of the empty label', async () => {
    await createNamespace(ts, 'flags-refs');
    const withRef = { ...goodFlag, targeting: { if: [{ $ref: 'staff' }, 'on', 'off'] } };
    const dangling = await putFlag('flags-refs', 'f', withRef);
    assert.deepEqual(violationsOf(assertProblemResponse(dangling)), [
      { path: 'f:/targeting/if/0', message: '$ref "staff" names no shared evaluator (see the $evaluators entry)' },
    ]);
    const wrongType = await putFlag(
      'flags-refs',
      '$evaluators',
      { staff: { in: ['@x', { var: 'email' }] } },
      'application/json',
    );
    assertProblemResponse(wrongType);
    const evaluatorsElsewhere = await putFlag('flags-refs', 'shared', {}, evaluatorsContentType);
    assertProblemResponse(evaluatorsElsewhere);
    const evaluators = await putFlag(
      'flags-refs',
      '$evaluators',
      { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
      evaluatorsContentType,
    );
    assert.equal(evaluators.status, 200, evaluators.text);
    assert.equal((await putFlag('flags-refs', 'f', withRef)).status, 200);
    assert.equal((await putFlag('flags-refs', 'f', withRef, flagContentType, 'prod')).status, 200, 'falls back to ""');

    // A change of the evaluators that would leave a stored flag's $ref dangling is refused too.
    const before = await storeState(ts);
    const removal = await call(ts, 'DELETE', entryPath('flags-refs', '$evaluators'));
    const problems = violationsOf(assertProblemResponse(removal));
    assert.deepEqual(problems.map((p) => p.path).sort(), [
      '[label (none)] f:/targeting/if/0',
      '[label prod] f:/targeting/if/0',
    ]);
    const renamed = await putFlag('flags-refs', '$evaluators', { employees: { '==': [1, 1] } }, evaluatorsContentType);
    assertProblemResponse(renamed);
    assert.deepEqual(await storeState(ts), before);

    // In one commit, the evaluator and the flags that use it may change together.
    const commit = await call(ts, 'POST', '/v1/namespaces/flags-refs/commits', {
      body: {
        changes: [
          { op: 'set', key: '$evaluators', value: { employees: { '==': [1, 1] } }, contentType: evaluatorsContentType },
          {
            op: 'set',
            key: 'f',
            value: { ...goodFlag, targeting: { if: [{ $ref: 'employees' }, 'on', 'off'] } },
            contentType: flagContentType,
          },
          { op: 'set', key: 'f', label: 'prod', value: goodFlag, contentType: flagContentType },
        ],
      },
    });
    assert.equal(commit.status, 201, commit.text);
  });

  void it('refuses an Azure feature flag that breaks Microsoft’s schema, through Herald’s API too', async () => {
    await createNamespace(ts, 'flags-azure-api');
    const key = '.appconfig.featureflag/Beta';
    const bad = await putFlag(
      'flags-azure-api',
      key,
      { id: 'Gamma', enabled: 'yes', conditions: { client_filters: [{ parameters: {} }] } },
      azureFlagContentType,
    );
    const paths = violationsOf(assertProblemResponse(bad)).map((v) => v.path);
    assert.ok(paths.includes(`${key}:/enabled`), paths.join());
    assert.ok(paths.includes(`${key}:/conditions/client_filters/0`), paths.join());
    const idMismatch = await putFlag('flags-azure-api', key, { id: 'Gamma', enabled: true }, azureFlagContentType);
    assert.deepEqual(
      violationsOf(assertProblemResponse(idMismatch)).map((v) => v.path),
      [`${key}:/id`],
    );
    const good = await putFlag(
      'flags-azure-api',
      key,
      { id: 'Beta', enabled: true, conditions: { client_filters: [] } },
      azureFlagContentType,
    );
    assert.equal(good.status, 200, good.text);
    // Outside the flag prefix, or under another content type, the value is not read as a flag.
    assert.equal((await putFlag('flags-azure-api', 'flag', { enabled: 1 }, azureFlagContentType)).status, 200);
    assert.equal((await putFlag('flags-azure-api', `${key}2`, 'v1', 'text/plain')).status, 200);
  });
});

function assertProblemResponse<T extends { status: number; headers: Headers; text: string; json: unknown }>(
  response: T,
): T {
  assertProblem(response, 'invalid_flag');
  return response;
}
