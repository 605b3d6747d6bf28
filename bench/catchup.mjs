// Catch-up: a watcher holding release N is away while U updates to K keys happen; it comes back.
// Time until it is current again, and bytes it receives. Herald: one watch request stating what
// it holds (one delta). etcd: a watch from the revision it had (every event replayed).
//   node bench/catchup.mjs [--updates 1000] [--keys 100] [--rounds 5]
import http from 'node:http';
import { benchToken, machine, option, percentile, startEtcd, startHerald, stopAll, table, etcdPut } from './lib.mjs';

const updates = Number(option('updates', '1000'));
const keys = Number(option('keys', '100'));
const rounds = Number(option('rounds', '5'));
const value = (i) => JSON.stringify({ update: i, padding: 'x'.repeat(200) });

/** Opens a streaming POST and resolves when `done(text)` says the stream holds what we wait for. */
function stream(url, path, headers, body, done) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const started = performance.now();
    let bytes = 0;
    let text = '';
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
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          bytes += Buffer.byteLength(chunk);
          text += chunk;
          if (done(text)) {
            const ms = performance.now() - started;
            request.destroy();
            resolve({ ms, bytes });
          }
        });
      },
    );
    request.on('error', (error) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
    request.end(body);
  });
}

async function herald() {
  const server = await startHerald();
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  const commit = async (i) => {
    const response = await fetch(`${server.url}/v1/namespaces/bench/entries/key-${i % keys}`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: JSON.parse(value(i)) }),
    });
    await response.arrayBuffer();
  };
  for (let i = 0; i < keys; i += 1) await commit(i);
  const results = [];
  for (let round = 0; round < rounds; round += 1) {
    const held = await (await fetch(`${server.url}/v1/views/bench`, { headers })).json();
    const base = round * updates + keys;
    for (let i = 0; i < updates; i += 1) await commit(base + i);
    const latest = await (await fetch(`${server.url}/v1/views/bench`, { headers })).json();
    const body = JSON.stringify({
      views: [{ namespace: 'bench', seq: held.manifest.seq, digest: held.manifest.digest }],
    });
    results.push(
      await stream(
        server.url,
        '/v1/watch',
        headers,
        body,
        (text) => text.includes(`"seq":${latest.manifest.seq}`) && text.endsWith('\n\n'),
      ),
    );
  }
  server.child.kill('SIGKILL');
  return results;
}

async function etcd() {
  const server = await startEtcd();
  const put = async (i) => (await etcdPut(server.url, `bench/key-${i % keys}`, value(i))).header.revision;
  for (let i = 0; i < keys; i += 1) await put(i);
  const results = [];
  for (let round = 0; round < rounds; round += 1) {
    const heldRevision = Number(await put(round * updates + keys - 1));
    const base = round * updates + keys;
    let last = 0;
    for (let i = 0; i < updates; i += 1) last = Number(await put(base + i));
    const prefix = Buffer.from('bench/').toString('base64');
    const end = Buffer.from('bench0').toString('base64');
    const body = JSON.stringify({ create_request: { key: prefix, range_end: end, start_revision: heldRevision + 1 } });
    results.push(await stream(server.url, '/v3/watch', {}, body, (text) => text.includes(`"mod_revision":"${last}"`)));
  }
  server.child.kill('SIGKILL');
  return { results, version: server.version };
}

try {
  const h = await herald();
  const e = await etcd();
  const summary = (rs) => {
    const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
    const bytes = rs.map((r) => r.bytes).sort((a, b) => a - b);
    return [percentile(ms, 50).toFixed(1), percentile(ms, 100).toFixed(1), Math.round(percentile(bytes, 50))];
  };
  const hs = summary(h);
  const es = summary(e.results);
  console.log(
    `\nCatch-up after ${updates} updates to ${keys} keys (~230-byte values), ${rounds} rounds. ${machine()}.\n`,
  );
  console.log(
    table(
      ['server', 'time to current p50 ms', 'max ms', 'bytes received (p50)'],
      [
        ['Herald (one delta)', ...hs],
        [`etcd ${e.version.replace(/^etcd Version: /, '')} (replay from revision)`, ...es],
      ],
    ),
  );
  console.log(`Herald/etcd: time ${(hs[0] / es[0]).toFixed(2)}×, bytes ${(hs[2] / es[2]).toFixed(3)}×`);
} finally {
  await stopAll();
}
