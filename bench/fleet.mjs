// Fleet at scale (issue 19): N instances report (through the batch route, as relays forward them)
// into one namespace; then GET /v1/fleet/NS is timed, with the server's memory. Each instance
// record is per namespace, owned by the reporting token, and pruned after the TTL.
// With --rollout yes (issue 14), a staged rollout then runs over those N instances for
// --rollout-seconds: the controller's pass time (its histogram) and what it does to other
// requests (GET /v1/namespaces/NS, p50/p99, before and during the rollout).
//   node bench/fleet.mjs [--instances 100000] [--rounds 5] [--rollout yes|no] [--rollout-seconds 30]
import { benchToken, machine, option, percentile, rssKiB, sleep, startHerald, stopAll, table } from './lib.mjs';

const instances = Number(option('instances', '100000'));
const rounds = Number(option('rounds', '5'));
const batch = 5000;
const withRollout = option('rollout', 'no') === 'yes';
const rolloutSeconds = Number(option('rollout-seconds', '30'));

/** p50/p99 of GET /v1/namespaces/bench, one request at a time, for `ms`. */
async function requestLatency(url, ms) {
  const times = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    const response = await fetch(`${url}/v1/namespaces/bench`, { headers });
    await response.arrayBuffer();
    times.push(performance.now() - t);
    await sleep(20);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: times.at(-1), count: times.length };
}

/** The controller pass histogram's count and sum, from /metrics. */
async function passes(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} ([\\d.e+-]+)`, 'mu').exec(text)?.[1] ?? 0);
  return {
    count: value('herald_rollout_controller_pass_seconds_count'),
    sum: value('herald_rollout_controller_pass_seconds_sum'),
  };
}

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
  if (withRollout) {
    const idle = await requestLatency(server.url, 5000);
    const put = (path, body) =>
      fetch(`${server.url}${path}`, { method: 'PUT', headers, body: JSON.stringify(body) }).then((r) =>
        r.arrayBuffer(),
      );
    // A first release (the immediate policy) for the rollout to move away from.
    await put('/v1/namespaces/bench/entries/config', { value: { v: 1 } });
    await put('/v1/namespaces/bench/policy', {
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 10, bake: '1h', match: { region: ['eu'] } },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
      gates: { minReportRatio: 0.9, maxRejectRatio: 0.5, reportDeadline: '2h' },
      autoRollback: true,
    });
    await put('/v1/namespaces/bench/entries/config', { value: { v: 2 } });
    const release = await fetch(`${server.url}/v1/namespaces/bench/releases`, { method: 'POST', headers, body: '{}' });
    if (release.status >= 300) throw new Error(`release answered ${release.status}: ${await release.text()}`);
    const rollout = await (await fetch(`${server.url}/v1/namespaces/bench/rollout`, { headers })).json();
    if (rollout.rollout?.state !== 'running') throw new Error(`no running rollout: ${JSON.stringify(rollout)}`);
    await sleep(2000);
    const before = await passes(server.url);
    const during = await requestLatency(server.url, rolloutSeconds * 1000);
    const after = await passes(server.url);
    const count = after.count - before.count;
    const meanMs = count > 0 ? ((after.sum - before.sum) / count) * 1000 : NaN;
    console.log(
      `\nA staged rollout over the ${instances} instances for ${rolloutSeconds} s: ${count} controller passes, ${meanMs.toFixed(0)} ms each (mean), ${(((after.sum - before.sum) / rolloutSeconds) * 100).toFixed(0)} % of the node's time.`,
    );
    console.log(
      table(
        ['GET /v1/namespaces/bench', 'requests', 'p50 (ms)', 'p99 (ms)', 'max (ms)'],
        [
          ['no rollout', idle.count, idle.p50.toFixed(1), idle.p99.toFixed(1), idle.max.toFixed(0)],
          ['during the rollout', during.count, during.p50.toFixed(1), during.p99.toFixed(1), during.max.toFixed(0)],
        ],
      ),
    );
  }
} finally {
  await stopAll();
}
