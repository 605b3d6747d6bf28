// The test vectors of docs/protocol.md, checked against the core's own functions: canonical JSON
// and the view digest over its entry leaves, a manifest signed with the published test key (RFC 8032's first test key), and
// a delta applied to a view. A client in another language is checked against the same bytes.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { applyDelta, canonicalJson, publicKeyFromRaw, SigningKey, viewDigest, type Manifest } from '../src/index.js';

const docUrl = new URL('../../../../docs/protocol.md', import.meta.url);
const testSeed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const testPublicKey = '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';

async function vector<T>(name: string): Promise<T> {
  const doc = await readFile(docUrl, 'utf8');
  const match = new RegExp(`<!-- vector: ${name} -->\\s*\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``, 'u').exec(doc);
  assert.ok(match?.[1], `docs/protocol.md has the "${name}" vector`);
  return JSON.parse(match[1]) as T;
}

function testKey(): SigningKey {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(testSeed, 'hex')]);
  const pem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' });
  return new SigningKey('k-test-vector', pem.toString(), 0);
}

void test('the published test key is the one the doc names', async () => {
  const doc = await readFile(docUrl, 'utf8');
  assert.ok(doc.includes(testSeed) && doc.includes(testPublicKey));
  assert.equal(testKey().publicKey, testPublicKey);
});

void test('canonical JSON and digest', async () => {
  const v = await vector<{ input: Record<string, unknown>; canonical: string; leaves: string[]; digest: string }>(
    'canonical',
  );
  assert.equal(canonicalJson(v.input), v.canonical);
  const leaves = Object.keys(v.input)
    .sort()
    .map((key) =>
      createHash('sha256')
        .update(canonicalJson([key, v.input[key]]))
        .digest('hex'),
    );
  assert.deepEqual(leaves, v.leaves);
  assert.equal(
    createHash('sha256')
      .update(Buffer.from(v.leaves.join(''), 'hex'))
      .digest('hex'),
    v.digest,
  );
  assert.equal(viewDigest(v.input), v.digest);
});

void test('a manifest signed with the test key', async () => {
  const v = await vector<{ values: Record<string, unknown>; manifest: Manifest; signed: string; signature: string }>(
    'manifest',
  );
  assert.equal(viewDigest(v.values), v.manifest.digest);
  assert.equal(canonicalJson(v.manifest), v.signed);
  const { keyId: _keyId, ...unsigned } = v.manifest;
  assert.deepEqual(testKey().signManifest(unsigned), { manifest: v.manifest, signature: v.signature });
  assert.ok(verify(null, Buffer.from(v.signed), publicKeyFromRaw(testPublicKey), Buffer.from(v.signature, 'base64')));
});

void test('a delta applied to a view', async () => {
  const v = await vector<{
    base: Record<string, unknown>;
    baseDigest: string;
    delta: { set: Record<string, unknown>; remove: string[] };
    result: Record<string, unknown>;
    resultDigest: string;
  }>('delta');
  assert.equal(viewDigest(v.base), v.baseDigest);
  const result = applyDelta(v.base, v.delta);
  assert.deepEqual({ ...result }, v.result);
  assert.equal(viewDigest(result), v.resultDigest);
});
