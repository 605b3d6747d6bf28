// Fleet at scale (issue 19): N instances report (through the batch route, as relays forward them)
// into one namespace; then GET /v1/fleet/NS is timed, with the server's memory. Each instance
// record is per namespace, owned by the reporting token, and pruned after the TTL.
//   node bench/fleet.mjs [--instances 100000] [--rounds 5]
import { benchToken, machine, option, percentile, rssKiB, startHerald, stopAll, table } from './lib.mjs';

const instances = Number(option('instances', '100000'));
const rounds = Number(option('rounds', '5'));
const batch = 5000;

const server = await startHerald([], {}, process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []);
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
  // The whole list (what a script asking for everything pays), one page, and the counts alone.
  const timed = async (query) => {
    const times = [];
    let count = 0;
    for (let r = 0; r < rounds; r += 1) {
      const t = performance.now();
      const response = await fetch(`${server.url}/v1/fleet/bench${query}`, { headers });
      const body = await response.json();
      count = query.includes('instances=false') ? body.summary.instances : body.instances.length;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return [query || '(all)', count, percentile(times, 50).toFixed(0), times.at(-1).toFixed(0)];
  };
  const rows = [
    await timed(''),
    await timed('?limit=1000'),
    await timed('?limit=1000&after=i-050000'),
    await timed('?instances=false'),
  ];
  console.log(`fleet: ${machine()}`);
  console.log(
    `${instances} instances reported in ${(reportMs / 1000).toFixed(1)} s; server RSS ${(rssKiB(server.pid) / 1024).toFixed(0)} MiB`,
  );
  console.log(table(['GET /v1/fleet/bench', 'instances', 'p50 (ms)', 'max (ms)'], rows));
} finally {
  await stopAll();
}
