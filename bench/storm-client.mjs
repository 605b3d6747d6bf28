// Watchers for bench/storm.mjs that reconnect like real clients: on any end of stream, after a
// full-jitter backoff (base 500 ms, cap 30 s). Herald watchers state the release they hold; etcd
// watchers resume from the revision they saw. Records when each (re)connection is established.
// kind "herald" behaves as the Herald SDK does (packages/sdk/src/stream.ts): a 503 watch_deferred
// or starting is waited out as told (plus up to 0.5 s) without growing the backoff, any other wait honours
// Retry-After and, when longer than 4 s, is cut short by a /readyz probe every 2 s (jittered ±50 %)
// that answers 200.
// kind "herald-backoff" is the client before that (backoff only, Retry-After ignored).
import http from 'node:http';

const [mode, url, token, count, key] = process.argv.slice(2);
const kind = mode === 'etcd' ? 'etcd' : 'herald';
const sdkLike = mode === 'herald';
const probeIntervalMs = 2000;
const target = new URL(url);
const n = Number(count);
const now = () => performance.timeOrigin + performance.now();
const connectedAt = []; // every time a stream became live
const held = { seq: undefined, digest: undefined, revision: 0 };
let live = 0;

function backoff(attempt) {
  return Math.random() * Math.min(30_000, 500 * 2 ** attempt);
}

function probeReady(done) {
  const request = http.get({ host: target.hostname, port: target.port, path: '/readyz', agent: false }, (response) => {
    response.resume();
    done(response.statusCode === 200);
  });
  request.on('error', () => done(false));
}

/** Waits `delayMs`, or (SDK-like) less once a probe, not before `notBeforeMs`, finds the server ready. */
function wait(delayMs, notBeforeMs, probe, then) {
  let fired = false;
  const go = () => {
    if (fired) return;
    fired = true;
    clearTimeout(timer);
    then();
  };
  const timer = setTimeout(go, delayMs);
  if (!sdkLike || !probe || delayMs <= 2 * probeIntervalMs) return;
  const earliest = now() + notBeforeMs;
  const schedule = () =>
    setTimeout(
      () => {
        if (fired) return;
        probeReady((ready) => (ready ? go() : fired || schedule()));
      },
      Math.max((0.5 + Math.random()) * probeIntervalMs, earliest - now()),
    );
  schedule();
}

function open(i, attempt) {
  const onLive = () => {
    live += 1;
    connectedAt.push(now());
    if (live === n) process.send?.({ type: 'ready' });
  };
  /** What the server said of a refusal: its code and Retry-After (ms). */
  let refusal;
  const retry = () => {
    if (
      sdkLike &&
      (refusal?.code === 'watch_deferred' || refusal?.code === 'starting') &&
      refusal.retryAfterMs !== undefined
    ) {
      wait(refusal.retryAfterMs + Math.random() * 500, 0, false, () => open(i, attempt));
      return;
    }
    const retryAfterMs = sdkLike ? (refusal?.retryAfterMs ?? 0) : 0;
    wait(retryAfterMs + backoff(attempt), retryAfterMs, true, () => open(i, attempt + 1));
  };
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
        const seconds = Number(response.headers['retry-after']);
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          let code;
          try {
            code = JSON.parse(text).code;
          } catch {
            code = undefined;
          }
          refusal = { code, retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : undefined };
        });
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
