// Recovery after an outage: N clients watch; the server is killed (SIGKILL), stays down --down
// seconds, is started again on the same data and port, and a release (etcd: a put) is made as
// soon as it is ready. Time from ready to 99 % and 100 % of the clients holding it. Same run:
//   herald          full SDK clients (the /readyz probe while waiting to reconnect)
//   herald-backoff  the same clients with the probe off: backoff only (full jitter, cap 30 s)
//   etcd            watchers on etcd's gateway with the same full-jitter backoff
//   node bench/outage.mjs [--clients 20] [--down 60] [--targets herald,herald-backoff,etcd]
import { fork } from 'node:child_process';
import {
  benchToken,
  ensureEtcd,
  freePort,
  heraldBin,
  machine,
  option,
  percentile,
  sleep,
  startProcess,
  stopAll,
  table,
  tempFolder,
  uncappedTokenArgs,
  etcdPut,
} from './lib.mjs';

const clientCount = Number(option('clients', '20'));
const downSeconds = Number(option('down', '60'));
const targets = option('targets', 'herald,herald-backoff,etcd').split(',');
const now = () => performance.timeOrigin + performance.now();
const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };

async function herald() {
  const port = await freePort();
  const data = tempFolder('herald-outage-');
  const url = `http://127.0.0.1:${port}`;
  const start = async () =>
    (
      await startProcess(
        process.execPath,
        [
          heraldBin,
          'server',
          '--listen',
          `127.0.0.1:${port}`,
          '--data',
          data,
          '--log-level',
          'warn',
          ...uncappedTokenArgs,
        ],
        { env: { HERALD_ADMIN_TOKEN: benchToken }, ready: /listening on/, name: 'herald server' },
      )
    ).child;
  const child = await start();
  await fetch(`${url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  const release = async (marker) => {
    const response = await fetch(`${url}/v1/namespaces/bench/entries/config`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: { marker, padding: 'x'.repeat(1000) } }),
    });
    if (!response.ok) throw new Error(`release: ${response.status} ${await response.text()}`);
  };
  await release(0);
  return { name: 'Herald', url, token: benchToken, key: '', child, start, release };
}

async function etcd() {
  const version = ensureEtcd();
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dir = tempFolder('etcd-outage-');
  const url = `http://127.0.0.1:${clientPort}`;
  const start = async () =>
    (
      await startProcess(
        'etcd',
        [
          '--data-dir',
          dir,
          '--listen-client-urls',
          url,
          '--advertise-client-urls',
          url,
          '--listen-peer-urls',
          `http://127.0.0.1:${peerPort}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${peerPort}`,
          '--initial-cluster',
          `default=http://127.0.0.1:${peerPort}`,
        ],
        { ready: /ready to serve client requests|serving insecure client requests/, name: 'etcd' },
      )
    ).child;
  const child = await start();
  const release = (marker) => etcdPut(url, 'bench/config', { marker, padding: 'x'.repeat(1000) });
  await release(0);
  return {
    name: `etcd ${version.replace(/^etcd Version: /, '')}`,
    url,
    token: '-',
    key: 'bench/config',
    child,
    start,
    release,
  };
}

async function run(kind) {
  const server = kind === 'etcd' ? await etcd() : await herald();
  if (kind === 'herald-backoff') server.name = 'Herald SDK, probe off (backoff only)';
  else if (kind === 'herald') server.name = 'Herald SDK';
  const clients = fork(
    new URL('outage-client.mjs', import.meta.url).pathname,
    [kind, server.url, server.token, String(clientCount), server.key],
    { stdio: 'inherit' },
  );
  await new Promise((resolve) => clients.on('message', (m) => m.type === 'ready' && resolve()));
  await sleep(1000);
  server.child.kill('SIGKILL');
  await sleep(downSeconds * 1000);
  const spawnedAt = now();
  const child = await server.start();
  const readyAt = now();
  const marker = Math.floor(readyAt);
  clients.send({ type: 'marker', marker });
  await server.release(marker);
  let seen = [];
  for (let i = 0; i < 120; i += 1) {
    await sleep(500);
    const report = await new Promise((resolve) => {
      clients.once('message', resolve);
      clients.send({ type: 'report' });
    });
    seen = report.seenAt.filter((t) => typeof t === 'number');
    if (seen.length === clientCount) break;
  }
  clients.send({ type: 'exit' });
  child.kill('SIGKILL');
  await sleep(500);
  const fromReady = seen.map((t) => t - readyAt).sort((a, b) => a - b);
  return {
    target: server.name,
    startMs: readyAt - spawnedAt,
    current: seen.length,
    p99: fromReady.length >= Math.ceil(clientCount * 0.99) ? percentile(fromReady, 99) : NaN,
    all: fromReady.length === clientCount ? fromReady.at(-1) : NaN,
    p50: percentile(fromReady, 50),
  };
}

const results = [];
try {
  for (const kind of targets) {
    const result = await run(kind);
    results.push(result);
    console.error(
      `${result.target}: 99 % current ${result.p99.toFixed(0)} ms after ready, all ${result.all.toFixed(0)} ms`,
    );
  }
} finally {
  await stopAll();
}
const fmt = (ms) => (Number.isNaN(ms) ? '—' : ms.toFixed(0));
console.log(
  `\nRecovery after an outage: ${clientCount} clients; the server is killed, down ${downSeconds} s, started again, and a release is made as soon as it is ready. ${machine()}.\n`,
);
console.log(
  table(
    ['clients of', 'start to ready ms', 'current', 'p50 ms after ready', '99 % ms after ready', 'all ms after ready'],
    results.map((r) => [r.target, fmt(r.startMs), `${r.current}/${clientCount}`, fmt(r.p50), fmt(r.p99), fmt(r.all)]),
  ),
);
