// Fan-out: W watchers of one view/key, one connection each, spread over client processes; a
// writer commits K updates of a ~1 KiB JSON value, 200 ms apart. Per update: time from the
// commit's acknowledgement to the last watcher holding it; server RSS per watcher and CPU per
// update (the server's processes together: its watch workers included). Then K more updates
// while a probe writer commits to another key every 25 ms: the acknowledgement times of those
// commits say whether writers wait behind the fan-out. Herald and etcd, same workload, same run.
//   node bench/fanout.mjs [--watchers 1000,10000] [--updates 20] [--clients 4] [--targets herald,etcd]
//     [--watch-workers 0,2] (Herald once per worker count) [--json FILE]
import { readFileSync, writeFileSync } from 'node:fs';
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
  etcdPut,
  forkWatchers,
} from './lib.mjs';

const sizes = option('watchers', '1000,10000').split(',').map(Number);
const updates = Number(option('updates', '20'));
const clientProcesses = Number(option('clients', '4'));
const targets = option('targets', 'herald,etcd').split(',');
const workerCounts = option('watch-workers', '0').split(',').map(Number);
const probeEveryMs = 25;
const jsonOut = option('json', undefined);
// --profile DIR: the Herald server runs with --cpu-prof and stops with SIGINT so the profile is written there.
const profileDir = option('profile', undefined);
const now = () => performance.timeOrigin + performance.now();
const payload = (i) => ({ update: i, padding: 'x'.repeat(1000) });

/** The process and every process it started (a Herald server's watch workers). */
function processTree(pid) {
  const pids = [pid];
  for (let i = 0; i < pids.length; i += 1) {
    try {
      const children = readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8').trim();
      if (children) pids.push(...children.split(/\s+/).map(Number));
    } catch {
      // gone
    }
  }
  return pids;
}
const treeRssKiB = (pid) => processTree(pid).reduce((sum, p) => sum + (rssKiB(p) || 0), 0);
const treeCpu = (pid) => new Map(processTree(pid).map((p) => [p, cpuSeconds(p)]));

async function heraldTarget(workers) {
  const server = await startHerald(
    ['--watch-workers', String(workers)],
    {},
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  );
  // The workers start as the server listens: let them settle before memory is measured.
  if (workers) await sleep(1500);
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  for (const name of ['bench', 'probe'])
    await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name }) });
  const put = async (namespace, value) => {
    const response = await fetch(`${server.url}/v1/namespaces/${namespace}/entries/config`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value }),
    });
    if (response.status !== 200) throw new Error(`herald answered ${response.status}`);
    await response.arrayBuffer();
  };
  const write = (i) => put('bench', payload(i));
  const probe = (i) => put('probe', { probe: i });
  await write(0);
  await probe(0);
  const stop = async () => {
    if (!profileDir) return void server.child.kill('SIGKILL');
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGINT');
    await exited;
  };
  const name = workers ? `Herald, ${workers} watch workers` : 'Herald';
  return { name, workers, pid: server.pid, url: server.url, token: benchToken, write, probe, stop };
}

async function etcdTarget() {
  const etcd = await startEtcd();
  const key = 'bench/config';
  const put = (name, value) => etcdPut(etcd.url, name, value);
  const write = (i) => put(key, payload(i));
  const probe = (i) => put('probe/config', { probe: i });
  await write(0);
  await probe(0);
  return {
    name: `etcd ${etcd.version.replace(/^etcd Version: /, '')}`,
    pid: etcd.pid,
    url: etcd.url,
    token: '-',
    key,
    write,
    probe,
    stop: () => etcd.child.kill('SIGKILL'),
  };
}

async function run(target, kind, watchers) {
  const rssBefore = treeRssKiB(target.pid);
  const clients = await forkWatchers('fanout-client.mjs', watchers, clientProcesses, (count) => [
    kind,
    target.url,
    target.token,
    String(count),
    target.key ?? '',
  ]);
  await sleep(1000);
  const rssIdle = treeRssKiB(target.pid);
  const cpuBefore = treeCpu(target.pid);
  const acks = new Map();
  const updateAcks = [];
  const writeUpdates = async (from, to) => {
    for (let i = from; i <= to; i += 1) {
      const started = now();
      await target.write(i);
      acks.set(i, now());
      updateAcks.push(now() - started);
      await sleep(200);
    }
  };
  await writeUpdates(1, updates);
  await sleep(2000);
  const cpuAfter = treeCpu(target.pid);
  // The writers' view: the same updates again, and meanwhile a commit every probeEveryMs.
  const probeAcks = [];
  let probing = true;
  const prober = (async () => {
    for (let i = 1; probing; i += 1) {
      const started = now();
      await target.probe(i);
      probeAcks.push(now() - started);
      await sleep(Math.max(0, probeEveryMs - (now() - started)));
    }
  })();
  await writeUpdates(updates + 1, 2 * updates);
  probing = false;
  await prober;
  await sleep(2000);
  const cpuOf = (pid) => (cpuAfter.get(pid) ?? 0) - (cpuBefore.get(pid) ?? 0);
  const cpu = [...cpuAfter.keys()].reduce((sum, pid) => sum + cpuOf(pid), 0);
  const primaryCpu = cpuOf(target.pid);
  const rssPeak = treeRssKiB(target.pid);
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
    if (times.length === 0 || update > updates) continue;
    lastWatcher.push(Math.max(...times) - ack);
    for (const t of times) all.push(t - ack);
  }
  lastWatcher.sort((a, b) => a - b);
  all.sort((a, b) => a - b);
  updateAcks.sort((a, b) => a - b);
  probeAcks.sort((a, b) => a - b);
  return {
    ackP50: percentile(updateAcks, 50),
    ackP99: percentile(updateAcks, 99),
    probeP50: percentile(probeAcks, 50),
    probeP99: percentile(probeAcks, 99),
    probes: probeAcks.length,
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
    primaryCpuPerUpdateMs: (primaryCpu / updates) * 1000,
    /** The workers' CPU per update per delivered stream: what one more core buys. */
    workerCpuPerDeliveryUs: target.workers ? ((cpu - primaryCpu) / updates / watchers) * 1e6 : undefined,
  };
}

const results = [];
try {
  for (const watchers of sizes) {
    for (const [kind, workers] of targets.flatMap((kind) =>
      kind === 'etcd' ? [[kind, 0]] : workerCounts.map((n) => [kind, n]),
    )) {
      const target = kind === 'etcd' ? await etcdTarget() : await heraldTarget(workers);
      try {
        const result = await run(target, kind, watchers);
        results.push(result);
        console.error(
          `${result.target} W=${watchers}: last watcher p50 ${result.lastP50.toFixed(0)} ms, p99 ${result.lastP99.toFixed(0)} ms, commit ack p50 ${result.probeP50.toFixed(1)} ms (updates ${result.ackP50.toFixed(1)}), ${result.rssPerWatcherKiB.toFixed(1)} KiB/watcher, missing ${result.missing}`,
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
  `\nFan-out: ${updates} updates of a ~1 KiB JSON value 200 ms apart, a probe commit every ${probeEveryMs} ms meanwhile; one connection per watcher over ${clientProcesses} client processes. ${machine()}.\n`,
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
      'server CPU per update (primary)',
      'commit ack p50 / p99 ms (probe)',
      'update ack p50 / p99 ms',
    ],
    results.map((r) => [
      r.target,
      r.watchers,
      `${r.lastP50.toFixed(0)} / ${r.lastP99.toFixed(0)} / ${r.lastMax.toFixed(0)}`,
      `${r.watcherP50.toFixed(0)} / ${r.watcherP99.toFixed(0)}`,
      r.missing,
      `${r.rssPerWatcherKiB.toFixed(1)} KiB`,
      `${r.rssPeakMiB.toFixed(0)} MiB`,
      `${r.cpuPerUpdateMs.toFixed(1)} ms (${r.primaryCpuPerUpdateMs.toFixed(1)})`,
      `${r.probeP50.toFixed(1)} / ${r.probeP99.toFixed(1)}`,
      `${r.ackP50.toFixed(1)} / ${r.ackP99.toFixed(1)}`,
    ]),
  ),
);
const etcd = (w) => results.find((r) => r.watchers === w && r.target.startsWith('etcd'));
for (const w of sizes) {
  for (const herald of results.filter((r) => r.watchers === w && r.target.startsWith('Herald'))) {
    if (etcd(w))
      console.log(
        `W=${w} ${herald.target}: /etcd commit→last watcher p99 ${(herald.lastP99 / etcd(w).lastP99).toFixed(2)}×, RSS per watcher ${(herald.rssPerWatcherKiB / etcd(w).rssPerWatcherKiB).toFixed(2)}×, commit ack p50 ${(herald.probeP50 / etcd(w).probeP50).toFixed(2)}×`,
      );
    if (herald.workerCpuPerDeliveryUs !== undefined)
      console.log(
        `W=${w} ${herald.target}: workers' CPU ${herald.workerCpuPerDeliveryUs.toFixed(1)} µs per delivered update, primary ${herald.primaryCpuPerUpdateMs.toFixed(1)} ms per update`,
      );
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: machine(), updates, clientProcesses, results }, null, 2));
