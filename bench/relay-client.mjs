// A lean watcher process for bench/relay.mjs: opens N watch streams, one socket each, to the first
// of a comma-separated list of endpoints, and records when each stream sees each update. Like an
// SDK client (and unlike fanout-client.mjs, which measures one server that never fails), a stream
// that is refused, reset or ended moves to the next endpoint in the list after a full-jitter
// backoff (base 250 ms, cap 5 s, Retry-After honoured), so a relay's death is a region's
// reconnect storm onto the next tier. A 503 `watch_deferred` or `starting` is waited out on the
// same endpoint as told (plus up to 0.5 s), as the SDK does. It parses only what it must (the
// update's number).
import http from 'node:http';
import { onFrames } from './lib.mjs';

const [urlList, token, count, prefix] = process.argv.slice(2);
const endpoints = urlList.split(',').map((url) => new URL(url));
const n = Number(count);
const received = new Map(); // update number → receive times (ms since epoch)
const reconnects = []; // times of every hello after a stream's first
const now = () => performance.timeOrigin + performance.now();
let everOpen = 0;
let open = 0;
let failures = 0;

function record(update) {
  let times = received.get(update);
  if (!times) received.set(update, (times = []));
  times.push(now());
}

function openStream(i, state) {
  const target = endpoints[state.endpoint % endpoints.length];
  const body = JSON.stringify({ instanceId: `${prefix}-${process.pid}-${i}`, views: [{ namespace: 'bench' }] });
  let live = false;
  let done = false;
  const retry = (retryAfterMs = 0) => {
    if (done) return;
    done = true;
    if (live) open -= 1;
    failures += 1;
    state.endpoint += 1;
    state.attempt += 1;
    const ceiling = Math.min(5000, 250 * 2 ** Math.min(state.attempt, 5));
    setTimeout(() => openStream(i, state), Math.max(retryAfterMs, Math.random() * ceiling));
  };
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
        const seconds = Number(response.headers['retry-after'] ?? 0);
        const retryAfterMs = Number.isFinite(seconds) ? seconds * 1000 : 0;
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          const deferred = response.statusCode === 503 && /"code":"(watch_deferred|starting)"/.test(text);
          if (!deferred) return retry(retryAfterMs * Math.random());
          done = true;
          setTimeout(() => openStream(i, state), retryAfterMs + Math.random() * 500);
        });
        return;
      }
      onFrames(response, '\n\n', (event) => {
        if (event.startsWith('event: hello')) {
          live = true;
          open += 1;
          state.attempt = 0;
          if (state.opened) reconnects.push(now());
          else {
            state.opened = true;
            everOpen += 1;
            if (everOpen === n) process.send?.({ type: 'ready' });
          }
          return;
        }
        if (!event.startsWith('event: delta') && !event.startsWith('event: snapshot')) return;
        const match = /"update":(\d+)/.exec(event);
        if (match) record(Number(match[1]));
      });
      response.on('end', () => retry());
      response.on('error', () => retry());
    },
  );
  request.on('error', () => retry());
  request.end(body);
}

let started = 0;
function openSome() {
  // Open in batches so the servers see a steady ramp, not one burst of SYNs.
  const batch = Math.min(100, n - started);
  for (let i = 0; i < batch; i += 1) openStream(started + i, { endpoint: 0, attempt: 0, opened: false });
  started += batch;
  if (started < n) setTimeout(openSome, 20);
}
openSome();

// The benchmark ended (or died): nothing to report to any more.
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message.type === 'report') {
    process.send?.({
      type: 'report',
      received: [...received],
      reconnects,
      open,
      failures,
      rssKiB: Math.round(process.memoryUsage.rss() / 1024),
    });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
