// Issue 14, the topology test at small size: three regions and a control plane as Linux network
// namespaces on one bridge (testkit Topology), each region with its relay and ten SDK instances
// (`herald simulate`) given [the region's relay, the control plane]. Real processes, real links:
// - a release reaches every region;
// - a region's link is cut during a release: the other regions converge, the cut region keeps
//   serving its last verified release (an instance started inside it still gets its values from
//   the relay's cache), and after the heal it converges;
// - a region's relay dies (SIGKILL): its instances fail over to the control plane and converge.
// Needs root and iproute2 (CI runs as root); skipped with the reason otherwise. Each wait is a
// liveness bound, never a timing assertion; the figures are printed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, tempDir, testAdminToken, Topology, type HeraldChild } from '@herald/testkit';

const regions = ['west', 'east', 'north'] as const;
const perRegion = 10;
const available = await Topology.available();

let topology: Topology;
const folders: Array<{ cleanup: () => Promise<void> }> = [];
const relays = new Map<string, HeraldChild>();
let cpUrl = '';
let clientToken = '';

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${cpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface Fleet {
  instances: Array<{ instanceId: string; attributes: Record<string, string>; seq: number; status: string }>;
}

/** Instances per region on `seq`, as the control plane's fleet says. */
async function onSeq(seq: number): Promise<Record<string, number>> {
  const fleet = await admin<Fleet>('GET', '/v1/fleet/app');
  const counts: Record<string, number> = Object.fromEntries(regions.map((r) => [r, 0]));
  for (const i of fleet.instances)
    if (i.seq === seq && i.status === 'applied')
      counts[i.attributes.region ?? '?'] = (counts[i.attributes.region ?? '?'] ?? 0) + 1;
  return counts;
}

async function commit(color: string): Promise<number> {
  await admin('PUT', '/v1/namespaces/app/entries/color', { value: color });
  const { items } = await admin<{ items: Array<{ seq: number }> }>('GET', '/v1/namespaces/app/releases?limit=1');
  return items[0]?.seq ?? 0;
}

async function startRelay(region: string): Promise<void> {
  const cache = await tempDir(`herald-topo-${region}-`);
  folders.push(cache);
  const node = topology.node(region);
  const relay = topology.spawnHerald(region, [
    'relay',
    '--upstream',
    cpUrl,
    '--listen',
    `${node.address}:8421`,
    '--cache',
    cache.path,
    '--token',
    relayToken,
  ]);
  await relay.waitForLine((l) => l.includes('listening on'), { timeoutMs: 60_000 });
  relays.set(region, relay);
}
let relayToken = '';

before(async () => {
  if (!available) return;
  topology = await Topology.create(['cp', ...regions]);
  const data = await tempDir('herald-topo-cp-');
  folders.push(data);
  const cp = topology.node('cp');
  const server = topology.spawnHerald('cp', ['server', '--listen', `${cp.address}:8420`, '--data', data.path], {
    HERALD_ADMIN_TOKEN: testAdminToken,
  });
  await server.waitForLine((l) => l.includes('listening on'), { timeoutMs: 60_000 });
  cpUrl = `http://${cp.address}:8420`;
  await admin('POST', '/v1/namespaces', { name: 'app' });
  await commit('blue');
  const token = async (scope: Record<string, unknown>) =>
    (
      await admin<{ token: string }>('POST', '/v1/tokens', {
        scopes: [{ namespaces: 'app', role: 'client', ...scope }],
      })
    ).token;
  relayToken = await token({ relay: true });
  clientToken = await token({});
  for (const region of regions) await startRelay(region);
  for (const region of regions) {
    const relay = `http://${topology.node(region).address}:8421`;
    topology.spawnHerald(region, [
      'simulate',
      '--ns',
      'app',
      '--instances',
      String(perRegion),
      '--attr',
      `region=${region}`,
      '--prefix',
      region,
      '--url',
      `${relay},${cpUrl}`,
      '--token',
      clientToken,
      '--report-interval',
      '1000',
    ]);
  }
});

after(async () => {
  await topology?.destroy();
  for (const folder of folders) await folder.cleanup();
});

const figures: string[] = [];
const bound = { timeoutMs: 90_000, intervalMs: 250 };

void test(
  'regions: a release reaches all, a cut region keeps serving and converges on heal, a dead relay fails over',
  { skip: available ? false : 'needs root and iproute2 (ip netns)' },
  async () => {
    const first = await commit('green');
    let t = performance.now();
    await eventually(async () => Object.values(await onSeq(first)).every((n) => n === perRegion), {
      ...bound,
      message: 'every region on the first release',
    });
    figures.push(`release → all ${regions.length * perRegion} instances: ${(performance.now() - t).toFixed(0)} ms`);

    // East loses its link during the next release.
    await topology.cut('east');
    const second = await commit('orange');
    t = performance.now();
    await eventually(
      async () => {
        const counts = await onSeq(second);
        return counts.west === perRegion && counts.north === perRegion;
      },
      { ...bound, message: 'the connected regions on the second release' },
    );
    figures.push(`release with east cut → west and north: ${(performance.now() - t).toFixed(0)} ms`);
    assert.equal((await onSeq(second)).east, 0, 'no east instance could have had the second release');

    // An instance started inside the cut region gets the last verified release from its relay.
    const late = topology.spawnHerald('east', [
      'watch',
      'app',
      '--url',
      `http://${topology.node('east').address}:8421`,
      '--token',
      clientToken,
      '--json',
    ]);
    const line = await late.waitForLine((l) => l.includes('"color"'), { timeoutMs: 60_000 });
    assert.equal((JSON.parse(line) as { values: Record<string, unknown> }).values.color, 'green');
    await late.stop();

    await topology.heal('east');
    t = performance.now();
    await eventually(async () => (await onSeq(second)).east === perRegion, {
      ...bound,
      message: 'east after the heal',
    });
    figures.push(`east after the heal: ${(performance.now() - t).toFixed(0)} ms`);

    // West's relay dies: its instances fail over to the control plane.
    await relays.get('west')?.stop('SIGKILL');
    const third = await commit('red');
    t = performance.now();
    await eventually(async () => Object.values(await onSeq(third)).every((n) => n === perRegion), {
      ...bound,
      message: 'every region on the third release, west through the control plane',
    });
    figures.push(`release with west's relay dead → all (west failed over): ${(performance.now() - t).toFixed(0)} ms`);
    console.log(`topology (3 regions × ${perRegion} instances, network namespaces):\n  ${figures.join('\n  ')}`);
  },
);
