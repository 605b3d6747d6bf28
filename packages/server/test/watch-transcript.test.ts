// The raw watch-stream transcript of docs/protocol.md, regenerated and compared byte for byte: a
// server in this process with a fixed clock, the published test signing key seeded into its store
// before it starts (the least intrusive way to a reproducible signature: no option a user would
// see) and fixed content; the request is written and the response read on a plain TCP socket, so
// every byte of the head, the chunk framing and the events is what any client receives.
// HERALD_WRITE_TRANSCRIPT=1 rewrites the doc's two blocks instead of comparing them.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyDelta, ManualClock, SecretCipher, TrustStore, viewDigest, type SignedManifest } from '@herald/core';
import { SqliteStore } from '@herald/store';
import { eventually, startTestServer, tempDir, testSecretKey } from '@herald/testkit';
import { call, createToken, setEntry } from './helpers.js';

const docUrl = new URL('../../../../docs/protocol.md', import.meta.url);
// RFC 8032 section 7.1 test 1: the doc's published test key (never for production).
const testSeed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const testPublicKey = '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';
const start = Date.UTC(2026, 0, 1);
const heartbeatMs = 15_000;
/** What the doc shows instead of the token, which is random per run and plays no part in the answer. */
const tokenShown = '<client token>';

function testKeyPem(): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(testSeed, 'hex')]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

/** The bytes of the watch request, with this token. */
function watchRequest(token: string): string {
  const body = JSON.stringify({
    instanceId: 'web-17',
    attributes: { region: 'westus' },
    views: [{ namespace: 'payments', labels: ['', 'prod'] }],
  });
  return [
    'POST /v1/watch HTTP/1.1',
    'Host: 127.0.0.1',
    `Authorization: Bearer ${token}`,
    'Content-Type: application/json',
    'Accept: text/event-stream',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** Runs the scenario and returns the response bytes exactly as they came off the socket. */
async function record(): Promise<Buffer> {
  const dir = await tempDir();
  const clock = new ManualClock(start);
  const store = SqliteStore.open({ path: join(dir.path, 'herald.db'), clock });
  const cipher = new SecretCipher(testSecretKey);
  await store.addSigningKey(
    {
      keyId: 'k-test-vector',
      publicKey: testPublicKey,
      encryptedPrivateKey: cipher.encrypt(testKeyPem(), 'herald signing key'),
      createdAt: start,
      endorsedBy: null,
    },
    { actor: 'test', action: 'keys.create', target: 'keys' },
  );
  const ts = await startTestServer({ store, clock, config: { heartbeatMs } });
  const received: Buffer[] = [];
  const text = () => Buffer.concat(received).toString('utf8');
  const events = () => text().split('\nevent: ').length - 1;
  let socket: Socket | undefined;
  try {
    assert.equal((await call(ts, 'POST', '/v1/namespaces', { body: { name: 'payments' } })).status, 201);
    await setEntry(ts, 'payments', 'db/host', { value: 'db.internal' });
    await setEntry(ts, 'payments', 'db/pool/max', { value: 40 });
    await setEntry(ts, 'payments', 'db/pool/max', { value: 60 }, 'prod');
    const { token } = await createToken(ts, [{ namespaces: 'payments', role: 'client' }]);
    const opened = connect({ host: '127.0.0.1', port: Number(new URL(ts.url).port) });
    socket = opened;
    opened.on('data', (chunk: Buffer) => received.push(chunk));
    await new Promise<void>((resolve, reject) => {
      opened.once('connect', resolve);
      opened.once('error', reject);
    });
    opened.write(watchRequest(token));
    await eventually(() => events() >= 2, { message: 'hello and snapshot', timeoutMs: 60_000 });
    // A new release: one delta from what the stream sent.
    await setEntry(ts, 'payments', 'db/pool/max', { value: 80 }, 'prod');
    await eventually(() => events() >= 3, { message: 'the delta', timeoutMs: 60_000 });
    clock.advance(heartbeatMs);
    await eventually(() => events() >= 4, { message: 'the heartbeat', timeoutMs: 60_000 });
    return Buffer.concat(received);
  } finally {
    socket?.destroy();
    await ts.close();
    await dir.cleanup();
  }
}

interface Transcript {
  request: string;
  response: string;
}

/** The doc's readable form: each line as sent, its ending named (the wire mixes CRLF and LF). */
function readable(t: Transcript): string {
  const lines = (bytes: string) =>
    bytes
      .split(/(?<=\n)/u)
      .map((line) =>
        line.endsWith('\r\n') ? `${line.slice(0, -2)}␍␊` : line.endsWith('\n') ? `${line.slice(0, -1)}␊` : line,
      )
      .join('\n');
  return `${lines(t.request)}\n\n${lines(t.response)}`;
}

function blocks(doc: string): { vector: RegExpExecArray | null; text: RegExpExecArray | null } {
  return {
    vector: /(<!-- vector: watch-transcript -->\s*```json\n)([\s\S]*?)(^```)/mu.exec(doc),
    text: /(<!-- transcript: watch -->\s*```text\n)([\s\S]*?)(^```)/mu.exec(doc),
  };
}

void test('the watch-stream transcript in docs/protocol.md is what a server sends, byte for byte', async () => {
  const recorded: Transcript = { request: watchRequest(tokenShown), response: (await record()).toString('utf8') };
  const vectorText = JSON.stringify(recorded, null, 2);
  const doc = await readFile(docUrl, 'utf8');
  const found = blocks(doc);
  if (process.env.HERALD_WRITE_TRANSCRIPT === '1') {
    assert.ok(found.vector && found.text, 'docs/protocol.md has both transcript blocks to rewrite');
    const rewritten = doc
      .replace(found.vector[0], `${found.vector[1]}${vectorText}\n${found.vector[3]}`)
      .replace(found.text[0], `${found.text[1]}${readable(recorded)}\n${found.text[3]}`);
    await writeFile(docUrl, rewritten);
    return;
  }
  assert.ok(found.vector?.[2] && found.text?.[2] !== undefined, 'docs/protocol.md has the watch transcript');
  const documented = JSON.parse(found.vector[2]) as Transcript;
  assert.equal(documented.request, recorded.request, 'the request');
  assert.equal(documented.response, recorded.response, 'the response, byte for byte');
  assert.equal(found.text[2], `${readable(recorded)}\n`, 'the readable transcript');
  // What the doc promises a client: the snapshot and the delta verify under the published test key,
  // and the values (the snapshot's, then the delta applied to them) hash to the signed digests.
  const trust = new TrustStore([{ keyId: 'k-test-vector', publicKey: testPublicKey }]);
  const datas = [...recorded.response.matchAll(/^event: (\w+)\ndata: (.*)\n\n\r\n/gmu)].map((m) => ({
    event: m[1],
    data: JSON.parse(m[2] ?? '') as Record<string, unknown>,
  }));
  assert.deepEqual(
    datas.map((d) => d.event),
    ['hello', 'snapshot', 'delta', 'heartbeat'],
  );
  const [, snapshot, delta] = datas;
  assert.ok(snapshot && delta);
  for (const { data } of [snapshot, delta])
    assert.ok(trust.verify(data as unknown as SignedManifest), 'the signature verifies under the test key');
  const values = snapshot.data.values as Record<string, unknown>;
  assert.equal(viewDigest(values), (snapshot.data.manifest as { digest: string }).digest);
  const next = applyDelta(values, delta.data as unknown as { set: Record<string, unknown>; remove: string[] });
  assert.equal(viewDigest(next), (delta.data.manifest as { digest: string }).digest);
});
