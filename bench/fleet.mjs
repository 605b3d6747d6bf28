// Fleet at scale (issue 19): N instances report (through the batch route, as relays forward them)
// into one namespace; then GET /v1/fleet/NS is timed, with the server's memory. Each instance
// record is per namespace, owned by the reporting token, and pruned after the TTL.
//   node bench/fleet.mjs [--instances 100000] [--rounds 5]
import { benchToken, machine, option, percentile, rssKiB, startHerald, stopAll, table } from './lib.mjs';

const instances = Number(option('instances', '100000'));
const rounds = Number(option('rounds', '5'));
const batch = 5000;

const server = await startHerald();
const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
try {
  await fetch(`${server.url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  const started = performance.now();
  for (let i = 0; i < instances; i += batch) {
    const reports = Array.from({ length: Math.min(batch, instances - i) }, (_, j) => ({
      instanceId: `i-${String(i + j).padStart(6, '0')}`,
      attributes: { region: ['eu', 'us', 'ap'][(i + j) % 3], service: 'web' },
      views: [{ namespace: 'bench', seq: 1, digest: 'd1', status: 'applied' }],
      health: { status: 'ok' },
    }));
    const response = await fetch(`${server.url}/v1/reports/batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ reports }),
    });
    if (response.status !== 202) throw new Error(`batch answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
  }
  const reportMs = performance.now() - started;
  const times = [];
  let count = 0;
  for (let r = 0; r < rounds; r += 1) {
    const t = performance.now();
    const response = await fetch(`${server.url}/v1/fleet/bench`, { headers });
    count = ((await response.json()).instances ?? []).length;
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`fleet: ${machine()}`);
  console.log(
    table(
      ['instances', 'reports sent (s)', 'GET /v1/fleet p50 (ms)', 'max (ms)', 'server RSS (MiB)'],
      [
        [
          count,
          (reportMs / 1000).toFixed(1),
          percentile(times, 50).toFixed(0),
          times.at(-1).toFixed(0),
          (rssKiB(server.pid) / 1024).toFixed(0),
        ],
      ],
    ),
  );
} finally {
  await stopAll();
}
