// A reconnect storm after a restart showed 10,000 watchers back only after ~10 s, while the node sat
// idle for seconds of it: Node's default listen backlog (511) let the kernel drop the SYNs of the
// rest, and each dropped client tried again only 1, 3 and 7 s later. The control plane (its early
// socket, bound before anything else loads) and the relay listen with `listenBacklog` (4,096 by
// default; the kernel caps it at net.core.somaxconn). `ss` shows a listening socket's backlog as
// its Send-Q: that is what is read here, from the kernel, for a real `herald server` and a relay.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import { AdminClient } from '@herald/sdk';
import { defaultServerConfig, Relay } from '@herald/server';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
let dir: { path: string; cleanup: () => Promise<void> };
let control: ServerProcess;
let relay: Relay | undefined;

/** The backlog the kernel holds for the socket listening on `url`'s port (ss: Send-Q of a LISTEN socket). */
function kernelBacklog(url: string): number {
  const port = new URL(url).port;
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const fields = line.split(/\s+/u);
  assert.equal(fields[0], 'LISTEN', `ss shows one listening socket on ${port}: ${line}`);
  return Number(fields[2]);
}

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());

before(async () => {
  dir = await tempDir('herald-backlog-');
  control = await startHeraldProcess(['server', '--data', join(dir.path, 'data'), '--listen', '127.0.0.1:0']);
});

after(async () => {
  await relay?.close();
  await control?.kill('SIGKILL');
  await dir?.cleanup();
});

void it("herald server's socket is bound with the configured backlog, not Node's 511", () => {
  assert.ok(defaultServerConfig.listenBacklog > 511);
  assert.equal(kernelBacklog(control.url), Math.min(defaultServerConfig.listenBacklog, somaxconn));
});

void it('a relay listens with its listenBacklog', async () => {
  const admin = new AdminClient({ url: control.url, token: testAdminToken });
  const { token } = await admin.post<{ token: string }>('/v1/tokens', {
    scopes: [{ namespaces: '*', role: 'client' }],
  });
  relay = new Relay({
    upstream: control.url,
    token,
    trust: 'tofu',
    cacheDir: join(dir.path, 'relay'),
    port: 0,
    logLevel: 'silent',
    logStream: silent,
    listenBacklog: 777,
  });
  await relay.listen();
  assert.equal(kernelBacklog(relay.url), Math.min(777, somaxconn));
});
