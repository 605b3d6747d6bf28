// The SDK's own cost: W full clients (each verifies the Ed25519 signature and the SHA-256 digest
// of every update before accepting it) in one process, watching a view of K keys of ~B bytes each;
// U updates, each changing one key (a ~B-byte change). Reports the client side's CPU per update per
// client — in a fleet that cost sits on each instance, not on the control plane. etcd side by side
// in the same run: W plain etcd watchers (its v3 JSON gateway: one range read, then one watch
// stream each) applying the same changes to a map of parsed values, with change callbacks.
//   node bench/sdk.mjs [--clients 1000] [--updates 20] [--keys 1] [--value-bytes 1000] [--profile DIR] [--only herald|etcd]
// --isolated: no servers, no sockets: one client's verification of N deltas (each parsed from its
// JSON text: signature, seq, base, digest of the result, frozen values) in this process.
//   node bench/sdk.mjs --isolated [--keys 1] [--value-bytes 1000] [--updates 2000]
import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { benchToken, machine, option, sleep, startEtcd, startHerald, stopAll, table, etcdPut } from './lib.mjs';

const clients = Number(option('clients', '1000'));
const isolatedRun = process.argv.includes('--isolated');
const updates = Number(option('updates', isolatedRun ? '2000' : '20'));
const keys = Number(option('keys', '1'));
const valueBytes = Number(option('value-bytes', '1000'));
const profile = option('profile', '');
const only = option('only', '');
if (profile) mkdirSync(profile, { recursive: true });
const keyName = (i) => `config/${String(i).padStart(5, '0')}`;
const value = (key, update) => ({ key, update, padding: 'x'.repeat(valueBytes) });

/** Runs the client process of `kind` against `url`: CPU between two marks, updates applied. */
async function measure(kind, url, write) {
  const args = [kind, url, benchToken, String(clients)];
  if (profile) args.push(path.join(profile, `sdk-${kind}-${keys}.cpuprofile`));
  const child = fork(new URL('sdk-client.mjs', import.meta.url).pathname, args, { stdio: 'inherit' });
  const next = (type) =>
    new Promise((resolve) => child.once('message', (m) => (m.type === type ? resolve(m) : undefined)));
  await next('ready');
  await sleep(1000);
  child.send({ type: 'mark' });
  await next('marked');
  for (let i = 1; i <= updates; i += 1) {
    await write(keyName(i % keys), i);
    await sleep(200);
  }
  await sleep(3000);
  child.send({ type: 'report' });
  const report = await next('report');
  child.send({ type: 'exit' });
  await new Promise((resolve) => child.once('exit', resolve));
  return report;
}

async function herald() {
  const server = await startHerald();
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  for (let start = 0; start < keys; start += 100) {
    const changes = [];
    for (let i = start; i < Math.min(keys, start + 100); i += 1)
      changes.push({ op: 'set', key: keyName(i), value: value(i, 0) });
    const response = await fetch(`${server.url}/v1/namespaces/bench/commits`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ changes }),
    });
    if (response.status !== 201) throw new Error(`commit: ${response.status} ${await response.text()}`);
  }
  return measure('herald', server.url, async (key, i) => {
    const response = await fetch(`${server.url}/v1/namespaces/bench/entries/${key}`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: value(key, i) }),
    });
    if (response.status >= 300) throw new Error(`put: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  });
}

async function etcd() {
  const server = await startEtcd();
  const put = (key, v) => etcdPut(server.url, `bench/${key}`, v);
  for (let i = 0; i < keys; i += 1) await put(keyName(i), value(i, 0));
  const report = await measure('etcd', server.url, (key, i) => put(key, value(key, i)));
  return { ...report, version: server.version.replace(/^etcd Version: /, '') };
}

/** One client's verification path in isolation: µs per delta changing one key of a view of `keys`. */
async function isolated() {
  const { diffViews, SigningKey, TrustStore, viewDigest } = await import('../packages/core/dist/src/index.js');
  const { verifyDelta, verifySnapshot } = await import('../packages/sdk/dist/src/internal.js');
  const { key } = SigningKey.generate('k-bench', 0);
  const trust = new TrustStore([{ keyId: key.keyId, publicKey: key.publicKey, createdAt: 0 }]);
  const view = { namespace: 'bench', labels: [''] };
  const sign = (seq, values) =>
    key.signManifest({ ...view, secrets: false, seq, revision: seq, digest: viewDigest(values), issuedAt: 0 });
  let values = Object.create(null);
  for (let i = 0; i < keys; i += 1) values[keyName(i)] = value(i, 0);
  const first = verifySnapshot(JSON.parse(JSON.stringify({ ...sign(1, values), values })), {
    view,
    held: undefined,
    trust,
  });
  let held = first.view;
  const events = [];
  for (let u = 1; u <= updates; u += 1) {
    const next = { ...values, [keyName(u % keys)]: value(keyName(u % keys), u) };
    const { set, remove } = diffViews(values, next);
    events.push(JSON.stringify({ fromSeq: u, fromDigest: viewDigest(values), ...sign(u + 1, next), set, remove }));
    values = next;
  }
  const started = performance.now();
  for (const text of events) {
    const verdict = verifyDelta(JSON.parse(text), { view, held, trust });
    if (verdict.outcome !== 'accept') throw new Error(verdict.reason);
    held = verdict.view;
  }
  const us = ((performance.now() - started) * 1000) / updates;
  console.log(`\nOne client's verification of a delta in isolation, ${updates} deltas. ${machine()}.\n`);
  console.log(table(['keys', 'value bytes', 'per delta'], [[keys, valueBytes, `${us.toFixed(1)} µs`]]));
}

try {
  if (isolatedRun) await isolated();
  else await sideBySide();
} finally {
  await stopAll();
}

async function sideBySide() {
  const rows = [];
  const results = {};
  for (const kind of ['herald', 'etcd']) {
    if (only && only !== kind) continue;
    const report = kind === 'herald' ? await herald() : await etcd();
    await stopAll();
    const us = (report.cpuMs * 1000) / report.applied;
    results[kind] = us;
    rows.push([
      kind === 'herald'
        ? 'Herald SDK (signature + digest verified, values frozen, change events)'
        : `etcd ${report.version} watchers (JSON gateway, values parsed, change callbacks)`,
      clients,
      keys,
      valueBytes,
      report.applied,
      `${report.cpuMs.toFixed(0)} ms`,
      `${us.toFixed(1)} µs`,
    ]);
  }
  console.log(
    `\nSDK client cost: ${clients} clients in one process, a view of ${keys} key(s) of ~${valueBytes} B, ${updates} updates each changing one key. ${machine()}.\n`,
  );
  console.log(
    table(['client', 'clients', 'keys', 'value bytes', 'updates applied', 'client CPU', 'per update per client'], rows),
  );
  if (results.herald && results.etcd)
    console.log(`Herald/etcd per update: ${(results.herald / results.etcd).toFixed(2)}×`);
}
