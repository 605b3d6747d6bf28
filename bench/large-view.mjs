// One large namespace, one watcher: --keys N entries of 1 KiB (19,000 by default, under the default
// 20,000-entry limit), then --commits C commits of one key, one after another, each waited for at
// the watcher. Commit → watcher latency, the server's CPU per commit and its memory afterwards.
// Herald (SQLite) against etcd (a watch on the prefix, after one range read of it) in the same run;
// `herald-relay`: the watcher on a relay of the control plane (CPU of both, relay first; the
// relay's memory). A release's cost should be what it changed, not the size of the view it changes.
//   node bench/large-view.mjs [--keys 19000] [--commits 100] [--targets herald,herald-relay,etcd]
//     [--json FILE]
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import {
  benchToken,
  cpuSeconds,
  httpSend,
  machine,
  onFrames,
  option,
  percentile,
  rssKiB,
  startEtcd,
  startHerald,
  startRelay,
  stopAll,
  table,
} from './lib.mjs';

const keys = Number(option('keys', '19000'));
const commits = Number(option('commits', '100'));
const targets = option('targets', 'herald,herald-relay,etcd').split(',');
const jsonOut = option('json', undefined);
const agent = new http.Agent({ keepAlive: true });
const padding = 'x'.repeat(1000);
/** Bound on waiting for one update at the watcher. */
const waitMs = 10_000;

function send(url, method, body, headers = {}) {
  return httpSend(url, { method, headers, body, agent });
}

/** A streaming POST; `onFrame` gets each frame; resolves with the request once the response has begun. */
function openStream(url, path, headers, body, separator, onFrame) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}${path}`,
      { method: 'POST', agent: false, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (response) => {
        onFrames(response, separator, onFrame);
        resolve(request);
      },
    );
    request.on('error', (error) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
    request.end(body);
  });
}

/**
 * What the watcher has seen, counted as its frames arrive; `reached(n)` resolves once it has seen n
 * (bounded). No polling: a waiter that spun would take a core from the servers measured.
 */
class Counter {
  count = 0;
  #waiters = [];

  add(n = 1) {
    this.count += n;
    this.#waiters = this.#waiters.filter((waiter) => (this.count >= waiter.n ? (waiter.resolve(), false) : true));
  }

  reached(n) {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no update at the watcher within ${waitMs} ms`)), waitMs);
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** `pids`: the processes whose CPU counts, the watched one first (its memory is reported). */
async function measure(pids, commit, updates) {
  const latencies = [];
  const cpu0 = pids.map(cpuSeconds);
  for (let i = 0; i < commits; i += 1) {
    const before = updates.count;
    const started = performance.now();
    await commit(i);
    await updates.reached(before + 1);
    latencies.push(performance.now() - started);
  }
  const cpuMs = pids.map((pid, i) => ((cpuSeconds(pid) - (cpu0[i] ?? 0)) * 1000) / commits);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpuMs, rssMiB: rssKiB(pids[0]) / 1024 };
}

async function herald({ viaRelay }) {
  const server = await startHerald();
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await send(`${server.url}/v1/namespaces`, 'POST', JSON.stringify({ name: 'large' }), headers);
  for (let start = 0; start < keys; start += 500) {
    const changes = [];
    for (let i = start; i < Math.min(keys, start + 500); i += 1)
      changes.push({ op: 'set', key: `key-${i}`, value: { padding, i } });
    const response = await send(
      `${server.url}/v1/namespaces/large/commits`,
      'POST',
      JSON.stringify({ changes }),
      headers,
    );
    if (response.status !== 201) throw new Error(`herald answered ${response.status}: ${response.text}`);
  }
  const relay = viaRelay ? await startRelay(server.url) : undefined;
  const updates = new Counter();
  const body = JSON.stringify({ instanceId: 'large-view-bench', views: [{ namespace: 'large' }] });
  const watch = await openStream((relay ?? server).url, '/v1/watch', headers, body, '\n\n', (frame) => {
    if (/^event: (?:snapshot|delta)$/m.test(frame)) updates.add();
  });
  // The snapshot first; then each commit is one delta.
  await updates.reached(1);
  const result = await measure(
    relay ? [relay.pid, server.child.pid] : [server.child.pid],
    async (i) => {
      const body = JSON.stringify({ value: { padding, i, commit: true } });
      const response = await send(`${server.url}/v1/namespaces/large/entries/key-${i % keys}`, 'PUT', body, headers);
      if (response.status !== 200) throw new Error(`herald answered ${response.status}: ${response.text}`);
    },
    updates,
  );
  watch.destroy();
  return result;
}

async function etcd() {
  const server = await startEtcd();
  const prefix = 'large/';
  const b64 = (text) => Buffer.from(text).toString('base64');
  for (let start = 0; start < keys; start += 128) {
    const success = [];
    for (let i = start; i < Math.min(keys, start + 128); i += 1)
      success.push({ requestPut: { key: b64(`${prefix}key-${i}`), value: b64(JSON.stringify({ padding, i })) } });
    const response = await send(`${server.url}/v3/kv/txn`, 'POST', JSON.stringify({ success }));
    if (response.status !== 200) throw new Error(`etcd answered ${response.status}: ${response.text}`);
  }
  // What a watcher of a prefix does: read it whole, then watch from the revision after.
  const range = await send(
    `${server.url}/v3/kv/range`,
    'POST',
    JSON.stringify({ key: b64(prefix), range_end: b64('large0') }),
  );
  const revision = Number(JSON.parse(range.text).header.revision);
  const updates = new Counter();
  const created = new Counter();
  const body = JSON.stringify({
    create_request: { key: b64(prefix), range_end: b64('large0'), start_revision: String(revision + 1) },
  });
  const watch = await openStream(server.url, '/v3/watch', {}, body, '\n', (line) => {
    const parsed = JSON.parse(line);
    if (parsed.result?.created) created.add();
    updates.add(parsed.result?.events?.length ?? 0);
  });
  await created.reached(1);
  const result = await measure(
    [server.pid],
    async (i) => {
      const put = { key: b64(`${prefix}key-${i % keys}`), value: b64(JSON.stringify({ padding, i, commit: true })) };
      const response = await send(`${server.url}/v3/kv/put`, 'POST', JSON.stringify(put));
      if (response.status !== 200) throw new Error(`etcd answered ${response.status}`);
    },
    updates,
  );
  watch.destroy();
  return { ...result, version: server.version };
}

const results = [];
try {
  for (const target of targets) {
    if (target === 'herald') results.push({ target: 'Herald, SQLite', ...(await herald({ viaRelay: false })) });
    else if (target === 'herald-relay')
      results.push({ target: 'Herald, SQLite, through a relay', ...(await herald({ viaRelay: true })) });
    else if (target === 'etcd') {
      const r = await etcd();
      results.push({ target: r.version.replace(/^etcd Version: /, 'etcd '), ...r });
    } else throw new Error(`unknown target ${target}`);
    console.error(`${target}: done`);
  }
} finally {
  await stopAll();
}

console.log(
  `\nOne watcher of a ${keys}-key namespace (1 KiB values), ${commits} commits of one key, each waited for at the watcher. ${machine()}.\n`,
);
console.log(
  table(
    ['server', 'commit → watcher p50 ms', 'p99 ms', 'server CPU per commit ms', 'server RSS after MiB'],
    results.map((r) => [
      r.target,
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      r.cpuMs.length > 1
        ? `${r.cpuMs.reduce((a, b) => a + b, 0).toFixed(1)} (${r.cpuMs.map((ms) => ms.toFixed(1)).join(' + ')})`
        : r.cpuMs[0].toFixed(1),
      r.rssMiB.toFixed(0),
    ]),
  ),
);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: machine(), keys, commits, results }, null, 2));
