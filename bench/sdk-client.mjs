// N clients of one kind in one process for bench/sdk.mjs: `herald` (full SDK clients: signature
// and digest verification on every update) or `etcd` (plain watchers of its v3 JSON gateway that
// keep a map of parsed values and call a change callback). Reports the process's CPU time between
// two marks and how many updates it applied.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { HeraldClient } from '../packages/sdk/dist/src/index.js';

const [kind, url, token, count, profileFile] = process.argv.slice(2);
const n = Number(count);
let applied = 0;

async function startHerald() {
  const keys = (await (await fetch(`${url}/v1/keys`)).json()).keys;
  const clients = [];
  for (let i = 0; i < n; i += 1) {
    const client = new HeraldClient({
      url,
      token,
      instanceId: `sdk-bench-${i}`,
      views: [{ namespace: 'bench' }],
      trustedKeys: keys,
      reportIntervalMs: 600_000,
    });
    clients.push(client);
    void (async () => {
      for await (const _change of client.changes()) applied += 1;
    })();
  }
  await Promise.all(clients.map((c) => c.start()));
  await Promise.all(clients.map((c) => c.ready()));
  return () => Promise.all(clients.map((c) => c.destroy()));
}

/** What an etcd configuration client does: read the prefix, then watch it from the next revision. */
function etcdWatcher(onChange) {
  const b64 = (text) => Buffer.from(text).toString('base64');
  const values = new Map();
  const apply = (kv) =>
    values.set(
      Buffer.from(kv.key, 'base64').toString('utf8'),
      Object.freeze(JSON.parse(Buffer.from(kv.value, 'base64').toString('utf8'))),
    );
  return new Promise((resolve, reject) => {
    void (async () => {
      const range = await (
        await fetch(`${url}/v3/kv/range`, {
          method: 'POST',
          body: JSON.stringify({ key: b64('bench/'), range_end: b64('bench0') }),
        })
      ).json();
      for (const kv of range.kvs ?? []) apply(kv);
      const target = new URL(url);
      const body = JSON.stringify({
        create_request: {
          key: b64('bench/'),
          range_end: b64('bench0'),
          start_revision: Number(range.header.revision) + 1,
        },
      });
      const request = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: '/v3/watch',
          method: 'POST',
          agent: false,
          headers: { 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          let pending = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => {
            pending += chunk;
            let end;
            while ((end = pending.indexOf('\n')) >= 0) {
              const line = pending.slice(0, end);
              pending = pending.slice(end + 1);
              const result = JSON.parse(line).result;
              if (result?.created) resolve(request);
              const changed = [];
              for (const ev of result?.events ?? []) {
                if (ev.type === 'DELETE') values.delete(Buffer.from(ev.kv.key, 'base64').toString('utf8'));
                else apply(ev.kv);
                changed.push(ev.kv.key);
              }
              if (changed.length > 0) onChange(values, changed);
            }
          });
        },
      );
      request.on('error', reject);
      request.end(body);
    })().catch(reject);
  });
}

async function startEtcd() {
  const requests = [];
  for (let i = 0; i < n; i += 100)
    requests.push(
      ...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => etcdWatcher(() => (applied += 1))))),
    );
  return async () => {
    for (const request of requests) request.destroy();
  };
}

const stop = kind === 'etcd' ? await startEtcd() : await startHerald();
let mark;
let profiler;
process.send?.({ type: 'ready' });
process.on('message', async (message) => {
  if (message.type === 'mark') {
    if (profileFile) {
      // Only the measured window: not the start-up (connections, first snapshots).
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    mark = { cpu: process.cpuUsage(), applied };
    process.send?.({ type: 'marked' });
  } else if (message.type === 'report') {
    const cpu = process.cpuUsage(mark.cpu);
    if (profiler) writeFileSync(profileFile, JSON.stringify((await profiler.post('Profiler.stop')).profile));
    process.send?.({ type: 'report', cpuMs: (cpu.user + cpu.system) / 1000, applied: applied - mark.applied });
  } else if (message.type === 'exit') {
    await stop();
    process.exit(0);
  }
});
