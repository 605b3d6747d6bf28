// Relays: a control plane → R relays → W watchers per relay (lean SSE watchers of
// fanout-client.mjs, one connection each); a writer commits K updates of a ~1 KiB JSON value,
// 200 ms apart. Then the same R×W watchers directly on a fresh control plane. Per run: time from
// the commit's acknowledgement to the last watcher holding it; the control plane's RSS and CPU
// during the updates; and for the relays, RSS per watcher and CPU per update of one relay.
//   node bench/relay.mjs [--watchers 1000] [--relays 2] [--updates 20] [--clients 2] [--direct yes|no] [--json FILE]
//   (--watchers is per relay; --clients is watcher processes per relay)
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import {
  benchToken,
  cpuSeconds,
  freePort,
  heraldBin,
  machine,
  option,
  percentile,
  rssKiB,
  sleep,
  startHerald,
  startProcess,
  stopAll,
  table,
  tempFolder,
  uncappedTokenArgs,
} from './lib.mjs';

const perRelay = Number(option('watchers', '1000'));
const relayCount = Number(option('relays', '2'));
const updates = Number(option('updates', '20'));
const clientsPerGroup = Number(option('clients', '2'));
const jsonOut = option('json', undefined);
// The direct comparison needs every watcher on one process: past what one process holds under the
// open-files cap (about 18,000) only the relay tree runs.
const withDirect = option('direct', perRelay * relayCount <= 18_000 ? 'yes' : 'no') === 'yes';
const total = perRelay * relayCount;
const now = () => performance.timeOrigin + performance.now();
const payload = (i) => ({ update: i, padding: 'x'.repeat(1000) });

async function controlPlane() {
  const server = await startHerald();
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
  return { ...server, write };
}

async function startRelay(upstream) {
  const port = await freePort();
  const { child } = await startProcess(
    process.execPath,
    [
      heraldBin,
      'relay',
      '--upstream',
      upstream,
      '--listen',
      `127.0.0.1:${port}`,
      '--cache',
      tempFolder('herald-relay-bench-'),
      '--log-level',
      'warn',
      ...uncappedTokenArgs,
    ],
    { env: { HERALD_TOKEN: benchToken }, ready: /relay listening on (http\S+)/, name: 'herald relay' },
  );
  return { url: `http://127.0.0.1:${port}`, child, pid: child.pid };
}

/** W watchers of `url`, over `clientsPerGroup` processes; resolves once every stream has its hello. */
async function watchers(url, count) {
  const per = Math.ceil(count / clientsPerGroup);
  const clients = [];
  for (let c = 0; c < clientsPerGroup; c += 1) {
    const n = Math.min(per, count - c * per);
    if (n > 0)
      clients.push(
        fork(new URL('fanout-client.mjs', import.meta.url).pathname, ['herald', url, benchToken, String(n), ''], {
          stdio: 'inherit',
        }),
      );
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
  return clients;
}

async function collect(clients) {
  const reports = await Promise.all(
    clients.map(
      (child) =>
        new Promise((resolve) => {
          child.once('message', resolve);
          child.send({ type: 'report' });
        }),
    ),
  );
  for (const child of clients) child.send({ type: 'exit' });
  return reports;
}

/** Commit → last watcher per update, over every watcher. */
function latencies(reports, acks, expected) {
  const byUpdate = new Map();
  for (const report of reports)
    for (const [update, times] of report.received) byUpdate.set(update, [...(byUpdate.get(update) ?? []), ...times]);
  const last = [];
  let missing = 0;
  for (const [update, ack] of acks) {
    const times = byUpdate.get(update) ?? [];
    missing += expected - times.length;
    if (times.length > 0) last.push(Math.max(...times) - ack);
  }
  last.sort((a, b) => a - b);
  return { p50: percentile(last, 50), p99: percentile(last, 99), max: last.at(-1), missing };
}

/** Open watch streams on a node, from its /metrics. */
async function streams(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^herald_watch_streams (\d+)/mu.exec(text)?.[1] ?? NaN);
}

/** K updates 200 ms apart, then 2 s for the stragglers; CPU of every pid over that window. */
async function updateRun(cp, pids) {
  const cpuBefore = pids.map(cpuSeconds);
  let peak = pids.map(() => 0);
  const sampler = setInterval(() => (peak = pids.map((pid, i) => Math.max(peak[i], rssKiB(pid) || 0))), 250);
  const acks = new Map();
  for (let i = 1; i <= updates; i += 1) {
    await cp.write(i);
    acks.set(i, now());
    await sleep(200);
  }
  await sleep(2000);
  clearInterval(sampler);
  const cpu = pids.map((pid, i) => cpuSeconds(pid) - cpuBefore[i]);
  return { acks, cpu, peakKiB: pids.map((pid, i) => Math.max(peak[i], rssKiB(pid) || 0)) };
}

async function throughRelays() {
  const cp = await controlPlane();
  const relays = [];
  for (let r = 0; r < relayCount; r += 1) relays.push(await startRelay(cp.url));
  const cpRssBefore = rssKiB(cp.pid);
  const relayRssBefore = relays.map((relay) => rssKiB(relay.pid));
  const clients = [];
  for (const relay of relays) clients.push(...(await watchers(relay.url, perRelay)));
  await sleep(1000);
  const cpRssIdle = rssKiB(cp.pid);
  const relayRssIdle = relays.map((relay) => rssKiB(relay.pid));
  const cpStreams = await streams(cp.url);
  const run = await updateRun(cp, [cp.pid, ...relays.map((relay) => relay.pid)]);
  const reports = await collect(clients);
  const relayCpu = run.cpu.slice(1);
  const perWatcher = relays.map((_, i) => (relayRssIdle[i] - relayRssBefore[i]) / perRelay);
  cp.child.kill('SIGKILL');
  for (const relay of relays) relay.child.kill('SIGKILL');
  return {
    path: `control plane → ${relayCount} relays → ${perRelay} watchers each`,
    watchers: total,
    ...latencies(reports, run.acks, total),
    cpStreams,
    cpRssIdleMiB: cpRssIdle / 1024,
    cpRssGrowthMiB: (cpRssIdle - cpRssBefore) / 1024,
    cpRssPeakMiB: run.peakKiB[0] / 1024,
    cpCpuSeconds: run.cpu[0],
    relay: {
      rssPerWatcherKiB: perWatcher.reduce((a, b) => a + b, 0) / relays.length,
      rssPeakMiB: Math.max(...run.peakKiB.slice(1)) / 1024,
      cpuPerUpdateMs: (relayCpu.reduce((a, b) => a + b, 0) / relays.length / updates) * 1000,
    },
  };
}

async function direct() {
  const cp = await controlPlane();
  const cpRssBefore = rssKiB(cp.pid);
  // The same layout of watcher processes as through the relays: one group of W per relay.
  const clients = [];
  for (let r = 0; r < relayCount; r += 1) clients.push(...(await watchers(cp.url, perRelay)));
  await sleep(1000);
  const cpRssIdle = rssKiB(cp.pid);
  const cpStreams = await streams(cp.url);
  const run = await updateRun(cp, [cp.pid]);
  const reports = await collect(clients);
  cp.child.kill('SIGKILL');
  return {
    path: `control plane → ${total} watchers`,
    watchers: total,
    ...latencies(reports, run.acks, total),
    cpStreams,
    cpRssIdleMiB: cpRssIdle / 1024,
    cpRssGrowthMiB: (cpRssIdle - cpRssBefore) / 1024,
    cpRssPeakMiB: run.peakKiB[0] / 1024,
    cpCpuSeconds: run.cpu[0],
  };
}

const results = [];
try {
  for (const run of withDirect ? [throughRelays, direct] : [throughRelays]) {
    const result = await run();
    results.push(result);
    console.error(
      `${result.path}: last watcher p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, missing ${result.missing}`,
    );
    await sleep(500);
  }
} finally {
  await stopAll();
}

const ms = (v) => (Number.isFinite(v) ? v.toFixed(0) : '-');
console.log(
  `\nRelays: ${updates} updates of a ~1 KiB JSON value 200 ms apart; ${total} watchers, one connection each, ${clientsPerGroup} watcher processes per relay (the same processes for the direct run). ${machine()}.\n`,
);
console.log(
  table(
    [
      'path',
      'commit→last watcher p50 / p99 / max ms',
      'missed',
      'control plane: streams',
      'RSS growth for them',
      'peak RSS',
      'CPU during the updates',
      'CPU per update',
    ],
    results.map((r) => [
      r.path,
      `${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)}`,
      r.missing,
      r.cpStreams,
      `${r.cpRssGrowthMiB.toFixed(1)} MiB`,
      `${r.cpRssPeakMiB.toFixed(0)} MiB`,
      `${r.cpCpuSeconds.toFixed(2)} s`,
      `${((r.cpCpuSeconds / updates) * 1000).toFixed(1)} ms`,
    ]),
  ),
);
const relayed = results.find((r) => r.relay);
if (relayed) {
  console.log(
    `\nOne relay (mean of ${relayCount}), ${perRelay} watchers: ${relayed.relay.rssPerWatcherKiB.toFixed(1)} KiB RSS per idle watcher, peak RSS ${relayed.relay.rssPeakMiB.toFixed(0)} MiB, CPU per update ${relayed.relay.cpuPerUpdateMs.toFixed(1)} ms.`,
  );
}
const plain = results.find((r) => !r.relay);
if (relayed && plain) {
  console.log(
    `Control plane with the relays in front vs the same ${total} watchers on it directly: CPU ${(relayed.cpCpuSeconds / plain.cpCpuSeconds).toFixed(2)}×, RSS growth ${relayed.cpRssGrowthMiB.toFixed(1)} vs ${plain.cpRssGrowthMiB.toFixed(1)} MiB; commit→last watcher p99 ${(relayed.p99 / plain.p99).toFixed(2)}×.`,
  );
}
if (jsonOut)
  writeFileSync(
    jsonOut,
    JSON.stringify({ machine: machine(), updates, perRelay, relayCount, clientsPerGroup, results }, null, 2),
  );
