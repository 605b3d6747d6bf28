// The relay as a library: its configuration is validated once and frozen, its lifecycle is the
// server's (close() shared by concurrent callers, destroy(), closed() that never rejects), and
// in process it serves what the control plane released, through the same parts.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HeraldError } from '@herald/core';
import { Relay, resolveRelayConfig } from '@herald/server';
import { applyViewEvent, RawWatch, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
const required = { upstream: 'http://127.0.0.1:1', token: 'relay-token', trust: 'tofu', cacheDir: '/tmp/x' } as const;

void describe('relay configuration', () => {
  void it('fills in the defaults shared with the server, and freezes', () => {
    const config = resolveRelayConfig(required);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 0);
    assert.equal(config.heartbeatMs, 15_000);
    assert.equal(config.maxWatchStreams, 18_000);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.limits));
  });

  void it('names every problem in one invalid_request', () => {
    assert.throws(
      () =>
        resolveRelayConfig({
          ...required,
          upstream: 'ftp://nowhere',
          token: '',
          heartbeatMs: 0,
          port: 70_000,
          logLevel: 'loud',
        }),
      (error: unknown) => {
        assert.ok(error instanceof HeraldError);
        assert.equal(error.code, 'invalid_request');
        for (const part of ['upstream must be', 'token must not be empty', 'heartbeatMs', 'port must be', 'logLevel'])
          assert.ok(error.message.includes(part), `${error.message} names ${part}`);
        return true;
      },
    );
  });
});

void describe('relay lifecycle', () => {
  void it('close() twice at once is one shutdown; closed() resolves; destroy() after is harmless', async () => {
    const relay = new Relay({ ...required, logLevel: 'silent', logStream: silent });
    const first = relay.close();
    const second = relay.close();
    assert.equal(first, second);
    await first;
    assert.equal(await relay.closed(), undefined);
    await relay.destroy();
  });
});

void describe('relay in process', () => {
  let ts: TestServer;
  let relay: Relay;
  let cache: { path: string; cleanup: () => Promise<void> };
  let client: string;

  before(async () => {
    ts = await startTestServer();
    cache = await tempDir('herald-relay-');
    await createNamespace(ts, 'app');
    await setEntry(ts, 'app', 'color', { value: 'blue' });
    const relayToken = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
    client = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
    relay = new Relay({
      upstream: ts.url,
      token: relayToken.token,
      trust: 'tofu',
      cacheDir: cache.path,
      logLevel: 'silent',
      logStream: silent,
      routeWaitSeconds: 1,
    });
    await relay.listen();
  });

  after(async () => {
    await relay.close();
    await ts.close();
    await cache.cleanup();
  });

  void it('serves the released view, and a new release through its long poll', async () => {
    const url = relay.url;
    const first = await call({ url, adminToken: client }, 'GET', '/v1/views/app');
    assert.equal(first.status, 200, first.text);
    const view = first.json as { manifest: { seq: number }; values: Record<string, unknown> };
    assert.deepEqual(view.values, { color: 'blue' });
    await setEntry(ts, 'app', 'color', { value: 'green' });
    const etag = first.headers.get('etag') ?? '';
    const next = await call({ url, adminToken: client }, 'GET', '/v1/views/app?wait=20', {
      headers: { 'if-none-match': etag },
    });
    assert.equal(next.status, 200, next.text);
    const moved = next.json as { manifest: { seq: number }; values: Record<string, unknown> };
    assert.deepEqual(moved.values, { color: 'green' });
    assert.ok(moved.manifest.seq > view.manifest.seq);
  });

  void it("sends its watchers each release as a delta of the keys it changed, from the views' digests", async () => {
    await setEntry(ts, 'app', 'size', { value: 'L' });
    const stream = await RawWatch.open(relay.url, [{ namespace: 'app' }], { token: client });
    try {
      assert.equal((await stream.nextView()).type, 'hello');
      let held = applyViewEvent(undefined, await stream.nextView());
      for (let i = 0; i < 20 && held.values.size !== 'L'; i += 1) held = applyViewEvent(held, await stream.nextView());
      assert.equal(held.values.size, 'L');
      await setEntry(ts, 'app', 'color', { value: 'violet' });
      const event = await stream.nextView();
      assert.equal(event.type, 'delta');
      assert.deepEqual(event.body.set, { color: 'violet' }, 'only the key that changed');
      assert.deepEqual(event.body.remove, []);
      held = applyViewEvent(held, event);
      assert.deepEqual({ ...held.values }, { color: 'violet', size: 'L' });
    } finally {
      await stream.close();
    }
  });

  void it('refuses a token the upstream does not know', async () => {
    const refused = await call({ url: relay.url, adminToken: 'nope' }, 'GET', '/v1/views/app');
    assert.equal(refused.status, 401);
  });
});
