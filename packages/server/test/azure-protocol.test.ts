// Protocol details of the Azure App Configuration API that the official JavaScript clients never
// exercise, checked with hand-signed requests (the compatibility suite itself uses the official
// packages only): HMAC edge cases (unsigned or altered parts, other separators, the Date header),
// the raw request-target, /keys, HEAD, any api-version, Sync-Token and the problem+json shape.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { createStore, type AccessKey } from './azure-helpers.js';
import { storeState } from './helpers.js';

let ts: TestServer;
let key: AccessKey;

before(async () => {
  ts = await startTestServer({ config: { minRevisionWaitMs: 200 } });
  key = await createStore(ts, 'proto');
});

after(async () => {
  await ts.close();
});

interface SignOptions {
  body?: string;
  /** What to sign as the request-target, when it differs from what is sent. */
  signedTarget?: string;
  /** A body other than the one hashed (an altered request). */
  sentBody?: string;
  signedHeaders?: string[];
  separator?: string;
  dateHeader?: 'x-ms-date' | 'date';
  secret?: string;
  headers?: Record<string, string>;
}

/** One request signed as the Azure SDKs sign them (or deliberately not quite). */
async function signed(
  method: string,
  target: string,
  options: SignOptions = {},
): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const url = new URL(target, ts.url);
  const body = options.body ?? '';
  const date = new Date().toUTCString();
  const values: Record<string, string> = {
    'x-ms-date': date,
    date,
    host: url.host,
    'x-ms-content-sha256': createHash('sha256').update(body).digest('base64'),
  };
  const dateHeader = options.dateHeader ?? 'x-ms-date';
  const signedHeaders = options.signedHeaders ?? [dateHeader, 'host', 'x-ms-content-sha256'];
  const stringToSign = `${method}\n${options.signedTarget ?? target}\n${signedHeaders.map((h) => values[h]).join(';')}`;
  const signature = createHmac('sha256', Buffer.from(options.secret ?? key.secret, 'base64'))
    .update(stringToSign)
    .digest('base64');
  const separator = options.separator ?? '&';
  const headers: Record<string, string> = {
    [dateHeader]: date,
    'x-ms-content-sha256': values['x-ms-content-sha256'] as string,
    authorization: `HMAC-SHA256 Credential=${key.id}${separator}SignedHeaders=${signedHeaders.join(';')}${separator}Signature=${signature}`,
    ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers,
  };
  const sent = options.sentBody ?? options.body;
  const response = await fetch(url, { method, headers, ...(sent === undefined ? {} : { body: sent }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

void describe('Azure API: HMAC authentication', () => {
  void it('accepts a correctly signed request, with "&" or ", " separators and with the Date header', async () => {
    assert.equal((await signed('PUT', '/kv/h%2Fa?api-version=2023-11-01', { body: '{"value":"1"}' })).status, 200);
    assert.equal((await signed('GET', '/kv/h%2Fa?api-version=2023-11-01', { separator: ', ' })).status, 200);
    assert.equal((await signed('GET', '/kv/h%2Fa?api-version=2023-11-01', { dateHeader: 'date' })).status, 200);
  });

  void it('refuses, with 401 and a reason in WWW-Authenticate, anything unsigned or altered, and writes nothing', async () => {
    const before = await storeState(ts);
    const cases: Array<[string, Promise<{ status: number; headers: Headers }>, RegExp]> = [
      ['no Authorization', fetchStatus('PUT', '/kv/x', '{"value":"1"}'), /Missing Authorization/u],
      [
        'a bearer token',
        fetchStatus('PUT', '/kv/x', '{"value":"1"}', { authorization: `Bearer ${ts.adminToken}` }),
        /Unsupported authentication scheme/u,
      ],
      [
        'a body other than the one hashed',
        signed('PUT', '/kv/x', { body: '{"value":"1"}', sentBody: '{"value":"2"}' }),
        /content hash/u,
      ],
      [
        'the host not signed',
        signed('PUT', '/kv/x', { body: '{"value":"1"}', signedHeaders: ['x-ms-date', 'x-ms-content-sha256'] }),
        /host must be signed/u,
      ],
      [
        'the content hash not signed',
        signed('PUT', '/kv/x', { body: '{"value":"1"}', signedHeaders: ['x-ms-date', 'host'] }),
        /x-ms-content-sha256 must be signed/u,
      ],
      [
        'a decoded request-target signed',
        signed('PUT', '/kv/a%2Fb', { body: '{"value":"1"}', signedTarget: '/kv/a/b' }),
        /Invalid Signature/u,
      ],
      [
        'another secret',
        signed('PUT', '/kv/x', { body: '{"value":"1"}', secret: Buffer.alloc(32, 1).toString('base64') }),
        /Invalid Signature/u,
      ],
      [
        'an old date',
        signed('PUT', '/kv/x', {
          body: '{"value":"1"}',
          headers: { 'x-ms-date': new Date(Date.now() - 20 * 60_000).toUTCString() },
        }),
        /Invalid Signature|expired/u,
      ],
    ];
    for (const [what, pending, reason] of cases) {
      const response = await pending;
      assert.equal(response.status, 401, what);
      const challenge = response.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^HMAC-SHA256 error="invalid_token" error_description="[^"]+", Bearer$/u, what);
      assert.match(challenge, reason, what);
    }
    assert.deepEqual(await storeState(ts), before);
  });
});

async function fetchStatus(
  method: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers }> {
  const response = await fetch(new URL(path, ts.url), {
    method,
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  await response.text();
  return { status: response.status, headers: response.headers };
}

void describe('Azure API: the rest of the protocol', () => {
  void it('reads the key from the raw path: %2F and a raw "/" are the same key', async () => {
    await signed('PUT', '/kv/raw%2Fpath?api-version=1.0', { body: '{"value":"v","content_type":"text/plain"}' });
    const viaRaw = await signed('GET', '/kv/raw/path');
    assert.equal(viaRaw.status, 200, 'no api-version at all is fine too');
    assert.equal((viaRaw.json as { key: string }).key, 'raw/path');
    assert.match(viaRaw.headers.get('content-type') ?? '', /^application\/vnd\.microsoft\.appconfig\.kv\+json/u);
  });

  void it('answers HEAD with the headers of GET and no body', async () => {
    const head = await signed('HEAD', '/kv/raw%2Fpath?api-version=2026-04-01');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.match(head.headers.get('etag') ?? '', /^"[\w-]+"$/u);
    assert.ok(head.headers.get('last-modified'));
    assert.equal((await signed('HEAD', '/kv/missing')).status, 404);
  });

  void it('lists keys (distinct, filtered, in pages of 100)', async () => {
    for (let i = 0; i < 120; i += 1) {
      await signed('PUT', `/kv/k%2F${String(i).padStart(3, '0')}?api-version=1.0`, { body: '{"value":"x"}' });
      if (i % 2 === 0)
        await signed('PUT', `/kv/k%2F${String(i).padStart(3, '0')}?api-version=1.0&label=prod`, {
          body: '{"value":"y"}',
        });
    }
    const first = await signed('GET', '/keys?api-version=2026-04-01&name=k/*');
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type') ?? '', /^application\/vnd\.microsoft\.appconfig\.keyset\+json/u);
    const body = first.json as { items: Array<{ name: string }>; '@nextLink'?: string };
    assert.equal(body.items.length, 100);
    assert.equal(body.items[0]?.name, 'k/000');
    assert.ok(body['@nextLink']?.startsWith('/keys?api-version=2026-04-01&after='));
    assert.equal(first.headers.get('link'), `<${body['@nextLink']}>; rel="next"`);
    const second = await signed('GET', body['@nextLink'] ?? '');
    assert.deepEqual(
      (second.json as { items: Array<{ name: string }> }).items.map((i) => i.name),
      Array.from({ length: 20 }, (_, i) => `k/${100 + i}`),
    );
    assert.deepEqual(((await signed('GET', '/keys?name=raw*')).json as { items: unknown[] }).items, [
      { name: 'raw/path' },
    ]);
  });

  void it('sends Sync-Token as id=value;sn=N, and answers a token from the future after a short wait', async () => {
    const response = await signed('GET', '/kv/raw%2Fpath');
    const token = response.headers.get('sync-token') ?? '';
    const match = /^([^=]+)=([^;]+);sn=(\d+)$/u.exec(token);
    assert.ok(match, `Sync-Token ${token} must match the SDK's pattern`);
    assert.equal(Number(match[3]), await ts.store.currentRevision());
    const future = await signed('GET', '/kv/raw%2Fpath', {
      headers: { 'sync-token': `${match[1]}=${Number(match[2]) + 1000}` },
    });
    assert.equal(future.status, 200);
  });

  void it('answers errors as problem+json in the service shape', async () => {
    const invalid = await signed('GET', '/kv?key=a*b');
    assert.equal(invalid.status, 400);
    assert.match(invalid.headers.get('content-type') ?? '', /^application\/problem\+json/u);
    const problem = invalid.json as Record<string, unknown>;
    assert.equal(problem.type, 'https://azconfig.io/errors/invalid-argument');
    assert.equal(problem.name, 'key');
    assert.equal(problem.title, "Invalid request parameter 'key'");
    assert.equal(problem.status, 400);
    assert.equal(typeof problem.detail, 'string');

    await signed('PUT', '/locks/raw%2Fpath');
    const locked = (await signed('PUT', '/kv/raw%2Fpath', { body: '{"value":"w"}' })).json as Record<string, unknown>;
    assert.deepEqual(
      { type: locked.type, title: locked.title, name: locked.name, detail: locked.detail, status: locked.status },
      {
        type: 'https://azconfig.io/errors/key-locked',
        title: "Modifying key 'raw/path' is not allowed",
        name: 'raw/path',
        detail: 'The key is read-only. To allow modification unlock it first.',
        status: 409,
      },
    );
    assert.equal((await signed('PUT', '/kv/bad?api-version=1.0', { body: '{"value":' })).status, 400);
    assert.equal((await signed('PUT', '/kv/bad', { body: '{"value":7}' })).status, 400);
  });
});
