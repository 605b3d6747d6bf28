// Memory per idle watch stream, settled: W lean watchers (bench/fanout-client.mjs, one connection
// each, over 4 processes) against a Herald server running in this process, so its heap can be
// measured after a full GC (what the streams hold, not what the connection storm left for the
// collector), and its RSS; then etcd's RSS for as many plain watchers of its v3 JSON gateway, same
// run. bench/fanout.mjs measures RSS one second after the storm, garbage included; here the
// figures are taken after --settle ms (15 s: V8 gives back what the storm left only after a few
// idle seconds).
//   node bench/watch-memory.mjs [--watchers 10000] [--settle 15000] [--targets herald,etcd]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';

if (typeof globalThis.gc !== 'function') {
  // The heap figure needs a full GC on demand: run again with --expose-gc.
  const again = spawnSync(process.execPath, ['--expose-gc', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(again.status ?? 1);
}

const { SecretCipher, systemClock } = await import('../packages/core/dist/src/index.js');
const { createServer, ensureBootstrapAdmin } = await import('../packages/server/dist/src/index.js');
const { SqliteStore } = await import('../packages/store/dist/src/index.js');
const {
  benchToken,
  etcdPut,
  forkWatchers,
  machine,
  option,
  rssKiB,
  seedBenchNamespace,
  sleep,
  startEtcd,
  stopAll,
  table,
  tempFolder,
} = await import('./lib.mjs');

const watchers = Number(option('watchers', '10000'));
const settleMs = Number(option('settle', '15000'));
const targets = option('targets', 'herald,etcd').split(',');
const processes = 4;

function settledMemory() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage();
}

async function herald() {
  const store = SqliteStore.open({ path: join(tempFolder('herald-memory-'), 'herald.db') });
  await ensureBootstrapAdmin(store, systemClock, benchToken);
  const server = createServer({
    store,
    clock: systemClock,
    cipher: new SecretCipher(SecretCipher.generateKey()),
    config: { port: 0, logLevel: 'silent', maxStreamsPerToken: 100_000, reportBurstPerToken: 100_000 },
    logStream: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
  const url = await server.listen();
  await seedBenchNamespace(url);
  await sleep(500);
  const before = settledMemory();
  const clients = await forkWatchers('fanout-client.mjs', watchers, processes, (count) => [
    'herald',
    url,
    benchToken,
    String(count),
    '',
  ]);
  await sleep(settleMs);
  const after = settledMemory();
  for (const client of clients) client.kill('SIGKILL');
  await server.close();
  await store.close();
  const per = (field) => (after[field] - before[field]) / watchers / 1024;
  return { target: 'Herald (in this process)', rss: per('rss'), heap: per('heapUsed') };
}

async function etcd() {
  const server = await startEtcd();
  await etcdPut(server.url, 'bench/config', 'x'.repeat(1000));
  await sleep(500);
  const before = rssKiB(server.pid);
  const clients = await forkWatchers('fanout-client.mjs', watchers, processes, (count) => [
    'etcd',
    server.url,
    '-',
    String(count),
    'bench/config',
  ]);
  await sleep(settleMs);
  const after = rssKiB(server.pid);
  for (const client of clients) client.kill('SIGKILL');
  return { target: `etcd ${server.version.replace(/^etcd Version: /, '')}`, rss: (after - before) / watchers };
}

const results = [];
try {
  for (const target of targets) results.push(target === 'etcd' ? await etcd() : await herald());
} finally {
  await stopAll();
}
console.log(
  `\nMemory per idle watcher, ${watchers} watchers, ${settleMs} ms after the last connected. ${machine()}.\n`,
);
console.log(
  table(
    ['server', 'RSS per watcher', 'heap per watcher after a full GC'],
    results.map((r) => [r.target, `${r.rss.toFixed(1)} KiB`, r.heap === undefined ? '—' : `${r.heap.toFixed(1)} KiB`]),
  ),
);
process.exit(0);
