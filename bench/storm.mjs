// Reconnect storm: W watchers whose server restarts (SIGKILL, then start again on the same data
// and port). Time until 99 % are live again, the peak reconnection rate the server saw, and its
// peak RSS during the storm. Herald and etcd, same run.
//   node bench/storm.mjs [--watchers 10000] [--clients 4] [--targets herald,etcd] [--profile DIR]
// --profile DIR: the restarted Herald server runs with --cpu-prof and stops with SIGINT at the end,
// so the profile of its start and of the storm is written there.
// Targets: herald (watchers behave as the SDK: Retry-After honoured, /readyz probed while waiting),
// herald-backoff (the same server, watchers with backoff only, as before issue 18), etcd.
import { fork } from 'node:child_process';
import {
  benchToken,
  ensureEtcd,
  freePort,
  heraldBin,
  machine,
  option,
  percentile,
  rssKiB,
  sleep,
  startProcess,
  stopAll,
  table,
  tempFolder,
  uncappedTokenArgs,
  etcdPut,
  seedBenchNamespace,
} from './lib.mjs';

const watchers = Number(option('watchers', '10000'));
const clientProcesses = Number(option('clients', '4'));
const targets = option('targets', 'herald,etcd').split(',');
const profileDir = option('profile', undefined);
const now = () => performance.timeOrigin + performance.now();

async function heraldServer() {
  const port = await freePort();
  const data = tempFolder('herald-storm-');
  const start = async (profile = false) => {
    const { child } = await startProcess(
      process.execPath,
      [
        ...(profile && profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
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
      {
        env: { HERALD_ADMIN_TOKEN: benchToken },
        ready: /listening on/,
        name: 'herald server',
      },
    );
    return child;
  };
  const url = `http://127.0.0.1:${port}`;
  const child = await start();
  await seedBenchNamespace(url);
  return { name: 'Herald', url, token: benchToken, key: '', child, start };
}

async function etcdServer() {
  const version = ensureEtcd();
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dir = tempFolder('etcd-storm-');
  const start = async () =>
    (
      await startProcess(
        'etcd',
        [
          '--data-dir',
          dir,
          '--listen-client-urls',
          `http://127.0.0.1:${clientPort}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${clientPort}`,
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
  const url = `http://127.0.0.1:${clientPort}`;
  await etcdPut(url, 'bench/config', 'x'.repeat(1000));
  return { name: `etcd ${version.replace(/^etcd Version: /, '')}`, url, token: '-', key: 'bench/config', child, start };
}

async function run(kind) {
  const server = kind === 'etcd' ? await etcdServer() : await heraldServer();
  if (kind === 'herald-backoff') server.name = 'Herald, backoff-only watchers';
  const per = Math.ceil(watchers / clientProcesses);
  const clients = [];
  for (let c = 0; c < clientProcesses; c += 1) {
    const count = Math.min(per, watchers - c * per);
    if (count > 0)
      clients.push(
        fork(
          new URL('storm-client.mjs', import.meta.url).pathname,
          [kind, server.url, server.token, String(count), server.key],
          { stdio: 'inherit' },
        ),
      );
  }
  await Promise.all(
    clients.map((child) => new Promise((resolve) => child.on('message', (m) => m.type === 'ready' && resolve()))),
  );
  await sleep(1000);
  server.child.kill('SIGKILL');
  await sleep(1000);
  const restartedAt = now();
  const child = await server.start(true);
  const readyAfter = now() - restartedAt;
  let peakRss = 0;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(child.pid) || 0)), 200);
  let report;
  for (let i = 0; i < 120; i += 1) {
    await sleep(1000);
    const reports = await Promise.all(
      clients.map(
        (c) =>
          new Promise((resolve) => {
            c.once('message', resolve);
            c.send({ type: 'report' });
          }),
      ),
    );
    const live = reports.reduce((sum, r) => sum + r.live, 0);
    report = reports;
    if (live >= watchers) break;
  }
  clearInterval(rssTimer);
  const times = report
    .flatMap((r) => r.connectedAt)
    .filter((t) => t >= restartedAt)
    .sort((a, b) => a - b);
  const t99 = times.length >= watchers * 0.99 ? times[Math.ceil(watchers * 0.99) - 1] - restartedAt : NaN;
  const t100 = times.length >= watchers ? times[watchers - 1] - restartedAt : NaN;
  const buckets = new Map();
  for (const t of times)
    buckets.set(Math.floor((t - restartedAt) / 100), (buckets.get(Math.floor((t - restartedAt) / 100)) ?? 0) + 1);
  const peakRate = Math.max(0, ...buckets.values()) * 10;
  const perSecond = [];
  for (const [bucket, count] of buckets)
    perSecond[Math.floor(bucket / 10)] = (perSecond[Math.floor(bucket / 10)] ?? 0) + count;
  console.error(
    `${server.name}: ready after ${readyAfter.toFixed(0)} ms; reconnections per second from the restart: ${Array.from(perSecond, (c) => c ?? 0).join(' ')}`,
  );
  for (const c of clients) c.send({ type: 'exit' });
  if (profileDir && kind !== 'etcd') {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  } else child.kill('SIGKILL');
  await sleep(500);
  return {
    target: server.name,
    readyAfter,
    t99,
    t100,
    p50: percentile(
      times.map((t) => t - restartedAt),
      50,
    ),
    peakRate,
    peakRssMiB: peakRss / 1024,
    reconnected: times.length,
  };
}

const results = [];
try {
  for (const kind of targets) {
    const result = await run(kind);
    results.push(result);
    console.error(
      `${result.target}: 99 % live after ${result.t99.toFixed(0)} ms, all after ${result.t100.toFixed(0)} ms`,
    );
  }
} finally {
  await stopAll();
}
console.log(
  `\nReconnect storm: ${watchers} watchers (full-jitter backoff, base 0.5 s, cap 30 s) over ${clientProcesses} processes; the server is killed and restarted. ${machine()}.\n`,
);
console.log(
  table(
    [
      'server',
      'ready after ms',
      'reconnected',
      'p50 ms',
      '99 % live after ms',
      'all live after ms',
      'peak reconnects /s',
      'peak RSS during storm',
    ],
    results.map((r) => [
      r.target,
      r.readyAfter.toFixed(0),
      r.reconnected,
      r.p50.toFixed(0),
      r.t99.toFixed(0),
      Number.isNaN(r.t100) ? '—' : r.t100.toFixed(0),
      r.peakRate,
      `${r.peakRssMiB.toFixed(0)} MiB`,
    ]),
  ),
);
