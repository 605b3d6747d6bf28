// The agent's configuration: checked once, every problem named in one coded error, frozen; the
// YAML file form with paths relative to the file.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  agentDefaults,
  AgentError,
  createAgent,
  loadAgentConfig,
  parseListen,
  resolveAgentConfig,
  type AgentConfigInput,
} from '@herald/agent';

let dir: string;
const key = { keyId: 'k-1', publicKey: Buffer.alloc(32, 1).toString('base64'), createdAt: 1 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-agent-config-'));
  await writeFile(join(dir, 'keys.json'), JSON.stringify({ keys: [key] }));
  await writeFile(join(dir, 'app.tmpl'), 'max={{ db/pool/max }}\n');
  await writeFile(join(dir, 'token.txt'), '  secret-token\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function minimal(extra: Partial<AgentConfigInput> = {}): AgentConfigInput {
  return {
    url: 'http://127.0.0.1:8420',
    token: 't',
    subscriptions: [{ namespace: 'payments', out: join(dir, 'out.json') }],
    ...extra,
  };
}

function problemsOf(input: unknown, baseDir = dir): string[] {
  try {
    resolveAgentConfig(input as AgentConfigInput, { baseDir });
  } catch (error) {
    assert.ok(error instanceof AgentError);
    assert.equal(error.code, 'invalid_config');
    return [...error.problems];
  }
  assert.fail('expected invalid_config');
}

void describe('resolveAgentConfig', () => {
  void it('fills the defaults and freezes the result', () => {
    const config = resolveAgentConfig(minimal());
    assert.equal(config.instanceId, hostname());
    assert.equal(config.trust, 'tofu');
    assert.equal(config.cacheDir, undefined);
    assert.equal(config.http, undefined);
    assert.equal(config.reportIntervalMs, agentDefaults.reportIntervalMs);
    const [sub] = config.subscriptions;
    assert.ok(sub);
    assert.equal(sub.format, 'json');
    assert.equal(sub.execTimeoutMs, 30_000);
    assert.equal(sub.mode, undefined);
    assert.deepEqual(sub.labels, []);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.subscriptions) && Object.isFrozen(sub));
    assert.throws(() => {
      (config as { url: string }).url = 'x';
    }, TypeError);
  });

  void it('reads trust, template and token files, parses mode, durations and the listen address', () => {
    const config = resolveAgentConfig(
      {
        url: 'https://herald.internal:7400',
        tokenFile: 'token.txt',
        trust: 'keys.json',
        cacheDir: 'cache',
        instanceId: 'web-1',
        attributes: { region: 'eu' },
        http: { listen: '127.0.0.1:0' },
        subscriptions: [
          {
            namespace: 'payments',
            labels: 'prod',
            out: 'app.conf',
            format: 'template',
            template: 'app.tmpl',
            mode: '0640',
            exec: 'true',
            execTimeout: '2m',
          },
        ],
      },
      { baseDir: dir },
    );
    assert.equal(config.token, 'secret-token');
    assert.notEqual(config.trust, 'tofu');
    assert.deepEqual(config.trust !== 'tofu' && config.trust.keys, [key]);
    assert.equal(config.cacheDir, join(dir, 'cache'));
    assert.deepEqual(config.http, { host: '127.0.0.1', port: 0, serveSecrets: false });
    const sub = config.subscriptions[0];
    assert.ok(sub);
    assert.equal(sub.out, join(dir, 'app.conf'));
    assert.deepEqual(sub.labels, ['prod']);
    assert.equal(sub.mode, 0o640);
    assert.equal(sub.execTimeoutMs, 120_000);
    assert.deepEqual(sub.template?.parsed.keys, ['db/pool/max']);
  });

  void it('names every problem at once, each with the path of its setting', () => {
    const problems = problemsOf({
      url: 'ftp://x',
      tken: 't',
      http: { listen: '0.0.0.0:80' },
      subscriptions: [
        { namespace: 'Bad Name', out: 'a.json', format: 'xml' },
        { namespace: 'ok', out: 'a.json', mode: 640, execTimeout: '30' },
        { namespace: 'ok', out: 'b.conf', format: 'template' },
        { namespace: 'ok', out: 'c.conf', format: 'template', template: 'missing.tmpl' },
        'nope',
      ],
    });
    const expect = [
      /unknown setting "tken"/u,
      /url must be http: or https:/u,
      /token is required/u,
      /http\.listen: "0\.0\.0\.0" is not a loopback address/u,
      /subscriptions\[0\]\.namespace: namespace "Bad Name"/u,
      /subscriptions\[0\]\.format must be one of json, yaml, env, template/u,
      /subscriptions\[1\]\.out: subscriptions\[0\] writes .*a\.json too/u,
      /subscriptions\[1\]\.mode must be an octal string .*quote it/u,
      /subscriptions\[1\]\.execTimeout "30" has no unit/u,
      /subscriptions\[2\]\.template is required/u,
      /subscriptions\[3\]\.template: .*missing\.tmpl/u,
      /subscriptions\[4\] must be an object/u,
    ];
    for (const pattern of expect)
      assert.ok(
        problems.some((p) => pattern.test(p)),
        `no problem matches ${pattern}; got:\n${problems.join('\n')}`,
      );
    assert.equal(problems.length, expect.length, problems.join('\n'));
  });

  void it('takes several endpoints in order of preference: commas or a YAML list', () => {
    assert.equal(
      resolveAgentConfig(minimal({ url: 'http://relay-a:7401, http://cp:7400' })).url,
      'http://relay-a:7401, http://cp:7400',
    );
    assert.equal(
      resolveAgentConfig(minimal({ url: ['http://relay-a:7401', 'http://cp:7400'] })).url,
      'http://relay-a:7401,http://cp:7400',
    );
    assert.match(problemsOf(minimal({ url: 'http://a:1,http://a:1' })).join(), /names http:\/\/a:1\/ twice/u);
    assert.match(problemsOf(minimal({ url: 'http://a:1,nope' })).join(), /url "nope" is not a URL/u);
  });

  void it('refuses an empty subscription list, a template on a non-template format, and token with tokenFile', () => {
    assert.match(problemsOf(minimal({ subscriptions: [] })).join(), /at least one view/u);
    assert.match(
      problemsOf(minimal({ subscriptions: [{ namespace: 'a', out: 'x', template: 'app.tmpl' }] })).join(),
      /only for format: template/u,
    );
    assert.match(problemsOf(minimal({ tokenFile: 'token.txt' })).join(), /not both/u);
  });

  void it('createAgent checks too, and the SDK options it builds', () => {
    assert.throws(() => createAgent({ ...minimal(), url: '' }), { code: 'invalid_config' });
  });
});

void describe('parseListen', () => {
  void it('takes loopback addresses only', () => {
    assert.deepEqual(parseListen('127.0.0.1:7401'), { host: '127.0.0.1', port: 7401 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
    assert.throws(() => parseListen('10.0.0.1:80'), /not a loopback/u);
    assert.throws(() => parseListen('127.0.0.1'), /not HOST:PORT/u);
    assert.throws(() => parseListen('127.0.0.1:70000'), /out of range/u);
  });
});

void describe('loadAgentConfig', () => {
  void it('reads YAML, takes relative paths from the file, and lets overrides fill or force settings', async () => {
    const sub = join(dir, 'etc');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'app.tmpl'), '{{ x }}');
    const file = join(sub, 'agent.yaml');
    await writeFile(
      file,
      [
        'instanceId: from-file',
        'subscriptions:',
        '  - namespace: payments',
        '    labels: [prod, prod/eu]',
        '    out: out/app.env',
        '    format: env',
        '  - namespace: payments',
        '    out: app.conf',
        '    format: template',
        '    template: app.tmpl',
        '',
      ].join('\n'),
    );
    const config = loadAgentConfig(file, {
      fill: { url: 'http://127.0.0.1:1', token: 'env-token' },
      force: { instanceId: 'from-flag' },
    });
    assert.equal(config.url, 'http://127.0.0.1:1');
    assert.equal(config.token, 'env-token');
    assert.equal(config.instanceId, 'from-flag');
    assert.equal(config.subscriptions[0]?.out, join(sub, 'out', 'app.env'));
    assert.deepEqual(config.subscriptions[0]?.labels, ['prod', 'prod/eu']);
    assert.equal(config.subscriptions[1]?.template?.file, join(sub, 'app.tmpl'));
  });

  void it('a file that is not YAML or not a mapping is one clear error', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'url: [unclosed');
    assert.throws(
      () => loadAgentConfig(file),
      (error: AgentError) => error.code === 'invalid_config' && error.message.includes(file),
    );
    await writeFile(file, '- a\n- b\n');
    assert.throws(() => loadAgentConfig(file), /must hold a mapping/u);
  });
});
