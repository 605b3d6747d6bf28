// Clients for bench/outage.mjs, in one process: records when each one holds the marker value
// released after the control plane came back.
//   herald: full SDK clients (HeraldClient: verified views, backoff, the /readyz probe while waiting)
//   herald-backoff: the same with the probe off (reconnect.probeIntervalMs 0): backoff only
//   etcd: watchers on etcd's JSON gateway with the same full-jitter backoff (base 0.5 s, cap 30 s),
//         resuming from the revision they saw
import http from 'node:http';
import { HeraldClient } from '../packages/sdk/dist/src/index.js';

const [mode, url, token, count, key] = process.argv.slice(2);
const n = Number(count);
const now = () => performance.timeOrigin + performance.now();
let marker;
const seenAt = new Array(n).fill(undefined);
const clients = [];
let ready = 0;
const onReady = () => {
  ready += 1;
  if (ready === n) process.send?.({ type: 'ready' });
};

function backoff(attempt) {
  return Math.random() * Math.min(30_000, 500 * 2 ** attempt);
}

function heraldClients(probe) {
  return (async () => {
    const keys = (await (await fetch(`${url}/v1/keys`)).json()).keys;
    for (let i = 0; i < n; i += 1) {
      const client = new HeraldClient({
        url,
        token,
        instanceId: `outage-${process.pid}-${i}`,
        views: [{ namespace: 'bench' }],
        trustedKeys: keys,
        reportIntervalMs: 600_000,
        reconnect: probe ? {} : { probeIntervalMs: 0 },
      });
      clients.push(client);
      void (async () => {
        for await (const change of client.changes()) {
          if (marker !== undefined && change.newValues.config?.marker === marker) seenAt[i] ??= now();
        }
      })();
    }
    await Promise.all(clients.map((c) => c.start()));
    await Promise.all(clients.map((c) => c.ready()));
    for (let i = 0; i < n; i += 1) onReady();
  })();
}

function etcdWatcher(i) {
  const target = new URL(url);
  const held = { revision: 0 };
  let counted = false;
  const open = (attempt) => {
    const body = JSON.stringify({
      create_request: {
        key: Buffer.from(key).toString('base64'),
        ...(held.revision ? { start_revision: held.revision + 1 } : {}),
      },
    });
    let live = false;
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: '/v3/watch',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        let pending = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          pending += chunk;
          if (!live && pending.includes('"created":true')) {
            live = true;
            attempt = 0;
            if (!counted) {
              counted = true;
              onReady();
            }
          }
          // The revision the watch has seen (its header's): a reconnect resumes after it.
          for (const m of pending.matchAll(/"header":\{[^}]*"revision":"(\d+)"/g))
            held.revision = Math.max(held.revision, Number(m[1]));
          for (const m of pending.matchAll(/"mod_revision":"(\d+)"[^}]*"value":"([^"]*)"/g)) {
            held.revision = Math.max(held.revision, Number(m[1]));
            const value = Buffer.from(m[2], 'base64').toString();
            if (marker !== undefined && value.includes(`"marker":${marker}`)) seenAt[i] ??= now();
          }
          const lastNewline = pending.lastIndexOf('\n');
          if (lastNewline >= 0) pending = pending.slice(lastNewline + 1);
        });
        response.on('error', () => undefined);
      },
    );
    request.on('error', () => undefined);
    // A watch accepted while etcd is still starting can hang without an answer: given up after
    // 5 s, as a client's dial timeout would (clientv3 examples use 5 s).
    const dial = setTimeout(() => live || request.destroy(), 5000);
    request.on('close', () => {
      clearTimeout(dial);
      setTimeout(() => open(attempt + 1), backoff(attempt));
    });
    request.end(body);
  };
  open(0);
}

if (mode === 'etcd') for (let i = 0; i < n; i += 1) etcdWatcher(i);
else await heraldClients(mode === 'herald');

process.on('message', (message) => {
  if (message.type === 'marker') marker = message.marker;
  else if (message.type === 'report') process.send?.({ type: 'report', seenAt });
  else if (message.type === 'exit') process.exit(0);
});
