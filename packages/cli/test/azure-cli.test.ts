// The Azure App Configuration API as an operator sets it up: `herald server --tls-cert --tls-key`
// with a self-signed certificate made here by openssl, `herald token create --azure` printing a
// connection string, and Microsoft's SDK and provider, unchanged, in a child process that trusts the
// certificate through NODE_EXTRA_CA_CERTS (no allowInsecureConnection, nothing else special).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';
import { fails, heraldAt, ok, parseJson } from './helpers.js';

const run = promisify(execFile);
/** The server package: the official Azure packages are its dev dependencies, so scripts run from there. */
const serverPackage = fileURLToPath(new URL('../../../server/', import.meta.url));

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let herald: ReturnType<typeof heraldAt>;
let caFile: string;

before(async () => {
  dir = await tempDir();
  caFile = join(dir.path, 'cert.pem');
  const keyFile = join(dir.path, 'key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    caFile,
  ]);
  server = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--tls-cert',
    caFile,
    '--tls-key',
    keyFile,
  ]);
  herald = (args, env = {}) => heraldAt(server.url, testAdminToken)(args, { NODE_EXTRA_CA_CERTS: caFile, ...env });
});

after(async () => {
  await server.kill('SIGTERM');
  await dir.cleanup();
});

/** Runs an ES module script with Node in the server package, trusting the test certificate; returns its stdout as JSON. */
async function script<T>(source: string, env: Record<string, string>): Promise<T> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', source], {
    cwd: serverPackage,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, ...env },
    timeout: 60_000,
  });
  return parseJson<T>(stdout);
}

void describe('herald server over HTTPS with the Azure clients', () => {
  void it('serves HTTPS with the certificate given', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/u);
  });

  void it('token create --azure prints a connection string that the SDK and the provider use unchanged', async () => {
    ok(await herald(['ns', 'create', 'shop']));
    const connectionString = ok(
      await herald(['token', 'create', '--role', 'writer', '--ns', 'shop', '--azure', '--name', 'shop-app']),
    ).trim();
    assert.match(
      connectionString,
      new RegExp(`^Endpoint=${server.url.replace(/[.]/gu, '\\.')};Id=[0-9a-f]{16};Secret=[A-Za-z0-9+/]{43}=$`, 'u'),
    );

    const result = await script<{ set: string; got: string; listed: string[]; loaded: Record<string, unknown> }>(
      `
      import { AppConfigurationClient } from '@azure/app-configuration';
      import { load } from '@azure/app-configuration-provider';
      const cs = process.env.CS;
      const client = new AppConfigurationClient(cs);
      const set = await client.setConfigurationSetting({ key: 'web/title', value: 'Shop', contentType: 'text/plain' });
      await client.setConfigurationSetting({ key: 'web/port', value: '8443', contentType: 'application/json' });
      const got = await client.getConfigurationSetting({ key: 'web/title' });
      const listed = [];
      for await (const s of client.listConfigurationSettings({ keyFilter: 'web/*' })) listed.push(s.key);
      const settings = await load(cs, { replicaDiscoveryEnabled: false, trimKeyPrefixes: ['web/'] });
      console.log(JSON.stringify({ set: set.value, got: got.value, listed, loaded: Object.fromEntries(settings) }));
      `,
      { CS: connectionString },
    );
    assert.deepEqual(result, {
      set: 'Shop',
      got: 'Shop',
      listed: ['web/port', 'web/title'],
      loaded: { port: 8443, title: 'Shop' },
    });

    // The same entries through Herald's own CLI: they are Herald entries.
    assert.equal(ok(await herald(['get', 'shop', 'web/title'])).trim(), 'Shop');
    const history = parseJson<{ items: Array<{ author: string }> }>(ok(await herald(['history', 'shop', '--json'])));
    assert.ok(history.items.length >= 2 && history.items.every((h) => h.author.startsWith('shop-app (')));
    assert.ok(ok(await herald(['token', 'list'])).includes('shop-app'), 'the access key is a token like any other');
  });

  void it('token create --azure --json gives id, secret and the connection string', async () => {
    const created = parseJson<{ connectionString: string; id: string; secret: string; info: { scopes: unknown[] } }>(
      ok(await herald(['token', 'create', '--role', 'reader', '--ns', 'shop', '--azure', '--json'])),
    );
    assert.equal(created.connectionString, `Endpoint=${server.url};Id=${created.id};Secret=${created.secret}`);
    assert.deepEqual(created.info.scopes, [{ namespaces: 'shop', role: 'reader' }]);
  });

  void it('token create --azure refuses a namespace glob: an access key serves one namespace', async () => {
    fails(await herald(['token', 'create', '--role', 'writer', '--ns', 'sh*', '--azure']), { line: /one namespace/u });
  });

  void it('a revoked access key is refused with 401', async () => {
    const connectionString = ok(
      await herald(['token', 'create', '--role', 'reader', '--ns', 'shop', '--azure']),
    ).trim();
    const id = /;Id=([0-9a-f]+);/u.exec(connectionString)?.[1] ?? '';
    ok(await herald(['token', 'revoke', id]));
    // The server caches access keys for up to 5 s (tokenCacheMs); this one was never looked up, so it is refused at once.
    const result = await script<{ status: number }>(
      `
      import { AppConfigurationClient } from '@azure/app-configuration';
      const client = new AppConfigurationClient(process.env.CS);
      try { await client.getConfigurationSetting({ key: 'web/title' }); console.log(JSON.stringify({ status: 200 })); }
      catch (error) { console.log(JSON.stringify({ status: error.statusCode })); }
      `,
      { CS: connectionString },
    );
    assert.deepEqual(result, { status: 401 });
  });
});
