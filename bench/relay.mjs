// Relays: a control plane → R relays → W watchers per relay (lean SSE watchers of
// relay-client.mjs, one connection each, given [their relay, the control plane]); a writer commits
// K updates of a ~1 KiB JSON value, --interval ms apart. Per update: time from sending the commit
// to 50 %, 99 % and 100 % of the fleet holding it. Per tier: memory per watcher and
// CPU per update of the control plane, the relays and the watcher processes. Then a region's relay
// is killed (SIGKILL): its watchers reconnect to the control plane (a reconnect storm), and one
// more update measures the fleet whole again. Side by side in the same run: etcd holding what one
// relay holds (--etcd N watchers, one connection each, as etcd needs), and, while every watcher
// fits one process, the same watchers directly on a fresh control plane.
//   node bench/relay.mjs [--watchers 1000] [--relays 2] [--updates 20] [--interval 200] [--clients 2]
//                        [--direct yes|no] [--storm yes|no] [--etcd N] [--json FILE]
//   (--watchers is per relay; --clients is watcher processes per relay; --etcd 0 skips etcd)
import { writeFileSync } from 'node:fs';
import {
  benchToken,
  startEtcd,
  cpuSeconds,
  machine,
  option,
  percentile,
  rssKiB,
  sleep,
  startHerald,
  startRelay,
  stopAll,
  table,
  etcdPut,
  forkWatchers,
} from './lib.mjs';

const perRelay = Number(option('watchers', '1000'));
const relayCount = Number(option('relays', '2'));
const updates = Number(option('updates', '20'));
const clientsPerGroup = Number(option('clients', '2'));
const intervalMs = Number(option('interval', '200'));
const withStorm = option('storm', relayCount >= 2 ? 'yes' : 'no') === 'yes';
const etcdWatchers = Number(option('etcd', String(perRelay)));
const jsonOut = option('json', undefined);
/** The objective stated in BENCHMARKS.md: p99 over the updates of commit → 99 % of the fleet. */
const objectiveMs = 1000;
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
  const put = (i) =>
    fetch(`${server.url}/v1/namespaces/bench/entries/config`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: payload(i) }),
    });
  const write = async (i) => {
    // A kept-alive connection the server closed while idle (minutes of connecting watchers) fails
    // before anything was sent: once more on a fresh one.
    const response = await put(i).catch((error) => {
      if (error?.cause?.code !== 'UND_ERR_SOCKET') throw error;
      return put(i);
    });
    if (response.status !== 200) throw new Error(`herald answered ${response.status}`);
    await response.arrayBuffer();
  };
  await write(0);
  return { ...server, write };
}

/**
 * W watchers of `urls` (the first, then the next on failure), over `clientsPerGroup` processes;
 * resolves once every stream has had its hello.
 */
function watchers(urls, count, prefix) {
  return forkWatchers('relay-client.mjs', count, clientsPerGroup, (n, c) => [
    urls,
    benchToken,
    String(n),
    `${prefix}-${c}`,
  ]);
}

/** Every client's report (receive times, reconnects, RSS); `exit` ends them afterwards. */
async function collect(clients, exit = true) {
  const reports = await Promise.all(
    clients.map(
      (child) =>
        new Promise((resolve) => {
          const listener = (m) => {
            if (m.type !== 'report') return;
            child.off('message', listener);
            resolve(m);
          };
          child.on('message', listener);
          child.send({ type: 'report' });
        }),
    ),
  );
  if (exit) for (const child of clients) child.send({ type: 'exit' });
  return reports;
}

/**
 * Per update, ms from sending its commit to 50 %, 99 % and 100 % of `expected`
 * watchers holding it (Infinity when some never did); then p50/p99 of each over the updates.
 */
function latencies(reports, acks, expected) {
  const byUpdate = new Map();
  for (const report of reports)
    for (const [update, times] of report.received) {
      const all = byUpdate.get(update) ?? [];
      for (const t of times) all.push(t);
      byUpdate.set(update, all);
    }
  const at = { 50: [], 99: [], 100: [] };
  let missing = 0;
  for (const [update, ack] of acks) {
    const times = (byUpdate.get(update) ?? []).sort((a, b) => a - b);
    missing += Math.max(0, expected - times.length);
    for (const share of [50, 99, 100]) {
      const index = Math.ceil((share / 100) * expected) - 1;
      at[share].push(index < times.length ? times[index] - ack : Infinity);
    }
  }
  const over = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) };
  };
  const last = over(at[100]);
  return { ...last, to50: over(at[50]), to99: over(at[99]), to100: last, missing };
}

/** Open watch streams on a node, from its /metrics. */
async function streams(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^herald_watch_streams (\d+)/mu.exec(text)?.[1] ?? NaN);
}

/** K updates `intervalMs` apart (numbered from `first`), then 2 s for the stragglers; CPU of every pid over that window. */
async function updateRun(cp, pids, count = updates, first = 1) {
  const cpuBefore = pids.map(cpuSeconds);
  let peak = pids.map(() => 0);
  const sampler = setInterval(() => (peak = pids.map((pid, i) => Math.max(peak[i], rssKiB(pid) || 0))), 250);
  const acks = new Map();
  for (let i = first; i < first + count; i += 1) {
    // From the moment the commit is sent: on 2 loaded cores this process can read its own
    // acknowledgement after watchers already hold the update, so the ack would make the times
    // look shorter than they are (even negative); the commit's own few ms are counted instead.
    const sent = now();
    await cp.write(i);
    acks.set(i, sent);
    await sleep(intervalMs);
  }
  await sleep(2000);
  clearInterval(sampler);
  const cpu = pids.map((pid, i) => cpuSeconds(pid) - cpuBefore[i]);
  return { acks, cpu, peakKiB: pids.map((pid, i) => Math.max(peak[i], rssKiB(pid) || 0)) };
}

/** Asks each client for its open streams and reconnect times (cheap: no receive times). */
async function status(clients) {
  const reports = await collect(clients, false);
  return {
    open: reports.reduce((a, r) => a + r.open, 0),
    reconnects: reports.flatMap((r) => r.reconnects).sort((a, b) => a - b),
    reports,
  };
}

async function throughRelays() {
  const cp = await controlPlane();
  const relays = [];
  for (let r = 0; r < relayCount; r += 1) relays.push(await startRelay(cp.url));
  const cpRssBefore = rssKiB(cp.pid);
  const relayRssBefore = relays.map((relay) => rssKiB(relay.pid));
  const groups = [];
  for (const [r, relay] of relays.entries()) {
    const started = performance.now();
    groups.push(await watchers(`${relay.url},${cp.url}`, perRelay, `r${r}`));
    console.error(
      `relay ${r + 1}/${relayCount}: ${perRelay} watchers connected in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const clients = groups.flat();
  const clientPids = clients.map((c) => c.pid);
  await sleep(1000);
  const cpRssIdle = rssKiB(cp.pid);
  const relayRssIdle = relays.map((relay) => rssKiB(relay.pid));
  const clientRss = clientPids.map((pid) => rssKiB(pid));
  const cpStreams = await streams(cp.url);
  const run = await updateRun(cp, [cp.pid, ...relays.map((relay) => relay.pid), ...clientPids]);
  const relayCpu = run.cpu.slice(1, 1 + relayCount);
  const clientCpu = run.cpu.slice(1 + relayCount).reduce((a, b) => a + b, 0);
  const perWatcher = relays.map((_, i) => (relayRssIdle[i] - relayRssBefore[i]) / perRelay);
  const result = {
    path: `control plane → ${relayCount} relays → ${perRelay} watchers each`,
    watchers: total,
    ...latencies(await collect(clients, false), run.acks, total),
    cpStreams,
    cpRssIdleMiB: cpRssIdle / 1024,
    cpRssGrowthMiB: (cpRssIdle - cpRssBefore) / 1024,
    cpRssPeakMiB: run.peakKiB[0] / 1024,
    cpCpuSeconds: run.cpu[0],
    relay: {
      rssPerWatcherKiB: perWatcher.reduce((a, b) => a + b, 0) / relays.length,
      rssPeakMiB: Math.max(...run.peakKiB.slice(1, 1 + relayCount)) / 1024,
      cpuPerUpdateMs: (relayCpu.reduce((a, b) => a + b, 0) / relays.length / updates) * 1000,
    },
    clients: {
      processes: clients.length,
      rssPerWatcherKiB: clientRss.reduce((a, b) => a + b, 0) / total,
      cpuPerUpdatePerWatcherUs: (clientCpu / updates / total) * 1e6,
    },
  };
  if (withStorm) result.storm = await storm(cp, relays, groups);
  cp.child.kill('SIGKILL');
  for (const relay of relays) relay.child.kill('SIGKILL');
  for (const child of clients) child.send({ type: 'exit' });
  return result;
}

/**
 * A region loses its relay: SIGKILL of relay 0, whose watchers move to the control plane.
 * Time from the kill to 99 % and 100 % of them streaming again, the control plane's CPU for it,
 * then one update to the whole fleet (commit → 99 % / 100 %).
 */
async function storm(cp, relays, groups) {
  const victims = groups[0];
  const before = (await status(victims)).reconnects.length;
  const cpCpuBefore = cpuSeconds(cp.pid);
  const killedAt = now();
  relays[0].child.kill('SIGKILL');
  let back = [];
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    await sleep(250);
    back = (await status(victims)).reconnects.slice(before);
    if (back.length >= perRelay) break;
  }
  const since = (share) => {
    const index = Math.ceil((share / 100) * perRelay) - 1;
    return index < back.length ? back[index] - killedAt : Infinity;
  };
  const cpCpu = cpuSeconds(cp.pid) - cpCpuBefore;
  const cpStreams = await streams(cp.url);
  const survivors = [cp.pid, ...relays.slice(1).map((r) => r.pid)];
  const after = await updateRun(cp, survivors, 1, updates + 1);
  const whole = latencies(await collect(groups.flat(), false), after.acks, total);
  return {
    reconnected: back.length,
    to99Ms: since(99),
    to100Ms: since(100),
    cpStreams,
    cpCpuSeconds: cpCpu,
    afterTo99Ms: whole.to99.max,
    afterTo100Ms: whole.to100.max,
  };
}

/** etcd holding what one relay holds: the same updates to `etcdWatchers` plain watch clients. */
async function etcdTier() {
  const etcd = await startEtcd();
  const key = 'bench/config';
  const write = (i) => etcdPut(etcd.url, key, payload(i));
  await write(0);
  const rssBefore = rssKiB(etcd.pid);
  const clients = await forkWatchers('fanout-client.mjs', etcdWatchers, clientsPerGroup, (n) => [
    'etcd',
    etcd.url,
    '-',
    String(n),
    key,
  ]);
  await sleep(1000);
  const rssIdle = rssKiB(etcd.pid);
  const run = await updateRun({ write }, [etcd.pid]);
  const reports = await collect(clients);
  etcd.child.kill('SIGKILL');
  return {
    name: etcd.version.replace(/^etcd Version: /, 'etcd '),
    watchers: etcdWatchers,
    ...latencies(reports, run.acks, etcdWatchers),
    rssPerWatcherKiB: (rssIdle - rssBefore) / etcdWatchers,
    rssPeakMiB: run.peakKiB[0] / 1024,
    cpuPerUpdateMs: (run.cpu[0] / updates) * 1000,
  };
}

async function direct() {
  const cp = await controlPlane();
  const cpRssBefore = rssKiB(cp.pid);
  // The same layout of watcher processes as through the relays: one group of W per relay.
  const clients = [];
  for (let r = 0; r < relayCount; r += 1) clients.push(...(await watchers(cp.url, perRelay, `d${r}`)));
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
let etcdResult;
try {
  for (const run of withDirect ? [throughRelays, direct] : [throughRelays]) {
    const result = await run();
    results.push(result);
    console.error(
      `${result.path}: commit → 99 % p99 ${result.to99.p99.toFixed(0)} ms, → 100 % p99 ${result.p99.toFixed(0)} ms, missing ${result.missing}`,
    );
    await sleep(500);
  }
  if (etcdWatchers > 0) etcdResult = await etcdTier();
} finally {
  await stopAll();
}

const ms = (v) => (Number.isFinite(v) ? v.toFixed(0) : '-');
const trio = (o) => `${ms(o.p50)} / ${ms(o.p99)}`;
console.log(
  `\nRelays: ${updates} updates of a ~1 KiB JSON value ${intervalMs} ms apart; ${total} watchers, one connection each, ${clientsPerGroup} watcher processes per relay (the same processes for the direct run). ${machine()}.\n`,
);
console.log(
  table(
    [
      'path',
      'commit → 50 % p50 / p99 ms',
      'commit → 99 % p50 / p99 ms',
      'commit → 100 % p50 / p99 / max ms',
      'missed',
      "control plane: watch streams (the relays')",
      'its RSS growth for them',
      'its CPU per update',
    ],
    results.map((r) => [
      r.path,
      trio(r.to50),
      trio(r.to99),
      `${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)}`,
      r.missing,
      r.cpStreams,
      `${r.cpRssGrowthMiB.toFixed(1)} MiB`,
      `${((r.cpCpuSeconds / updates) * 1000).toFixed(1)} ms`,
    ]),
  ),
);
const relayed = results.find((r) => r.relay);
if (relayed) {
  console.log(
    `\nPer tier, ${relayCount} relays of ${perRelay} watchers:\n` +
      `- control plane: ${relayed.cpStreams} watch streams (the relays'), ${relayed.cpRssGrowthMiB.toFixed(1)} MiB for them, ${((relayed.cpCpuSeconds / updates) * 1000).toFixed(1)} ms CPU per update, peak RSS ${relayed.cpRssPeakMiB.toFixed(0)} MiB\n` +
      `- one relay (mean): ${relayed.relay.rssPerWatcherKiB.toFixed(1)} KiB RSS per watcher, ${relayed.relay.cpuPerUpdateMs.toFixed(1)} ms CPU per update, peak RSS ${relayed.relay.rssPeakMiB.toFixed(0)} MiB\n` +
      `- watcher processes (${relayed.clients.processes}, lean SSE readers): ${relayed.clients.rssPerWatcherKiB.toFixed(1)} KiB RSS per watcher, ${relayed.clients.cpuPerUpdatePerWatcherUs.toFixed(1)} µs CPU per update per watcher`,
  );
  const verdict = relayed.to99.p99 < objectiveMs ? 'met' : 'missed';
  console.log(
    `Objective: p99 of commit → 99 % of the fleet under ${objectiveMs} ms at ${total} watchers: ${ms(relayed.to99.p99)} ms, ${verdict}.`,
  );
  if (relayed.storm) {
    const st = relayed.storm;
    console.log(
      `Reconnect storm (relay 1 of ${relayCount} killed with SIGKILL, its ${perRelay} watchers onto the control plane): ${st.reconnected} back; 99 % after ${ms(st.to99Ms)} ms, 100 % after ${ms(st.to100Ms)} ms; control plane then ${st.cpStreams} streams, ${st.cpCpuSeconds.toFixed(2)} s CPU for the storm; next update → 99 % ${ms(st.afterTo99Ms)} ms, → 100 % ${ms(st.afterTo100Ms)} ms.`,
    );
  }
}
if (etcdResult) {
  console.log(
    `\n${etcdResult.name} holding what one relay holds (${etcdResult.watchers} watchers, one connection each, same updates): commit → 99 % p50 / p99 ${trio(etcdResult.to99)} ms, → 100 % ${trio(etcdResult)} ms, missed ${etcdResult.missing}; ${etcdResult.rssPerWatcherKiB.toFixed(1)} KiB RSS per watcher, ${etcdResult.cpuPerUpdateMs.toFixed(1)} ms CPU per update, peak RSS ${etcdResult.rssPeakMiB.toFixed(0)} MiB.`,
  );
  if (relayed)
    console.log(
      `One relay / etcd at the same watchers: RSS per watcher ${(relayed.relay.rssPerWatcherKiB / etcdResult.rssPerWatcherKiB).toFixed(2)}×, CPU per update ${(relayed.relay.cpuPerUpdateMs / etcdResult.cpuPerUpdateMs).toFixed(2)}×. At ${total} watchers etcd would need ${((etcdResult.rssPerWatcherKiB * total) / 1024 ** 2).toFixed(1)} GiB for the connections alone.`,
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
    JSON.stringify(
      { machine: machine(), updates, intervalMs, perRelay, relayCount, clientsPerGroup, results, etcd: etcdResult },
      null,
      2,
    ),
  );
