// A lean watcher process for bench/fanout.mjs: opens N watch streams (Herald SSE, or etcd's JSON
// watch gateway), one socket each, and records when each stream sees each update. It parses
// only what it must (the update's number), as etcd's plain watch clients do.
import http from 'node:http';
import { onFrames } from './lib.mjs';

const [kind, url, token, count, key] = process.argv.slice(2);
const target = new URL(url);
const n = Number(count);
const received = new Map(); // update number → array of receive times (ms since epoch)
const now = () => performance.timeOrigin + performance.now();
let open = 0;

function record(update) {
  let times = received.get(update);
  if (!times) received.set(update, (times = []));
  times.push(now());
}

function openHerald(i) {
  const body = JSON.stringify({ instanceId: `bench-${process.pid}-${i}`, views: [{ namespace: 'bench' }] });
  const request = http.request(
    {
      host: target.hostname,
      port: target.port,
      path: '/v1/watch',
      method: 'POST',
      agent: false,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    },
    (response) => {
      if (response.statusCode !== 200) {
        process.send?.({ type: 'error', status: response.statusCode });
        response.resume();
        return;
      }
      onFrames(response, '\n\n', (event) => {
        if (event.startsWith('event: hello')) {
          open += 1;
          if (open === n) process.send?.({ type: 'ready' });
          return;
        }
        if (!event.startsWith('event: delta') && !event.startsWith('event: snapshot')) return;
        const match = /"update":(\d+)/.exec(event);
        if (match) record(Number(match[1]));
      });
    },
  );
  request.on('error', (error) => process.send?.({ type: 'error', message: error.message }));
  request.end(body);
}

function openEtcd(i) {
  const body = JSON.stringify({ create_request: { key: Buffer.from(key).toString('base64') } });
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
      onFrames(response, '\n', (line) => {
        const parsed = JSON.parse(line);
        if (parsed.result?.created) {
          open += 1;
          if (open === n) process.send?.({ type: 'ready' });
          return;
        }
        for (const ev of parsed.result?.events ?? []) {
          const value = Buffer.from(ev.kv.value, 'base64').toString('utf8');
          const match = /"update":(\d+)/.exec(value);
          if (match) record(Number(match[1]));
        }
      });
    },
  );
  request.on('error', (error) => process.send?.({ type: 'error', message: error.message }));
  request.end(body);
  void i;
}

let started = 0;
function openSome() {
  // Open in batches so the servers see a steady ramp, not one burst of SYNs.
  const batch = Math.min(200, n - started);
  for (let i = 0; i < batch; i += 1) (kind === 'etcd' ? openEtcd : openHerald)(started + i);
  started += batch;
  if (started < n) setTimeout(openSome, 20);
}
openSome();

process.on('message', (message) => {
  if (message.type === 'report') {
    process.send?.({ type: 'report', received: [...received].map(([update, times]) => [update, times]) });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
