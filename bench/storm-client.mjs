// Watchers for bench/storm.mjs that reconnect like real clients: on any end of stream, after a
// full-jitter backoff (base 500 ms, cap 30 s). Herald watchers state the release they hold; etcd
// watchers resume from the revision they saw. Records when each (re)connection is established.
import http from 'node:http';

const [kind, url, token, count, key] = process.argv.slice(2);
const target = new URL(url);
const n = Number(count);
const now = () => performance.timeOrigin + performance.now();
const connectedAt = []; // every time a stream became live
const held = { seq: undefined, digest: undefined, revision: 0 };
let live = 0;

function backoff(attempt) {
  return Math.random() * Math.min(30_000, 500 * 2 ** attempt);
}

function open(i, attempt) {
  const onLive = () => {
    live += 1;
    connectedAt.push(now());
    if (live === n) process.send?.({ type: 'ready' });
  };
  const retry = () => setTimeout(() => open(i, attempt + 1), backoff(attempt));
  let body;
  let path;
  const headers = { 'content-type': 'application/json' };
  if (kind === 'etcd') {
    path = '/v3/watch';
    body = JSON.stringify({
      create_request: {
        key: Buffer.from(key).toString('base64'),
        ...(held.revision ? { start_revision: held.revision + 1 } : {}),
      },
    });
  } else {
    path = '/v1/watch';
    headers.authorization = `Bearer ${token}`;
    body = JSON.stringify({
      instanceId: `storm-${process.pid}-${i}`,
      views: [{ namespace: 'bench', ...(held.seq ? { seq: held.seq, digest: held.digest } : {}) }],
    });
  }
  let counted = false;
  const request = http.request(
    {
      host: target.hostname,
      port: target.port,
      path,
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-length': Buffer.byteLength(body) },
    },
    (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        return;
      }
      let pending = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        pending += chunk;
        if (!counted && (kind === 'etcd' ? pending.includes('"created":true') : pending.includes('event: hello'))) {
          counted = true;
          attempt = 0;
          onLive();
        }
        if (kind !== 'etcd') {
          const match = /"manifest":\{[^}]*"seq":(\d+)[^}]*"digest":"([0-9a-f]+)"/.exec(pending);
          if (match) {
            held.seq = Number(match[1]);
            held.digest = match[2];
          }
        } else {
          const rev = /"revision":"(\d+)"/.exec(pending);
          if (rev) held.revision = Math.max(held.revision, Number(rev[1]));
        }
        if (pending.length > 65536) pending = pending.slice(-4096);
      });
      response.on('error', () => undefined);
    },
  );
  request.on('error', () => undefined);
  // 'close' comes exactly once, however the stream ended (end, reset, refused): the one place to retry.
  request.on('close', () => {
    if (counted) live -= 1;
    retry();
  });
  request.end(body);
}

let started = 0;
function openSome() {
  const batch = Math.min(200, n - started);
  for (let i = 0; i < batch; i += 1) open(started + i, 0);
  started += batch;
  if (started < n) setTimeout(openSome, 20);
}
openSome();

process.on('message', (message) => {
  if (message.type === 'report') process.send?.({ type: 'report', connectedAt, live });
  else if (message.type === 'exit') process.exit(0);
});
