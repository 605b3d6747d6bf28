// Feature flags: evaluations per second in-process (Herald's OpenFeature provider, no network per
// evaluation) and over OFREP (control plane and a relay, C concurrent keep-alive connections; an
// etcd range read of the flag's key at the same concurrency as the peer), then the propagation of
// a toggle to N instances (one watch stream each, spread over client processes as in fanout.mjs):
// time from the commit's acknowledgement to the last instance holding it, Herald and etcd (a put
// seen by N etcd watchers), same run.
//   node bench/flags.mjs [--instances 10000] [--toggles 10] [--evals 200000] [--seconds 5]
//                        [--concurrency 16] [--clients 4] [--targets herald,etcd] [--json FILE]
import { writeFileSync } from 'node:fs';
import { OpenFeature } from '@openfeature/server-sdk';
import { HeraldProvider } from '@herald/openfeature';
import { HeraldClient } from '@herald/sdk';
import {
  benchToken,
  machine,
  option,
  percentile,
  sleep,
  startEtcd,
  startHerald,
  startRelay,
  stopAll,
  table,
  tempFolder,
  etcdPut,
  forkWatchers,
} from './lib.mjs';

const instances = Number(option('instances', '10000'));
const toggles = Number(option('toggles', '10'));
const evals = Number(option('evals', '200000'));
const seconds = Number(option('seconds', '5'));
const concurrency = Number(option('concurrency', '16'));
const clientProcesses = Number(option('clients', '4'));
const targets = option('targets', 'herald,etcd').split(',');
const jsonOut = option('json', undefined);
const now = () => performance.timeOrigin + performance.now();
const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };

/** The toggled flag: `update` rides in its metadata, so the lean watchers (fanout-client.mjs) can tell toggles apart. */
const flag = (i) => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant: i % 2 === 0 ? 'off' : 'on',
  targeting: { if: [{ '==': [{ var: 'region' }, 'eu'] }, 'on', null] },
  metadata: { update: i },
});

async function put(url, key, value) {
  const response = await fetch(`${url}/v1/namespaces/bench/entries/${encodeURIComponent(key)}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ value, contentType: 'application/vnd.herald.flag+json' }),
  });
  if (response.status !== 200) throw new Error(`herald answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

/** In-process: one provider, `evals` evaluations in a row, each timed. */
async function inProcess(server) {
  const keys = (await (await fetch(`${server.url}/v1/keys`)).json()).keys;
  const client = new HeraldClient({
    url: server.url,
    token: benchToken,
    instanceId: 'bench-provider',
    views: [{ namespace: 'bench' }],
    trustedKeys: keys,
    cacheDir: tempFolder('herald-flags-cache-'),
  });
  await OpenFeature.setProviderAndWait('bench', new HeraldProvider({ client, namespace: 'bench', closeClient: true }));
  const flags = OpenFeature.getClient('bench');
  const times = new Float64Array(evals);
  const started = performance.now();
  for (let i = 0; i < evals; i += 1) {
    const t0 = performance.now();
    await flags.getBooleanValue('toggle', false, { targetingKey: `user-${i % 1000}`, region: i % 2 ? 'eu' : 'us' });
    times[i] = performance.now() - t0;
  }
  const elapsed = (performance.now() - started) / 1000;
  await OpenFeature.close();
  const sorted = [...times].sort((a, b) => a - b);
  return {
    name: 'in-process (HeraldProvider)',
    perSecond: evals / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: 0,
  };
}

/** `concurrency` loops of one request after another for `seconds`; throughput and latency. */
async function remote(name, request) {
  const times = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const loop = async (worker) => {
    for (let i = 0; performance.now() < until; i += 1) {
      const t0 = performance.now();
      try {
        const response = await request(worker, i);
        if (response.status !== 200) errors += 1;
        await response.arrayBuffer();
      } catch {
        errors += 1;
      }
      times.push(performance.now() - t0);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, worker) => loop(worker)));
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return { name, perSecond: times.length / elapsed, p50: percentile(times, 50), p99: percentile(times, 99), errors };
}

const ofrep = (base) => (worker, i) =>
  fetch(`${base}/v1/namespaces/bench/ofrep/v1/evaluate/flags/toggle`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ context: { targetingKey: `user-${worker}-${i % 1000}`, region: i % 2 ? 'eu' : 'us' } }),
  });

/** N watchers over client processes (fanout-client.mjs); resolves with them once every stream is open. */
function watchers(kind, url, token, key) {
  return forkWatchers('fanout-client.mjs', instances, clientProcesses, (count) => [
    kind,
    url,
    token,
    String(count),
    key,
  ]);
}

/** Toggles `toggles` times, 500 ms apart; per toggle, commit ack → last instance. */
async function propagation(name, kind, url, token, key, write) {
  const clients = await watchers(kind, url, token, key);
  await sleep(1000);
  const acks = new Map();
  for (let i = 1; i <= toggles; i += 1) {
    await write(i);
    acks.set(i, now());
    await sleep(500);
  }
  await sleep(2000);
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
  const seen = new Map();
  for (const report of reports)
    for (const [update, times] of report.received) seen.set(update, [...(seen.get(update) ?? []), ...times]);
  const last = [];
  let missed = 0;
  for (const [update, ack] of acks) {
    const times = seen.get(update) ?? [];
    missed += instances - times.length;
    if (times.length > 0) last.push(Math.max(...times) - ack);
  }
  last.sort((a, b) => a - b);
  return { name, p50: percentile(last, 50), p99: percentile(last, 99), max: last.at(-1), missed };
}

const evaluations = [];
const toggled = [];
try {
  if (targets.includes('herald')) {
    const server = await startHerald();
    await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
    await put(server.url, 'toggle', flag(0));
    const relay = await startRelay(server.url);
    evaluations.push(await inProcess(server));
    evaluations.push(await remote('OFREP, control plane', ofrep(server.url)));
    evaluations.push(await remote('OFREP, relay', ofrep(relay.url)));
    for (const row of evaluations)
      console.error(`${row.name}: ${row.perSecond.toFixed(0)}/s, p99 ${row.p99.toFixed(3)} ms`);
    relay.child.kill('SIGKILL');
    toggled.push(
      await propagation('Herald (flag toggle, commit → last instance)', 'herald', server.url, benchToken, '', (i) =>
        put(server.url, 'toggle', flag(i)),
      ),
    );
    console.error(`${toggled.at(-1).name}: p99 ${toggled.at(-1).p99?.toFixed(0)} ms, missed ${toggled.at(-1).missed}`);
    server.child.kill('SIGKILL');
  }
  if (targets.includes('etcd')) {
    const etcd = await startEtcd();
    const key = 'bench/toggle';
    const write = (i) => etcdPut(etcd.url, key, flag(i));
    await write(0);
    const version = etcd.version.replace(/^etcd Version: /, '');
    evaluations.push(
      await remote(`etcd ${version} range read of the key (no evaluation)`, () =>
        fetch(`${etcd.url}/v3/kv/range`, {
          method: 'POST',
          body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
        }),
      ),
    );
    toggled.push(await propagation(`etcd ${version} (put, commit → last watcher)`, 'etcd', etcd.url, '-', key, write));
    etcd.child.kill('SIGKILL');
  }
} finally {
  await stopAll();
}

console.log(
  `\nFlag evaluations: in-process ${evals} in a row; remote ${concurrency} concurrent keep-alive connections for ${seconds} s. ${machine()}.\n`,
);
console.log(
  table(
    ['evaluation', 'per second', 'p50 ms', 'p99 ms', 'errors'],
    evaluations.map((r) => [r.name, r.perSecond.toFixed(0), r.p50.toFixed(3), r.p99.toFixed(3), r.errors]),
  ),
);
console.log(
  `\nToggle propagation: ${toggles} toggles 500 ms apart to ${instances} instances (one watch stream each, ${clientProcesses} client processes).\n`,
);
console.log(
  table(
    ['what', 'p50 ms', 'p99 ms', 'max ms', 'missed'],
    toggled.map((r) => [
      r.name,
      r.p50?.toFixed(0) ?? '-',
      r.p99?.toFixed(0) ?? '-',
      r.max?.toFixed(0) ?? '-',
      r.missed,
    ]),
  ),
);
if (jsonOut)
  writeFileSync(
    jsonOut,
    JSON.stringify(
      { machine: machine(), instances, toggles, evals, seconds, concurrency, evaluations, toggled },
      null,
      2,
    ),
  );
