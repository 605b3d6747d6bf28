// The SDK's own cost: W full clients (each verifies the Ed25519 signature and recomputes the
// SHA-256 digest of every update before accepting it) in one process; K updates of a ~1 KiB JSON
// value. Reports the client side's CPU per update per client — in a fleet that cost sits on each
// instance, not on the control plane.
//   node bench/sdk.mjs [--clients 1000] [--updates 20]
import { fork } from 'node:child_process';
import { benchToken, machine, option, sleep, startHerald, stopAll, table } from './lib.mjs';

const clients = Number(option('clients', '1000'));
const updates = Number(option('updates', '20'));

try {
  const server = await startHerald();
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  const write = async (i) =>
    (
      await fetch(`${server.url}/v1/namespaces/bench/entries/config`, {
        method: 'PUT',
        headers,
        body: JSON.stringify({ value: { update: i, padding: 'x'.repeat(1000) } }),
      })
    ).arrayBuffer();
  await write(0);
  const child = fork(new URL('sdk-client.mjs', import.meta.url).pathname, [server.url, benchToken, String(clients)], {
    stdio: 'inherit',
  });
  const next = (type) =>
    new Promise((resolve) => child.once('message', (m) => (m.type === type ? resolve(m) : undefined)));
  await next('ready');
  await sleep(1000);
  child.send({ type: 'mark' });
  await next('marked');
  for (let i = 1; i <= updates; i += 1) {
    await write(i);
    await sleep(200);
  }
  await sleep(3000);
  child.send({ type: 'report' });
  const report = await next('report');
  child.send({ type: 'exit' });
  const perUpdatePerClientUs = (report.cpuMs * 1000) / report.applied;
  console.log(
    `\nSDK client cost: ${clients} clients in one process, ${updates} updates of ~1 KiB (signature + digest verified, values frozen, change events). ${machine()}.\n`,
  );
  console.log(
    table(
      ['clients', 'updates applied', 'client CPU', 'per update per client'],
      [[clients, report.applied, `${report.cpuMs.toFixed(0)} ms`, `${perUpdatePerClientUs.toFixed(0)} µs`]],
    ),
  );
} finally {
  await stopAll();
}
