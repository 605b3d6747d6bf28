// Every bad input gets a 4xx application/problem+json with its own stable code, and changes
// nothing: each case compares the store revision, the audit log length and every namespace's
// revision and entry count before and after. Limits are set small so that "just over" is cheap.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { ErrorCode } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import {
  assertProblem,
  call,
  createNamespace,
  entryPath,
  setEntry,
  storeState,
  type Problem,
  type RawOptions,
  type RawResponse,
} from './helpers.js';

const limits = {
  maxBodyBytes: 4096,
  maxValueBytes: 1024,
  maxKeyLength: 32,
  maxLabelLength: 16,
  maxLabels: 3,
  maxJsonDepth: 5,
  maxChangesPerCommit: 4,
  maxEntriesPerNamespace: 1000,
  maxTags: 2,
};

let ts: TestServer;
const ns = 'bad-input';

before(async () => {
  ts = await startTestServer({ config: { limits } });
  await createNamespace(ts, ns);
  await setEntry(ts, ns, 'existing', { value: 1 });
});

after(async () => {
  await ts.close();
});

/** Sends the request and asserts the problem and that the store did not move. */
async function refused(
  method: string,
  path: string,
  options: RawOptions,
  code: ErrorCode,
  message?: string,
): Promise<Problem> {
  const before = await storeState(ts);
  const response = await call(ts, method, path, options);
  const problem = assertProblem(response, code, message);
  assert.deepEqual(await storeState(ts), before, `${message ?? code}: the store changed`);
  return problem;
}

async function accepted(method: string, path: string, options: RawOptions, status = 200): Promise<RawResponse> {
  const response = await call(ts, method, path, options);
  assert.equal(response.status, status, response.text);
  return response;
}

/** A JSON value nested `depth` levels deep (a scalar is depth 0). */
function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

/**
 * A request through node:http, which sends the path exactly as given. fetch cannot be used for
 * paths whose segment is "." or ".." in any spelling: the WHATWG URL parser removes such segments
 * (even as %2E) before the request leaves.
 */
function rawPathRequest(method: string, path: string, body: string): Promise<RawResponse> {
  const url = new URL(ts.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${ts.adminToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers))
            if (typeof value === 'string') headers.set(name, value);
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

void describe('malformed bodies', () => {
  void it('refuses malformed JSON with invalid_json', async () => {
    for (const body of ['{"value":', '{value: 1}', "{'value': 1}", '{"value": 1,}', '[1, 2', 'NaN']) {
      await refused('PUT', entryPath(ns, 'k'), { body }, 'invalid_json', body);
    }
    await refused('POST', `/v1/namespaces/${ns}/commits`, { body: '{"changes": [' }, 'invalid_json');
  });

  void it('refuses an empty or blank JSON body with invalid_json', async () => {
    await refused('PUT', entryPath(ns, 'k'), { body: '' }, 'invalid_json', 'empty');
    await refused('PUT', entryPath(ns, 'k'), { body: '  \n ' }, 'invalid_json', 'blank');
  });

  void it('refuses a request that needs a body and has none with invalid_request', async () => {
    await refused('POST', '/v1/namespaces', {}, 'invalid_request');
  });

  void it('refuses bytes that are not UTF-8 with invalid_utf8 rather than replacing them', async () => {
    const cases = [
      Buffer.concat([Buffer.from('{"value":"'), Buffer.from([0xff]), Buffer.from('"}')]),
      // An overlong encoding of "/" and a lone continuation byte: both decoders that replace would accept them.
      Buffer.concat([Buffer.from('{"value":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
      Buffer.concat([Buffer.from('{"value":"a'), Buffer.from([0x80]), Buffer.from('"}')]),
      // A UTF-16 surrogate encoded in UTF-8 (CESU-8): not valid UTF-8.
      Buffer.concat([Buffer.from('{"value":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    ];
    for (const body of cases) await refused('PUT', entryPath(ns, 'k'), { body }, 'invalid_utf8', body.toString('hex'));
    const get = await call(ts, 'GET', entryPath(ns, 'k'));
    assertProblem(get, 'entry_not_found');
  });

  void it('refuses a body of another content type with unsupported_media_type', async () => {
    await refused(
      'PUT',
      entryPath(ns, 'k'),
      { body: '{"value":1}', contentType: 'text/plain' },
      'unsupported_media_type',
      'text/plain',
    );
    await refused(
      'PUT',
      entryPath(ns, 'k'),
      { body: 'value=1', contentType: 'application/x-www-form-urlencoded' },
      'unsupported_media_type',
      'form',
    );
    await refused(
      'POST',
      '/v1/namespaces',
      { body: '{"name":"x"}', contentType: 'application/xml' },
      'unsupported_media_type',
      'xml',
    );
    // A body with no content type at all is not guessed to be JSON.
    await refused(
      'POST',
      '/v1/namespaces',
      { body: '{"name":"x"}', contentType: null },
      'unsupported_media_type',
      'none',
    );
  });

  void it('accepts application/json with a charset parameter', async () => {
    await accepted('PUT', entryPath(ns, 'charset'), {
      body: '{"value":"ü"}',
      contentType: 'application/json; charset=utf-8',
    });
  });
});

void describe('request shape', () => {
  void it('refuses wrong types with invalid_request, naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['PUT', entryPath(ns, 'k'), { value: 1, tags: 'not-an-object' }, '/tags'],
      ['PUT', entryPath(ns, 'k'), { value: 1, secret: 'yes' }, '/secret'],
      ['PUT', entryPath(ns, 'k'), { value: 1, ifRevision: -1 }, '/ifRevision'],
      ['PUT', entryPath(ns, 'k'), { value: 1, contentType: 42 }, '/contentType'],
      ['POST', '/v1/namespaces', { name: 7 }, '/name'],
      ['POST', `/v1/namespaces/${ns}/commits`, { changes: 'all of them' }, '/changes'],
      ['POST', `/v1/namespaces/${ns}/commits`, { changes: [{ op: 'set', key: 5, value: 1 }] }, '/changes/0'],
      ['POST', `/v1/namespaces/${ns}/commits`, { changes: [{ op: 'explode', key: 'a' }] }, '/changes/0'],
      ['POST', '/v1/tokens', { scopes: [{ namespaces: '*', role: 'superuser' }] }, '/scopes/0/role'],
      ['POST', '/v1/compact', { revision: 'latest' }, '/revision'],
    ];
    for (const [method, path, body, field] of cases) {
      const problem = await refused(
        method,
        path,
        { body },
        'invalid_request',
        `${method} ${path} ${JSON.stringify(body)}`,
      );
      const violations = problem.violations as Array<{ path: string; message: string }>;
      assert.ok(Array.isArray(violations) && violations.length > 0, `violations listed for ${JSON.stringify(body)}`);
      assert.ok(
        violations.some((v) => v.path.startsWith(field)),
        `a violation names ${field}: ${JSON.stringify(violations)}`,
      );
    }
  });

  void it('refuses a missing required field with invalid_request', async () => {
    const problem = await refused(
      'PUT',
      entryPath(ns, 'k'),
      { body: { contentType: 'application/json' } },
      'invalid_request',
    );
    assert.match(JSON.stringify(problem.violations), /value/u);
  });

  void it('refuses unknown fields with invalid_request, naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['PUT', entryPath(ns, 'k'), { value: 1, colour: 'red' }, 'colour'],
      ['POST', '/v1/namespaces', { name: 'fresh', owner: 'me' }, 'owner'],
      ['POST', `/v1/namespaces/${ns}/commits`, { changes: [{ op: 'delete', key: 'existing' }], force: true }, 'force'],
      ['POST', '/v1/tokens', { scopes: [{ namespaces: '*', role: 'reader', admin: true }] }, 'admin'],
      // JSON.parse makes "__proto__" an own member; it is an unknown field like any other.
      ['PUT', entryPath(ns, 'k'), JSON.parse('{"value": 1, "__proto__": {"admin": true}}'), '__proto__'],
    ];
    for (const [method, path, body, field] of cases) {
      const problem = await refused(
        method,
        path,
        { body: JSON.stringify(body) },
        'invalid_request',
        `${method} ${path}`,
      );
      assert.ok(
        (problem.violations as Array<{ message: string }>).some((v) => v.message.includes(`"${field}"`)),
        `a violation names "${field}": ${JSON.stringify(problem.violations)}`,
      );
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'nothing reached Object.prototype');
  });

  void it('refuses unknown query parameters with invalid_request', async () => {
    const problem = await refused('GET', `/v1/namespaces/${ns}/entries?colour=red`, {}, 'invalid_request');
    assert.match(problem.detail, /colour/u);
    await refused('GET', `/v1/namespaces/${ns}/entries?limit=0`, {}, 'invalid_request', 'limit 0');
    await refused('GET', `/v1/namespaces/${ns}/entries?limit=many`, {}, 'invalid_request', 'limit many');
  });

  void it('answers an unknown route with route_not_found', async () => {
    await refused('GET', '/v1/nothing-here', {}, 'route_not_found');
    await refused('POST', '/v2/namespaces', { body: { name: 'x' } }, 'route_not_found');
    await refused('PATCH', `/v1/namespaces/${ns}`, { body: { description: 'x' } }, 'route_not_found');
    await refused('GET', '/', { token: null }, 'route_not_found', 'root without a token');
  });
});

void describe('sizes', () => {
  void it('refuses a body one byte over maxBodyBytes with body_too_large, and accepts one exactly at it', async () => {
    const envelope = (pad: number) => JSON.stringify({ value: 'v', message: 'm'.repeat(pad) });
    const base = Buffer.byteLength(envelope(0));
    const atLimit = envelope(limits.maxBodyBytes - base);
    assert.equal(Buffer.byteLength(atLimit), limits.maxBodyBytes);
    await refused('PUT', entryPath(ns, 'big'), { body: envelope(limits.maxBodyBytes - base + 1) }, 'body_too_large');
    await accepted('PUT', entryPath(ns, 'big'), { body: atLimit });
  });

  void it('refuses a body far over maxBodyBytes before reading it as JSON', async () => {
    await refused('PUT', entryPath(ns, 'big2'), { body: 'x'.repeat(limits.maxBodyBytes * 4) }, 'body_too_large');
  });

  void it('refuses a value one byte over maxValueBytes with value_too_large, and accepts one exactly at it (bytes, not characters)', async () => {
    // "é" is two bytes in UTF-8: 512 of them are exactly the limit, one more byte is over.
    const atLimit = 'é'.repeat(limits.maxValueBytes / 2);
    await refused(
      'PUT',
      entryPath(ns, 'text'),
      { body: { value: `${atLimit}a`, contentType: 'text/plain' } },
      'value_too_large',
      'text',
    );
    const ok = (await accepted('PUT', entryPath(ns, 'text'), { body: { value: atLimit, contentType: 'text/plain' } }))
      .json as { value: string };
    assert.equal(ok.value, atLimit);
    // A JSON value is measured as its JSON text: the quotes count.
    const jsonAtLimit = 'j'.repeat(limits.maxValueBytes - 2);
    await refused('PUT', entryPath(ns, 'json'), { body: { value: `${jsonAtLimit}j` } }, 'value_too_large', 'json');
    await accepted('PUT', entryPath(ns, 'json'), { body: { value: jsonAtLimit } });
    // Through a commit too, and a secret is measured before encryption.
    await refused(
      'POST',
      `/v1/namespaces/${ns}/commits`,
      { body: { changes: [{ op: 'set', key: 'c', value: `${atLimit}a`, contentType: 'text/plain', secret: true }] } },
      'value_too_large',
      'commit',
    );
  });

  void it('refuses a value nested one level deeper than maxJsonDepth with json_too_deep, and accepts one exactly at it', async () => {
    await refused(
      'PUT',
      entryPath(ns, 'deep'),
      { body: { value: nested(limits.maxJsonDepth + 1) } },
      'json_too_deep',
      'put',
    );
    await refused(
      'POST',
      `/v1/namespaces/${ns}/commits`,
      { body: { changes: [{ op: 'set', key: 'deep', value: nested(limits.maxJsonDepth + 1) }] } },
      'json_too_deep',
      'commit',
    );
    const ok = (await accepted('PUT', entryPath(ns, 'deep'), { body: { value: nested(limits.maxJsonDepth) } }))
      .json as { value: unknown };
    assert.deepEqual(ok.value, nested(limits.maxJsonDepth));
  });

  void it('refuses a number JSON.parse cannot hold (1e400 would become null) with invalid_value', async () => {
    for (const body of ['{"value": 1e400}', '{"value": {"a": [1, -1e999]}}']) {
      await refused('PUT', entryPath(ns, 'huge'), { body }, 'invalid_value', body);
    }
    await refused(
      'POST',
      `/v1/namespaces/${ns}/commits`,
      { body: '{"changes":[{"op":"set","key":"huge","value":1e400}]}' },
      'invalid_value',
      'commit',
    );
    const ok = (await accepted('PUT', entryPath(ns, 'huge'), { body: '{"value": 1.7e308}' })).json as { value: number };
    assert.equal(ok.value, 1.7e308);
  });

  void it('refuses a token lifetime beyond 100 years with invalid_request (not a 500)', async () => {
    for (const expiresInSeconds of ['100000000000000000000', '9007199254740991', String(100 * 365 * 24 * 3600 + 1)]) {
      await refused(
        'POST',
        '/v1/tokens',
        { body: `{"scopes":[{"namespaces":"*","role":"reader"}],"expiresInSeconds":${expiresInSeconds}}` },
        'invalid_request',
        expiresInSeconds,
      );
    }
    await accepted(
      'POST',
      '/v1/tokens',
      { body: { scopes: [{ namespaces: '*', role: 'reader' }], expiresInSeconds: 100 * 365 * 24 * 3600 } },
      201,
    );
  });

  void it('refuses a hostile body nested far deeper than any value with json_too_deep before parsing further', async () => {
    const body = `{"value":${'['.repeat(1000)}${']'.repeat(1000)}}`;
    await refused('PUT', entryPath(ns, 'deeper'), { body }, 'json_too_deep');
  });
});

void describe('keys and labels', () => {
  void it('refuses a key one character over maxKeyLength with invalid_key, and accepts one exactly at it', async () => {
    await refused('PUT', entryPath(ns, 'k'.repeat(limits.maxKeyLength + 1)), { body: { value: 1 } }, 'invalid_key');
    await accepted('PUT', entryPath(ns, 'k'.repeat(limits.maxKeyLength)), { body: { value: 1 } });
  });

  void it('accepts a key of maxKeyLength non-ASCII characters in the URL (each is up to 9 characters percent-encoded)', async () => {
    const key = '日'.repeat(limits.maxKeyLength);
    const entry = (await accepted('PUT', entryPath(ns, key), { body: { value: 'wide' } })).json as { key: string };
    assert.equal(entry.key, key);
    const read = (await accepted('GET', entryPath(ns, key), {})).json as { value: string };
    assert.equal(read.value, 'wide');
    await refused('PUT', entryPath(ns, `${key}日`), { body: { value: 1 } }, 'invalid_key', 'one over');
  });

  void it('refuses "%", ".", "..", control characters and the empty key with invalid_key, in the URL and in commits', async () => {
    const bad = [
      '%',
      'a%b',
      '%41',
      '.',
      '..',
      'a\u0000b',
      'tab\there',
      'line\nbreak',
      '\u007f',
      'c1\u0085',
      'bell\u0007',
      '',
    ];
    for (const key of bad) {
      await refused(
        'POST',
        `/v1/namespaces/${ns}/commits`,
        { body: { changes: [{ op: 'set', key, value: 1 }] } },
        'invalid_key',
        `commit key ${JSON.stringify(key)}`,
      );
      // "." and ".." cannot travel as a URL segment through fetch; the empty key is the listing route.
      if (key !== '.' && key !== '..' && key !== '') {
        await refused(
          'PUT',
          entryPath(ns, key),
          { body: { value: 1 } },
          'invalid_key',
          `url key ${JSON.stringify(key)}`,
        );
        await refused('GET', entryPath(ns, key), {}, 'invalid_key', `get key ${JSON.stringify(key)}`);
      }
    }
    // A lone surrogate is not well-formed Unicode.
    await refused(
      'POST',
      `/v1/namespaces/${ns}/commits`,
      { body: `{"changes":[{"op":"set","key":"\\ud800","value":1}]}` },
      'invalid_key',
      'lone surrogate',
    );
  });

  void it('refuses "." and ".." sent as a raw URL segment with invalid_key', async () => {
    for (const segment of ['.', '..', '%2E', '%2e%2E']) {
      const before = await storeState(ts);
      const response = await rawPathRequest('PUT', `/v1/namespaces/${ns}/entries/${segment}`, '{"value":1}');
      assertProblem(response, 'invalid_key', `segment ${segment}`);
      assert.deepEqual(await storeState(ts), before);
    }
  });

  void it('accepts keys with spaces, ":", "/", "?", "#" and Unicode', async () => {
    const good = [
      'with space',
      'a:b:c',
      'db/pool/max',
      '/leading',
      'trailing/',
      'q?x=1',
      'hash#frag',
      'ünïcødé',
      '日本語',
      '😀 emoji',
      'a+b&c=d',
    ];
    for (const key of good) {
      const entry = (await accepted('PUT', entryPath(ns, key), { body: { value: key } })).json as {
        key: string;
        value: string;
      };
      assert.equal(entry.key, key);
      const read = (await accepted('GET', entryPath(ns, key), {})).json as { key: string; value: string };
      assert.deepEqual([read.key, read.value], [key, key]);
    }
  });

  void it('refuses bad labels with invalid_label and accepts labels like keys', async () => {
    const bad = ['%', '.', '..', 'l'.repeat(limits.maxLabelLength + 1), 'a\u0001', '\u009f'];
    for (const label of bad) {
      await refused(
        'PUT',
        entryPath(ns, 'labelled', label),
        { body: { value: 1 } },
        'invalid_label',
        `url label ${JSON.stringify(label)}`,
      );
      await refused(
        'POST',
        `/v1/namespaces/${ns}/commits`,
        { body: { changes: [{ op: 'set', key: 'labelled', label, value: 1 }] } },
        'invalid_label',
        `commit label ${JSON.stringify(label)}`,
      );
      await refused('GET', entryPath(ns, 'labelled', label), {}, 'invalid_label', `get label ${JSON.stringify(label)}`);
      await refused(
        'GET',
        `/v1/namespaces/${ns}/entries?label=${encodeURIComponent(label)}`,
        {},
        'invalid_label',
        `list label ${JSON.stringify(label)}`,
      );
    }
    for (const label of ['prod', 'prod/westeurope', 'with space', 'a:b', 'ünï', 'l'.repeat(limits.maxLabelLength)]) {
      const entry = (await accepted('PUT', entryPath(ns, 'labelled', label), { body: { value: label } })).json as {
        label: string;
      };
      assert.equal(entry.label, label);
      const read = (await accepted('GET', entryPath(ns, 'labelled', label), {})).json as {
        label: string;
        value: string;
      };
      assert.equal(read.value, label);
    }
  });

  void it('refuses more labels than maxLabels in a listing with too_many_labels', async () => {
    const labels = ['a', 'b', 'c', 'd'].slice(0, limits.maxLabels + 1);
    await refused(
      'GET',
      `/v1/namespaces/${ns}/entries?${labels.map((l) => `label=${l}`).join('&')}`,
      {},
      'too_many_labels',
    );
    await accepted(
      'GET',
      `/v1/namespaces/${ns}/entries?${labels
        .slice(0, limits.maxLabels)
        .map((l) => `label=${l}`)
        .join('&')}`,
      {},
    );
  });

  void it('refuses too many or bad tags with invalid_tags', async () => {
    await refused(
      'PUT',
      entryPath(ns, 'tagged'),
      { body: { value: 1, tags: { a: '1', b: '2', c: '3' } } },
      'invalid_tags',
      'count',
    );
    await refused(
      'PUT',
      entryPath(ns, 'tagged'),
      { body: { value: 1, tags: { '': 'x' } } },
      'invalid_tags',
      'empty name',
    );
    await refused(
      'PUT',
      entryPath(ns, 'tagged'),
      { body: { value: 1, tags: { a: 'line\nbreak' } } },
      'invalid_tags',
      'control',
    );
    const entry = (await accepted('PUT', entryPath(ns, 'tagged'), { body: { value: 1, tags: { a: '1', b: '2' } } }))
      .json as { tags: unknown };
    assert.deepEqual(entry.tags, { a: '1', b: '2' });
  });
});

void describe('commits', () => {
  const commitPath = `/v1/namespaces/${ns}/commits`;
  const sets = (n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => ({ op: 'set', key: `${prefix}${i}`, value: i }));

  void it('refuses maxChangesPerCommit + 1 changes with too_many_changes, and accepts exactly the limit', async () => {
    await refused(
      'POST',
      commitPath,
      { body: { changes: sets(limits.maxChangesPerCommit + 1, 'many/') } },
      'too_many_changes',
    );
    // Empty the namespace first so that the accepted commit does not hit maxEntriesPerNamespace.
    const other = 'bad-input-changes';
    await createNamespace(ts, other);
    await accepted(
      'POST',
      `/v1/namespaces/${other}/commits`,
      { body: { changes: sets(limits.maxChangesPerCommit, 'many/') } },
      201,
    );
  });

  void it('refuses an empty change list with invalid_request', async () => {
    await refused('POST', commitPath, { body: { changes: [] } }, 'invalid_request');
  });

  void it('refuses a commit that names the same entry twice with duplicate_change', async () => {
    await refused(
      'POST',
      commitPath,
      {
        body: {
          changes: [
            { op: 'set', key: 'dup', value: 1 },
            { op: 'set', key: 'dup', value: 2 },
          ],
        },
      },
      'duplicate_change',
      'set twice',
    );
    await refused(
      'POST',
      commitPath,
      {
        body: {
          changes: [
            { op: 'set', key: 'existing', label: 'x', value: 1 },
            { op: 'delete', key: 'existing', label: 'x' },
          ],
        },
      },
      'duplicate_change',
      'set and delete',
    );
  });

  void it('refuses to go past maxEntriesPerNamespace with namespace_full, but still allows updates and deletes', async (t) => {
    // A server of its own, so that the other tests' entries do not count against the small limit.
    const small = await startTestServer({ config: { limits: { ...limits, maxEntriesPerNamespace: 6 } } });
    t.after(() => small.close());
    const full = 'bad-input-full';
    await createNamespace(small, full);
    const refused = async (method: string, path: string, options: RawOptions, code: ErrorCode, message: string) => {
      const before = await storeState(small);
      assertProblem(await call(small, method, path, options), code, message);
      assert.deepEqual(await storeState(small), before, `${message}: the store changed`);
    };
    const accepted = async (method: string, path: string, options: RawOptions, status = 200) => {
      const response = await call(small, method, path, options);
      assert.equal(response.status, status, response.text);
      return response;
    };
    await accepted('POST', `/v1/namespaces/${full}/commits`, { body: { changes: sets(4, 'f') } }, 201);
    await accepted('POST', `/v1/namespaces/${full}/commits`, { body: { changes: sets(2, 'g') } }, 201);
    await refused('PUT', entryPath(full, 'one-too-many'), { body: { value: 1 } }, 'namespace_full', 'single');
    await refused(
      'PUT',
      entryPath(full, 'f0', 'another-label'),
      { body: { value: 1 } },
      'namespace_full',
      'label counts too',
    );
    await refused(
      'POST',
      `/v1/namespaces/${full}/commits`,
      {
        body: {
          changes: [
            { op: 'set', key: 'f0', value: 'updated' },
            { op: 'set', key: 'new', value: 1 },
          ],
        },
      },
      'namespace_full',
      'mixed',
    );
    const f0 = (await accepted('GET', entryPath(full, 'f0'), {})).json as { value: unknown };
    assert.equal(f0.value, 0, 'the update in the refused commit was not applied');
    await accepted('PUT', entryPath(full, 'f0'), { body: { value: 'updated' } });
    // One out, one in, in a single commit, keeps the count at the limit.
    await accepted(
      'POST',
      `/v1/namespaces/${full}/commits`,
      {
        body: {
          changes: [
            { op: 'delete', key: 'f1' },
            { op: 'set', key: 'new', value: 1 },
          ],
        },
      },
      201,
    );
  });
});

void describe('names and cursors', () => {
  void it('refuses bad namespace names with invalid_namespace_name', async () => {
    for (const name of [
      '',
      'Upper',
      '-lead',
      'trail-',
      'a/b',
      'a b',
      'ü',
      'x'.repeat(65),
      '.',
      '..',
      'a%b',
      'a\u0000',
    ]) {
      await refused('POST', '/v1/namespaces', { body: { name } }, 'invalid_namespace_name', JSON.stringify(name));
    }
    await accepted('POST', '/v1/namespaces', { body: { name: 'x'.repeat(64) } }, 201);
  });

  void it('refuses a cursor this server did not issue with invalid_cursor', async () => {
    const forged = [
      'garbage!',
      Buffer.from('not json').toString('base64url'),
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from('[1, 2, 3]').toString('base64url'),
    ];
    for (const cursor of forged) {
      const c = encodeURIComponent(cursor);
      await refused('GET', `/v1/namespaces?cursor=${c}`, {}, 'invalid_cursor', `namespaces ${cursor}`);
      await refused('GET', `/v1/namespaces/${ns}/entries?cursor=${c}`, {}, 'invalid_cursor', `entries ${cursor}`);
      await refused('GET', `/v1/namespaces/${ns}/history?cursor=${c}`, {}, 'invalid_cursor', `history ${cursor}`);
      await refused('GET', `/v1/audit?cursor=${c}`, {}, 'invalid_cursor', `audit ${cursor}`);
    }
    // A well-formed cursor of the wrong shape: history pages by revision number, not by name.
    const wrongShape = Buffer.from('["existing"]').toString('base64url');
    await refused('GET', `/v1/namespaces/${ns}/history?cursor=${wrongShape}`, {}, 'invalid_cursor', 'wrong shape');
  });

  void it('refuses a revision that is not one with invalid_request or revision_not_found', async () => {
    await refused('GET', `/v1/namespaces/${ns}/entries?asOf=-1`, {}, 'invalid_request', 'negative');
    await refused('GET', `/v1/namespaces/${ns}/entries?asOf=1.5`, {}, 'invalid_request', 'fraction');
    const current = await ts.store.currentRevision();
    await refused('GET', `/v1/namespaces/${ns}/entries?asOf=${current + 100}`, {}, 'revision_not_found', 'future');
    await refused(
      'POST',
      '/v1/compact',
      { body: { revision: current + 100 } },
      'invalid_revision',
      'compact the future',
    );
  });

  void it('answers a missing namespace or entry with namespace_not_found / entry_not_found', async () => {
    await refused('GET', '/v1/namespaces/nope', {}, 'namespace_not_found');
    await refused('PUT', entryPath('nope', 'k'), { body: { value: 1 } }, 'namespace_not_found');
    await refused('GET', entryPath(ns, 'never-set'), {}, 'entry_not_found');
    await refused('DELETE', entryPath(ns, 'never-set'), {}, 'entry_not_found');
  });
});
