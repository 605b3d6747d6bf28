// Durable commits per second: one writer, then 16 concurrent writers, 1 KiB JSON values, over
// HTTP from this process. Herald on SQLite, on PostgreSQL (one node, and two nodes sharing the
// load), and etcd (v3 JSON gateway, fdatasync per batch), in the same run.
//   node bench/commits.mjs [--count N] [--writers N] [--warmup N] [--client http|fetch]
//     [--targets sqlite,postgres,postgres2,etcd,floor] [--preload N] [--json FILE] [--profile DIR]
// --writers N: the concurrent run's writers (16 by default). --warmup N: writes to each target before
// measuring (2,000 by default: a Node server reaches its steady speed after about 1,500 requests, as
// V8 compiles the hot path; 50 measures a freshly started process, as this script did before).
// --client: how this process sends its requests, to every target alike: node:http with a
// keep-alive agent (the default, ~190 µs of this process's CPU per request) or Node's fetch (~450
// µs, as the script did before 2026-12-04: then the client held every target to about the same
// figures, BENCHMARKS.md "Durable commits"). --targets floor: a bare
// node:http server around Herald's SQLite store (bench/commit-floor.mjs), the floor for one process.
// --preload N: N other keys (1 KiB each) imported into each target first, in another namespace
// (etcd: under another prefix), as an import does it (Herald: commits of 500 changes; etcd: txns
// of 128 puts; the floor: 16 writers), so that the commits measured, right after, go to a store
// that holds them: a commit's cost should not grow with what the store holds (on PostgreSQL it did
// until migration 12, BENCHMARKS.md "A PostgreSQL commit's cost grew with what the store held").
// --profile DIR: the SQLite Herald server runs with --cpu-prof and stops with SIGINT, so its profile
// is written there.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import pg from 'pg';
import {
  benchToken,
  freePort,
  httpSend,
  machine,
  option,
  percentile,
  startEtcd,
  startHerald,
  startProcess,
  stopAll,
  table,
  tempFolder,
} from './lib.mjs';

const count = Number(option('count', '2000'));
const targets = option('targets', 'sqlite,postgres,postgres2,etcd').split(',');
const writers = Number(option('writers', '16'));
const warmup = Number(option('warmup', '2000'));
const jsonOut = option('json', undefined);
const profileDir = option('profile', undefined);
const client = option('client', 'http');
const preload = Number(option('preload', '0'));
if (client !== 'fetch' && client !== 'http') throw new Error(`--client is fetch or http, not ${client}`);
const pgAdminUrl = process.env.HERALD_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const value = { payload: 'x'.repeat(1000) };

const agent = new http.Agent({ keepAlive: true });

/** One request by the chosen client: its status and body text. */
async function send(url, { method, headers = {}, body }) {
  if (client === 'fetch') {
    const response = await fetch(url, { method, headers, body });
    return { status: response.status, text: await response.text() };
  }
  return httpSend(url, { method, headers, body, agent });
}

/** Writes to `keys` keys of one namespace, spread over the nodes at `urls`. */
async function heraldWriter(urls, namespace = 'bench', keys = 100) {
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  for (const url of urls)
    await send(`${url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: namespace }) });
  const body = JSON.stringify({ value });
  return async (i) => {
    const url = urls[i % urls.length];
    const path = `/v1/namespaces/${namespace}/entries/key-${i % keys}`;
    const response = await send(`${url}${path}`, { method: 'PUT', headers, body });
    if (response.status !== 200) throw new Error(`herald answered ${response.status}: ${response.text}`);
  };
}

async function etcdWriter(url) {
  const encoded = Buffer.from(JSON.stringify(value)).toString('base64');
  return async (i) => {
    const body = JSON.stringify({ key: Buffer.from(`bench/key-${i % 100}`).toString('base64'), value: encoded });
    const response = await send(`${url}/v3/kv/put`, { method: 'POST', body });
    if (response.status !== 200) throw new Error(`etcd answered ${response.status}`);
  };
}

/** --preload into a Herald node: commits of 500 changes to the namespace `preloaded`. */
async function heraldPreload(url, n) {
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await send(`${url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'preloaded' }) });
  for (let start = 0; start < n; start += 500) {
    const changes = [];
    for (let i = start; i < Math.min(n, start + 500); i += 1) changes.push({ op: 'set', key: `key-${i}`, value });
    const body = JSON.stringify({ changes });
    const response = await send(`${url}/v1/namespaces/preloaded/commits`, { method: 'POST', headers, body });
    if (response.status !== 201) throw new Error(`herald answered ${response.status}: ${response.text}`);
  }
}

/** --preload into etcd: txns of 128 puts (its default limit of operations per txn) under `preloaded/`. */
async function etcdPreload(url, n) {
  const encoded = Buffer.from(JSON.stringify(value)).toString('base64');
  for (let start = 0; start < n; start += 128) {
    const success = [];
    for (let i = start; i < Math.min(n, start + 128); i += 1)
      success.push({ requestPut: { key: Buffer.from(`preloaded/key-${i}`).toString('base64'), value: encoded } });
    const response = await send(`${url}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success }) });
    if (response.status !== 200) throw new Error(`etcd answered ${response.status}: ${response.text}`);
  }
}

/** bench/commit-floor.mjs on a fresh folder: Herald's store behind a bare node:http server. */
async function startFloor() {
  const port = await freePort();
  await startProcess(
    process.execPath,
    [new URL('commit-floor.mjs', import.meta.url).pathname, tempFolder('herald-floor-'), String(port)],
    { ready: /commit floor listening on/, name: 'commit floor' },
  );
  return `http://127.0.0.1:${port}`;
}

async function measure(write, writers, total, warmupWrites = 0) {
  for (let i = 0; i < warmupWrites; i += 1) await write(i);
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await write(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: Math.round(total / seconds), p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function freshDatabase() {
  const name = `herald_bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(pgAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: pgAdminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

const results = [];
let etcdVersion = '';
try {
  for (const target of targets) {
    let write;
    let preloader;
    let cleanup = async () => {};
    if (target === 'sqlite') {
      const herald = await startHerald([], {}, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
      write = await heraldWriter([herald.url]);
      preloader = (n) => heraldPreload(herald.url, n);
      if (profileDir)
        cleanup = async () => {
          const exited = new Promise((resolve) => herald.child.once('exit', resolve));
          herald.child.kill('SIGINT');
          await exited;
        };
    } else if (target === 'postgres' || target === 'postgres2') {
      const db = await freshDatabase();
      const nodes = [await startHerald(['--postgres', db.url])];
      if (target === 'postgres2') nodes.push(await startHerald(['--postgres', db.url]));
      write = await heraldWriter(nodes.map((n) => n.url));
      preloader = (n) => heraldPreload(nodes[0].url, n);
      cleanup = async () => {
        for (const n of nodes) n.child.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 200));
        await db.drop();
      };
    } else if (target === 'floor') {
      const url = await startFloor();
      write = await heraldWriter([url]);
      preloader = async (n) => measure(await heraldWriter([url], 'preloaded', n), 16, n);
    } else if (target === 'etcd') {
      const etcd = await startEtcd();
      etcdVersion = etcd.version;
      write = await etcdWriter(etcd.url);
      preloader = (n) => etcdPreload(etcd.url, n);
    } else {
      throw new Error(`unknown target ${target}`);
    }
    if (preload > 0) await preloader(preload);
    const sequential = await measure(write, 1, count, warmup);
    const concurrent = await measure(write, writers, count * 2);
    results.push({ target, sequential, concurrent });
    console.error(`${target}: ${sequential.perSecond}/s sequential, ${concurrent.perSecond}/s with ${writers} writers`);
    await cleanup();
  }
} finally {
  await stopAll();
}

const names = {
  sqlite: 'Herald, SQLite',
  postgres: 'Herald, PostgreSQL, 1 node',
  postgres2: 'Herald, PostgreSQL, 2 nodes',
  floor: "floor: node:http + Herald's SQLite store",
  etcd: `etcd ${etcdVersion.replace(/^etcd Version: /, '')}`,
};
const etcdResult = results.find((r) => r.target === 'etcd');
const ratio = (a, b) => (b ? `${(a / b).toFixed(2)}×` : '—');
console.log(
  `\nDurable commits, 1 KiB JSON values, over HTTP on loopback (client: ${client === 'fetch' ? "Node's fetch" : 'node:http, keep-alive'}). ${machine()}. ${count} sequential, ${count * 2} with ${writers} writers, after ${warmup} writes of warm-up${preload > 0 ? `, into stores holding ${preload} other keys` : ''}.\n`,
);
console.log(
  table(
    [
      'store',
      '1 writer /s',
      'p50 ms',
      'p99 ms',
      `${writers} writers /s`,
      'p50 ms',
      'p99 ms',
      `vs etcd (1 / ${writers})`,
    ],
    results.map((r) => [
      names[r.target],
      r.sequential.perSecond,
      r.sequential.p50.toFixed(2),
      r.sequential.p99.toFixed(2),
      r.concurrent.perSecond,
      r.concurrent.p50.toFixed(2),
      r.concurrent.p99.toFixed(2),
      r.target === 'etcd'
        ? '1×'
        : `${ratio(r.sequential.perSecond, etcdResult?.sequential.perSecond)} / ${ratio(r.concurrent.perSecond, etcdResult?.concurrent.perSecond)}`,
    ]),
  ),
);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: machine(), client, count, results }, null, 2));
