// `herald relay` with its own listener over HTTPS and mutual TLS, as an operator starts it:
// --tls-cert/--tls-key serve HTTPS, --tls-client-ca/--tls-identities map client certificates to
// scopes (the flags and the file format of `herald server`). `herald watch` follows a view through
// it with a token, trusting the relay's certificate through NODE_EXTRA_CA_CERTS; a client
// certificate without a token is the identity its SAN maps to; no credential is refused.
// Real child processes; certificates made by openssl (testkit makeTestPki).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tlsFetch } from '@herald/sdk';
import {
  makeTestPki,
  spawnHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type HeraldChild,
  type ServerProcess,
  type TestPki,
} from '@herald/testkit';
import { heraldAt, ok, parseJson } from './helpers.js';

let dir: { path: string; cleanup: () => Promise<void> };
let pki: TestPki;
let server: ServerProcess;
let relay: ServerProcess | undefined;
const children: HeraldChild[] = [];
let clientToken: string;

before(async () => {
  dir = await tempDir();
  pki = await makeTestPki(dir.path);
  server = await startHeraldProcess(['server', '--data', join(dir.path, 'data'), '--listen', '127.0.0.1:0', '--no-ui']);
  const admin = heraldAt(server.url, testAdminToken);
  ok(await admin(['ns', 'create', 'pay']));
  ok(await admin(['set', 'pay', 'greeting', '"hello"']));
  const relayToken = ok(await admin(['token', 'create', '--role', 'client', '--ns', 'pay', '--name', 'relay'])).trim();
  clientToken = ok(await admin(['token', 'create', '--role', 'client', '--ns', 'pay', '--name', 'watcher'])).trim();
  const identities = join(dir.path, 'identities.json');
  await writeFile(
    identities,
    JSON.stringify([{ match: { uri: 'spiffe://herald/ns/pay/*' }, scopes: [{ namespaces: 'pay', role: 'client' }] }]),
  );
  relay = await startHeraldProcess([
    'relay',
    '--upstream',
    server.url,
    '--token',
    relayToken,
    '--listen',
    '127.0.0.1:0',
    '--cache',
    join(dir.path, 'relay-cache'),
    '--tls-cert',
    pki.server.certFile,
    '--tls-key',
    pki.server.keyFile,
    '--tls-client-ca',
    pki.ca.certFile,
    '--tls-identities',
    identities,
  ]);
});

after(async () => {
  for (const child of children) await child.stop('SIGKILL');
  await relay?.kill('SIGKILL');
  await server.kill('SIGTERM');
  await dir.cleanup();
});

void describe('herald relay --tls-*', () => {
  void it('serves HTTPS; herald watch follows a view through it with a token', async () => {
    assert.match(relay?.url ?? '', /^https:\/\/127\.0\.0\.1:\d+$/u);
    const watch = spawnHerald(['watch', 'pay', '--json'], {
      HERALD_URL: relay?.url ?? '',
      HERALD_TOKEN: clientToken,
      NODE_EXTRA_CA_CERTS: pki.ca.certFile,
    });
    children.push(watch);
    const line = parseJson<{ values: Record<string, unknown> }>(
      await watch.waitForLine((l) => l.includes('"greeting"'), { timeoutMs: 60_000 }),
    );
    assert.deepEqual(line.values, { greeting: 'hello' });
  });

  void it('maps a client certificate without a token to its identity; no credential is refused', async () => {
    const url = new URL('/v1/whoami', relay?.url);
    const mapped = await tlsFetch({ ca: pki.ca.cert, cert: pki.spiffeClient.cert, key: pki.spiffeClient.key })(url);
    const who = (await mapped.json()) as { name: string; scopes: unknown };
    assert.equal(mapped.status, 200, JSON.stringify(who));
    assert.equal(who.name, 'spiffe://herald/ns/pay/agent-1');
    const bare = await tlsFetch({ ca: pki.ca.cert })(url);
    assert.equal(bare.status, 401);
    assert.equal(((await bare.json()) as { code: string }).code, 'unauthenticated');
  });
});
