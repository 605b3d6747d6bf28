// Fan-out: W watchers of one view/key, one connection each, spread over client processes; a
// writer commits K updates of a ~1 KiB JSON value, 200 ms apart. Per update: time from the
// commit's acknowledgement to the last watcher holding it; server RSS per watcher and CPU per
// update. Herald and etcd, same workload, same run.
//   node bench/fanout.mjs [--watchers 1000,10000] [--updates 20] [--clients 4] [--targets herald,etcd] [--json FILE]
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import {
  benchToken,
  cpuSeconds,
  machine,
  option,
  percentile,
  rssKiB,
  sleep,
  startEtcd,
  startHerald,
  stopAll,
  table,
} from './lib.mjs';

const sizes = option('watchers', '1000,10000').split(',').map(Number);
const updates = Number(option('updates', '20'));
const clientProcesses = Number(option('clients', '4'));
const targets = option('targets', 'herald,etcd').split(',');
const jsonOut = option('json', undefined);
// --profile DIR: the Herald server runs with --cpu-prof and stops with SIGINT so the profile is written there.
const profileDir = option('profile', undefined);
const now = () => performance.timeOrigin + performance.now();
const payload = (i) => ({ update: i, padding: 'x'.repeat(1000) });

async function heraldTarget() {
  const server = await startHerald([], {}, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  const write = async (i) => {
    const response = await fetch(`${server.url}/v1/namespaces/bench/entries/config`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: payload(i) }),
    });
    if (response.status !== 200) throw new Error(`herald answered ${response.status}`);
    await response.arrayBuffer();
  };
  await write(0);
  const stop = async () => {
    if (!profileDir) return void server.child.kill('SIGKILL');
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGINT');
    await exited;
  };
  return { name: 'Herald', pid: server.pid, url: server.url, token: benchToken, write, stop };
}

async function etcdTarget() {
  const etcd = await startEtcd();
  const key = 'bench/config';
  const write = async (i) => {
    const response = await fetch(`${etcd.url}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({
        key: Buffer.from(key).toString('base64'),
        value: Buffer.from(JSON.stringify(payload(i))).toString('base64'),
      }),
    });
    if (response.status !== 200) throw new Error(`etcd answered ${response.status}`);
    await response.arrayBuffer();
  };
  await write(0);
  return {
    name: `etcd ${etcd.version.replace(/^etcd Version: /, '')}`,
    pid: etcd.pid,
    url: etcd.url,
    token: '-',
    key,
    write,
    stop: () => etcd.child.kill('SIGKILL'),
  };
}

async function run(target, kind, watchers) {
  const rssBefore = rssKiB(target.pid);
  const per = Math.ceil(watchers / clientProcesses);
  const clients = [];
  for (let c = 0; c < clientProcesses; c += 1) {
    const count = Math.min(per, watchers - c * per);
    if (count <= 0) break;
    const child = fork(
      new URL('fanout-client.mjs', import.meta.url).pathname,
      [kind, target.url, target.token, String(count), target.key ?? ''],
      { stdio: 'inherit' },
    );
    clients.push(child);
  }
  await Promise.all(
    clients.map(
      (child) =>
        new Promise((resolve, reject) => {
          child.on('message', (m) =>
            m.type === 'ready' ? resolve() : m.type === 'error' ? reject(new Error(JSON.stringify(m))) : undefined,
          );
        }),
    ),
  );
  await sleep(1000);
  const rssIdle = rssKiB(target.pid);
  const cpuBefore = cpuSeconds(target.pid);
  const acks = new Map();
  for (let i = 1; i <= updates; i += 1) {
    await target.write(i);
    acks.set(i, now());
    await sleep(200);
  }
  await sleep(2000);
  const cpu = cpuSeconds(target.pid) - cpuBefore;
  const rssPeak = rssKiB(target.pid);
  const reports = await Promise.all(
    clients.map(
      (child) =>
        new Promise((resolve) => {
          child.once('message', (m) => resolve(m));
          child.send({ type: 'report' });
        }),
    ),
  );
  for (const child of clients) child.send({ type: 'exit' });
  const byUpdate = new Map();
  for (const report of reports)
    for (const [update, times] of report.received) byUpdate.set(update, [...(byUpdate.get(update) ?? []), ...times]);
  const lastWatcher = [];
  const all = [];
  let missing = 0;
  for (const [update, ack] of acks) {
    const times = byUpdate.get(update) ?? [];
    missing += watchers - times.length;
    if (times.length === 0) continue;
    lastWatcher.push(Math.max(...times) - ack);
    for (const t of times) all.push(t - ack);
  }
  lastWatcher.sort((a, b) => a - b);
  all.sort((a, b) => a - b);
  return {
    target: target.name,
    watchers,
    lastP50: percentile(lastWatcher, 50),
    lastP99: percentile(lastWatcher, 99),
    lastMax: lastWatcher.at(-1),
    watcherP50: percentile(all, 50),
    watcherP99: percentile(all, 99),
    missing,
    rssPerWatcherKiB: (rssIdle - rssBefore) / watchers,
    rssPeakMiB: rssPeak / 1024,
    cpuSeconds: cpu,
    cpuPerUpdateMs: (cpu / updates) * 1000,
  };
}

const results = [];
try {
  for (const watchers of sizes) {
    for (const kind of targets) {
      const target = kind === 'etcd' ? await etcdTarget() : await heraldTarget();
      try {
        const result = await run(target, kind, watchers);
        results.push(result);
        console.error(
          `${result.target} W=${watchers}: last watcher p50 ${result.lastP50.toFixed(0)} ms, p99 ${result.lastP99.toFixed(0)} ms, ${result.rssPerWatcherKiB.toFixed(1)} KiB/watcher, missing ${result.missing}`,
        );
      } finally {
        await target.stop();
        await sleep(500);
      }
    }
  }
} finally {
  await stopAll();
}

console.log(
  `\nFan-out: ${updates} updates of a ~1 KiB JSON value 200 ms apart; one connection per watcher over ${clientProcesses} client processes. ${machine()}.\n`,
);
console.log(
  table(
    [
      'server',
      'W',
      'commit→last watcher p50 / p99 / max ms',
      'per-watcher p50 / p99 ms',
      'missed',
      'RSS per idle watcher',
      'peak RSS',
      'server CPU per update',
    ],
    results.map((r) => [
      r.target,
      r.watchers,
      `${r.lastP50.toFixed(0)} / ${r.lastP99.toFixed(0)} / ${r.lastMax.toFixed(0)}`,
      `${r.watcherP50.toFixed(0)} / ${r.watcherP99.toFixed(0)}`,
      r.missing,
      `${r.rssPerWatcherKiB.toFixed(1)} KiB`,
      `${r.rssPeakMiB.toFixed(0)} MiB`,
      `${r.cpuPerUpdateMs.toFixed(1)} ms`,
    ]),
  ),
);
const herald = (w) => results.find((r) => r.watchers === w && r.target === 'Herald');
const etcd = (w) => results.find((r) => r.watchers === w && r.target.startsWith('etcd'));
for (const w of sizes) {
  if (herald(w) && etcd(w))
    console.log(
      `W=${w}: Herald/etcd commit→last watcher p99 ${(herald(w).lastP99 / etcd(w).lastP99).toFixed(2)}×, RSS per watcher ${(herald(w).rssPerWatcherKiB / etcd(w).rssPerWatcherKiB).toFixed(2)}×`,
    );
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: machine(), updates, clientProcesses, results }, null, 2));
