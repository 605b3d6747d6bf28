// Relays end to end (issue 6), as an operator runs them: a real `herald server` child process on a
// temp SQLite folder, two `herald relay` child processes chained behind it (control plane → relay A
// → relay B), and the fleet behind relay B in separate child processes: 100 SDK instances
// (`herald simulate`), 3 host agents (`herald agent --format json`), and `herald watch --json`
// clients. What the fleet applied is read upstream, on the control plane (`herald fleet --json` and
// its API): reports reach it only through both relays.
//
// The tests run in order and share the chain. The second one kills the control plane and both
// relays with SIGKILL and brings them back on the same ports, from the same folders. Every bound
// below (polls, waits for a line) is a liveness guard that turns a hang into a failure, never a
// timing assertion.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { isTargeted, parsePolicy, type Manifest, type RolloutPolicy } from '@herald/core';
import {
  eventually,
  heraldBin,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type ServerProcess,
} from '@herald/testkit';
import { heraldAt, ok, parseJson } from './helpers.js';

// --- what the CLI and the API print ---------------------------------------------------------------

interface SignedView {
  manifest: Manifest;
  signature: string;
  values: Record<string, unknown>;
}

interface FleetItem {
  instanceId: string;
  attributes: Record<string, string>;
  labels: string[];
  seq: number;
  digest: string;
  status: 'applied' | 'rejected';
  reason?: string;
  health: string;
  lastSeen: string;
}

interface WatchLine {
  namespace: string;
  seq: number;
  digest: string;
  values: Record<string, unknown>;
  via: string;
}

interface RolloutStatus {
  id: string;
  state: string;
  wave: number;
  fromSeq: number;
  toSeq: number;
  reason: string | null;
}

/** Every fetch gives up after this long: a request that hangs is a failure, not a slow test. */
const fetchBoundMs = 30_000;
const simulated = 100;
const agentCount = 3;

// --- child processes: every one is killed in `after`, whatever happened --------------------------

/** A long-running herald command (simulate, watch, agent) with its output lines. */
class Cli {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<unknown>;
  readonly args: string[];

  constructor(args: string[], env: Record<string, string>) {
    this.args = args;
    this.child = spawn(process.execPath, [heraldBin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(this);
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.stdout.push(line));
    createInterface({ input: this.child.stderr as NodeJS.ReadableStream }).on('line', (line) => this.stderr.push(line));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Fails the test (not only the wait) when the process is gone. */
  assertAlive(): void {
    assert.ok(this.alive, `herald ${this.args.join(' ')} exited: ${this.stderr.join(' | ')}`);
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
    children.delete(this);
  }

  /** SIGTERM: the SDK clients close and say they leave, so their fleet records are gone at once. */
  async stop(): Promise<void> {
    if (this.alive) this.child.kill('SIGTERM');
    const forced = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(forced);
    children.delete(this);
  }
}

const children = new Set<Cli>();
const servers = new Set<ServerProcess>();
const proxies = new Set<FlippingProxy>();
let dir: { path: string; cleanup: () => Promise<void> };

after(async () => {
  await Promise.all([...children].map((c) => c.kill()));
  await Promise.all([...servers].map((s) => s.kill('SIGKILL')));
  await Promise.all([...proxies].map((p) => p.close()));
  await dir?.cleanup();
});

/**
 * A loopback port below Linux's ephemeral range, free now: a process restarted on it after a
 * SIGKILL cannot find it taken by some client's outgoing connection meanwhile.
 */
async function stablePort(): Promise<number> {
  for (let i = 0; i < 200; i += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free loopback port between 20000 and 32000');
}

async function started(starting: Promise<ServerProcess>): Promise<ServerProcess> {
  const server = await starting;
  servers.add(server);
  return server;
}

async function killServer(server: ServerProcess): Promise<void> {
  await server.kill('SIGKILL');
  servers.delete(server);
}

// --- the chain: control plane → relay A → relay B -------------------------------------------------

interface Node {
  port: number;
  url: string;
  process: ServerProcess;
}

let cp: Node;
let relayA: Node;
let relayB: Node;
let clientToken: string;
let trustFile: string;
let admin: ReturnType<typeof heraldAt>;

async function startControlPlane(port: number): Promise<Node> {
  const proc = await started(
    startHeraldProcess([
      'server',
      '--data',
      join(dir.path, 'control-plane'),
      '--listen',
      `127.0.0.1:${port}`,
      '--log-level',
      'error',
    ]),
  );
  return { port, url: proc.url, process: proc };
}

/** Relay A pins the control plane's keys from a trust file; relay B trusts relay A's on first contact and pins them in its cache. */
async function startRelay(name: 'a' | 'b', upstream: string, port: number): Promise<Node> {
  const args = [
    'relay',
    '--upstream',
    upstream,
    '--listen',
    `127.0.0.1:${port}`,
    '--cache',
    join(dir.path, `relay-${name}`),
    '--log-level',
    'error',
  ];
  if (name === 'a') args.push('--trust', trustFile);
  const proc = await started(startHeraldProcess(args, { HERALD_TOKEN: clientToken }));
  return { port, url: proc.url, process: proc };
}

before(async () => {
  dir = await tempDir('herald-relay-e2e-');
  const [cpPort, aPort, bPort] = [await stablePort(), await stablePort(), await stablePort()];
  cp = await startControlPlane(cpPort);
  admin = heraldAt(cp.url, testAdminToken);
  clientToken = (
    await api<{ token: string }>(cp.url, 'POST', '/v1/tokens', {
      name: 'relay-e2e',
      scopes: [{ namespaces: '*', role: 'client' }],
    })
  ).token;
  trustFile = join(dir.path, 'trusted-keys.json');
  writeFileSync(trustFile, JSON.stringify(await api(cp.url, 'GET', '/v1/keys')));
  relayA = await startRelay('a', cp.url, aPort);
  relayB = await startRelay('b', relayA.url, bPort);
});

/** Restarts any node of the chain found dead (an earlier test failed mid-outage), so that each test stands on its own. */
async function chainUp(): Promise<void> {
  const dead = (node: Node) => node.process.child.exitCode !== null || node.process.child.signalCode !== null;
  if (dead(cp)) cp = await startControlPlane(cp.port);
  if (dead(relayA)) relayA = await startRelay('a', cp.url, relayA.port);
  if (dead(relayB)) relayB = await startRelay('b', relayA.url, relayB.port);
}

// --- HTTP helpers ---------------------------------------------------------------------------------

async function api<T>(url: string, method: string, path: string, body?: unknown, token = testAdminToken): Promise<T> {
  const response = await fetch(new URL(path, url), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(fetchBoundMs),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function createNamespace(ns: string, values: Record<string, unknown>): Promise<SignedView> {
  await api(cp.url, 'POST', '/v1/namespaces', { name: ns });
  return commit(ns, values);
}

/** One commit (the immediate policy: one release); returns the view a client token gets from the control plane. */
async function commit(ns: string, values: Record<string, unknown>): Promise<SignedView> {
  const changes = Object.entries(values).map(([key, value]) => ({ op: 'set', key, value }));
  await api(cp.url, 'POST', `/v1/namespaces/${ns}/commits`, { changes });
  return api<SignedView>(cp.url, 'GET', `/v1/views/${ns}`, undefined, clientToken);
}

/** The fleet as the control plane sees it (reports from behind relays arrive there through both). */
async function fleet(ns: string): Promise<FleetItem[]> {
  return (await api<{ instances: FleetItem[] }>(cp.url, 'GET', `/v1/fleet/${encodeURIComponent(ns)}`)).instances;
}

async function metric(url: string, name: string): Promise<number> {
  const response = await fetch(new URL('/metrics', url), { signal: AbortSignal.timeout(fetchBoundMs) });
  const text = await response.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  assert.ok(line, `${url}/metrics has ${name}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A failed assertion inside a probe fails the wait at once; other errors are retried. */
const isAssertion = (error: unknown): boolean => error instanceof assert.AssertionError;

/** Counts of the fleet's items by `seq/status`, for failure messages. */
function tally(items: readonly FleetItem[]): string {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(`${i.seq}/${i.status}`, (counts.get(`${i.seq}/${i.status}`) ?? 0) + 1);
  return JSON.stringify(Object.fromEntries(counts));
}

/** Waits until every instance with one of these ids (all of them present) reports `view` applied. */
async function fleetApplied(
  ns: string,
  ids: readonly string[],
  view: SignedView,
  timeoutMs = 90_000,
): Promise<FleetItem[]> {
  let seen = '';
  try {
    return await eventually(
      async () => {
        const wanted = new Set(ids);
        const mine = (await fleet(ns)).filter((i) => wanted.has(i.instanceId));
        seen = tally(mine);
        return (
          mine.length === ids.length &&
          mine.every(
            (i) => i.status === 'applied' && i.seq === view.manifest.seq && i.digest === view.manifest.digest,
          ) &&
          mine
        );
      },
      {
        message: `${ids.length} instances of ${ns} applied at release ${view.manifest.seq}`,
        timeoutMs,
        intervalMs: 500,
        fatal: isAssertion,
      },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; by seq/status: ${seen}`, { cause: error });
  }
}

// --- the fleet behind relay B ---------------------------------------------------------------------

function simulate(url: string, ns: string, count: number, prefix: string, extra: string[] = []): Cli {
  return new Cli(
    [
      'simulate',
      '--url',
      url,
      '--ns',
      ns,
      '--instances',
      String(count),
      '--prefix',
      prefix,
      '--trust',
      trustFile,
      ...extra,
    ],
    { HERALD_TOKEN: clientToken },
  );
}

async function simulationStarted(sim: Cli): Promise<void> {
  await eventually(
    () => {
      sim.assertAlive();
      return sim.stdout.some((line) => /simulating \d+ instances/u.test(line));
    },
    { message: 'the simulated fleet to start', timeoutMs: 60_000, intervalMs: 300, fatal: isAssertion },
  );
}

/** How many of the simulated instances applied and rejected release `seq` (its summary lines are cumulative). */
function simCounts(sim: Cli, seq: number): { applied: number; rejected: number } {
  const counts = { applied: 0, rejected: 0 };
  const pattern = new RegExp(`release ${seq}: (\\d+) applied, (\\d+) rejected`, 'u');
  for (const line of sim.stdout) {
    const match = pattern.exec(line);
    if (match) {
      counts.applied = Math.max(counts.applied, Number(match[1]));
      counts.rejected = Math.max(counts.rejected, Number(match[2]));
    }
  }
  return counts;
}

function watch(url: string, ns: string, instanceId: string, cache?: string): Cli {
  return new Cli(
    [
      'watch',
      ns,
      '--json',
      // A fleet member (watch is an observer by default): the test counts these instances in the fleet.
      '--report',
      '--url',
      url,
      '--instance-id',
      instanceId,
      '--trust',
      trustFile,
      ...(cache ? ['--cache', cache] : []),
    ],
    { HERALD_TOKEN: clientToken },
  );
}

function watchLines(w: Cli): WatchLine[] {
  return w.stdout.map((line) => parseJson<WatchLine>(line));
}

async function watchLine(w: Cli, seq: number, timeoutMs = 90_000): Promise<WatchLine> {
  return eventually(
    () => {
      w.assertAlive();
      return watchLines(w).find((l) => l.seq === seq);
    },
    {
      message: `herald watch (${w.args.join(' ')}) to print release ${seq}`,
      timeoutMs,
      intervalMs: 300,
      fatal: isAssertion,
    },
  );
}

interface Agent {
  id: string;
  out: string;
  cache: string;
  cli: Cli;
}

function agentCli(id: string, out: string, cache: string, ns: string): Cli {
  return new Cli(
    [
      'agent',
      '--url',
      relayB.url,
      '--ns',
      ns,
      '--out',
      out,
      '--format',
      'json',
      '--cache',
      cache,
      '--instance-id',
      id,
      '--trust',
      trustFile,
    ],
    {
      HERALD_TOKEN: clientToken,
    },
  );
}

async function startAgent(i: number, ns: string): Promise<Agent> {
  const home = join(dir.path, `agent-${i}`);
  await mkdir(home, { recursive: true });
  const id = `agent-${i}`;
  const out = join(home, `${ns}.json`);
  const cache = join(home, 'cache');
  return { id, out, cache, cli: agentCli(id, out, cache, ns) };
}

function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

async function agentFileHolds(agent: Agent, values: Record<string, unknown>): Promise<void> {
  await eventually(
    () => {
      agent.cli.assertAlive();
      return isDeepEqual(readJsonFile(agent.out), values);
    },
    {
      message: `${agent.out} to hold ${JSON.stringify(values)}`,
      timeoutMs: 90_000,
      intervalMs: 300,
      fatal: isAssertion,
    },
  );
  assert.deepEqual(readJsonFile(agent.out), values);
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

// --- a relay in the middle that flips one byte ---------------------------------------------------

/** The end of one server frame: the SSE event's blank line, then the HTTP chunk's CRLF. */
const frameEnd = Buffer.from('\n\n\r\n', 'latin1');

/**
 * A TCP proxy on loopback in front of a relay: requests pass untouched; in watch streams, it flips
 * one byte of every `snapshot` and `delta` event, either in the values (the first byte of the
 * first key of `values`/`set`) or in the signed manifest (a hex digit of its digest). Lengths are
 * kept, so the chunk framing stays valid and only the content lies.
 */
class FlippingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #target: { host: string; port: number };
  mode: 'values' | 'manifest' = 'values';
  /** Events altered so far, by type. */
  readonly flipped = { snapshot: 0, delta: 0 };
  url = '';

  private constructor(target: URL) {
    this.#target = { host: target.hostname, port: Number(target.port) };
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(target: string): Promise<FlippingProxy> {
    const proxy = new FlippingProxy(new URL(target));
    proxies.add(proxy);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    assert.ok(address && typeof address === 'object');
    proxy.url = `http://127.0.0.1:${address.port}`;
    return proxy;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    proxies.delete(this);
  }

  #accept(client: Socket): void {
    const upstream = createConnection(this.#target);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    // Plain responses pass as they come; once a response is an event stream (it is the last on
    // its connection), complete frames are held, altered and passed on.
    let stream = false;
    let held = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (!stream && !chunk.includes('text/event-stream')) {
        client.write(chunk);
        return;
      }
      stream = true;
      held = Buffer.concat([held, chunk]);
      const end = held.lastIndexOf(frameEnd);
      if (end === -1) return;
      const complete = held.subarray(0, end + frameEnd.length);
      held = Buffer.from(held.subarray(end + frameEnd.length));
      client.write(this.#alter(complete));
    });
  }

  #alter(frames: Buffer): Buffer {
    const text = frames.toString('latin1');
    let out = '';
    let last = 0;
    const pattern = /event: (snapshot|delta)\ndata: ([^\n]*)\n\n/gu;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const [whole, type, data] = match as unknown as [string, 'snapshot' | 'delta', string];
      const at = this.#position(data);
      if (at === undefined) continue;
      const dataAt = match.index + whole.indexOf('data: ') + 'data: '.length;
      const byte = data.charCodeAt(at);
      const flipped = this.mode === 'manifest' ? (data[at] === '0' ? '1' : '0') : String.fromCharCode(byte ^ 1);
      out += text.slice(last, dataAt + at) + flipped;
      last = dataAt + at + 1;
      this.flipped[type] += 1;
    }
    return Buffer.from(out + text.slice(last), 'latin1');
  }

  /** Where in an event's data the byte to flip is. */
  #position(data: string): number | undefined {
    if (this.mode === 'manifest') {
      const manifest = data.indexOf('"manifest":{');
      const digest = manifest === -1 ? -1 : data.indexOf('"digest":"', manifest);
      return digest === -1 ? undefined : digest + '"digest":"'.length;
    }
    for (const marker of ['"values":{"', '"set":{"']) {
      const at = data.indexOf(marker);
      if (at !== -1) return at + marker.length;
    }
    return undefined;
  }
}

// --- the scenarios --------------------------------------------------------------------------------

const ns = 'payments';
const simIds = Array.from({ length: simulated }, (_, i) => `s-${i}`);
const agentIds = Array.from({ length: agentCount }, (_, i) => `agent-${i}`);
let sim: Cli;
const agents: Agent[] = [];
let v2: SignedView;

void test('a release reaches 100 SDK instances and 3 agents behind two relays, and their reports reach the control plane through both', async (t) => {
  const v1 = await createNamespace(ns, { greeting: 'one', pool: { max: 10 } });
  sim = simulate(relayB.url, ns, simulated, 's');
  for (let i = 0; i < agentCount; i += 1) agents.push(await startAgent(i, ns));
  await simulationStarted(sim);
  await fleetApplied(ns, [...simIds, ...agentIds], v1);
  for (const agent of agents) await agentFileHolds(agent, v1.values);

  v2 = await commit(ns, { greeting: 'two', pool: { max: 20 } });
  assert.equal(v2.manifest.seq, v1.manifest.seq + 1);
  const applied = await fleetApplied(ns, [...simIds, ...agentIds], v2);
  for (const agent of agents) await agentFileHolds(agent, v2.values);
  await eventually(() => simCounts(sim, v2.manifest.seq).applied === simulated, {
    message: 'the simulator to count release 2 applied by all',
    timeoutMs: 60_000,
    intervalMs: 300,
    fatal: isAssertion,
  });
  assert.equal(simCounts(sim, v2.manifest.seq).rejected, 0);

  // As the operator reads it: `herald fleet --json` on the control plane.
  const shown = parseJson<{
    instances: FleetItem[];
    releases: Array<{ seq: number; applied: number; rejected: number }>;
  }>(ok(await admin(['fleet', ns, '--json']), 'herald fleet'));
  const top = shown.releases.find((r) => r.seq === v2.manifest.seq);
  assert.ok(
    top && top.applied >= simulated + agentCount && top.rejected === 0,
    `herald fleet: ${JSON.stringify(shown.releases)}`,
  );
  assert.equal(new Set(applied.map((i) => i.instanceId)).size, simulated + agentCount);

  // The control plane holds no stream per instance: relay B holds them, relay A follows routes only.
  assert.equal(await metric(cp.url, 'herald_watch_streams'), 0, 'no instance watches the control plane itself');
  assert.equal(
    await metric(relayA.url, 'herald_watch_streams'),
    0,
    'relay B follows relay A by route polls, not by one stream per instance',
  );
  assert.ok((await metric(relayB.url, 'herald_watch_streams')) >= simulated + agentCount);
  for (const relay of [relayA, relayB]) {
    assert.ok(
      (await metric(relay.url, 'herald_relay_reports_forwarded_total')) >= simulated + agentCount,
      `${relay.url} forwarded the reports`,
    );
    assert.ok((await metric(relay.url, 'herald_relay_cached_views')) >= 2, `${relay.url} keeps both releases on disk`);
    assert.equal(
      await metric(relay.url, 'herald_relay_serving_from_cache'),
      0,
      `${relay.url} has reached its upstream`,
    );
    const ready = await fetch(new URL('/readyz', relay.url), { signal: AbortSignal.timeout(fetchBoundMs) });
    assert.equal(ready.status, 200, `${relay.url}/readyz`);
  }
  t.diagnostic(
    `release ${v2.manifest.seq} applied by ${simulated} SDK instances and ${agentCount} agents behind relay B; fleet: ${tally(applied)}`,
  );
});

void test('with the control plane killed (then both relays too), everyone keeps its config, newcomers get the cached release, and the next release flows once it is back', async (t) => {
  assert.ok(v2, 'the first test ran');
  const fileState = (agent: Agent) => {
    const stat = statSync(agent.out);
    return { ino: stat.ino, mtimeMs: stat.mtimeMs, text: readFileSync(agent.out, 'utf8') };
  };
  const before = agents.map(fileState);

  // A client that will come back during the outage holding a release the relays never saw: it
  // watched the control plane directly and cached release 1; the relays only ever served release 2.
  const gns = 'gaps';
  const g1 = await createNamespace(gns, { step: 1 });
  const gapCache = join(dir.path, 'gap-watch-cache');
  const early = watch(cp.url, gns, 'gap-watch', gapCache);
  await watchLine(early, g1.manifest.seq);
  await early.kill();
  const g2 = await commit(gns, { step: 2 });
  const fresh = watch(relayB.url, gns, 'gap-fresh');
  await watchLine(fresh, g2.manifest.seq);
  await fresh.kill();

  // 1. The control plane dies.
  await killServer(cp.process);
  const outageStarted = Date.now();

  // A new client that connects to relay B meanwhile receives the cached release.
  const newcomer = watch(relayB.url, ns, 'newcomer-1');
  const first = await watchLine(newcomer, v2.manifest.seq);
  assert.equal(first.digest, v2.manifest.digest);
  assert.deepEqual(first.values, v2.values);
  assert.equal(first.via, 'snapshot');
  sim.assertAlive();
  for (const agent of agents) agent.cli.assertAlive();

  // 2. Both relays die too: nothing upstream of the fleet is left.
  await killServer(relayB.process);
  await killServer(relayA.process);

  // An agent restarted now (same cache) has only its cache to write its file from.
  const restarted = agents[0] as Agent;
  await restarted.cli.kill();
  rmSync(restarted.out, { force: true });
  restarted.cli = agentCli(restarted.id, restarted.out, restarted.cache, ns);
  await agentFileHolds(restarted, v2.values);
  assert.ok(
    restarted.cli.stderr.some(
      (line) => line.includes('starting from the verified cache') && line.includes(`release ${v2.manifest.seq}`),
    ),
    `the restarted agent says it started from its cache: ${restarted.cli.stderr.join(' | ')}`,
  );

  // 3. Relay B restarts on its port from its cache, with no upstream at all: it serves newcomers.
  relayB = await startRelay('b', relayA.url, relayB.port);
  const ready = await fetch(new URL('/readyz', relayB.url), { signal: AbortSignal.timeout(fetchBoundMs) });
  assert.equal(ready.status, 200, 'relay B is ready from its cache');
  const second = watch(relayB.url, ns, 'newcomer-2');
  const fromCache = await watchLine(second, v2.manifest.seq);
  assert.equal(fromCache.digest, v2.manifest.digest);
  assert.deepEqual(fromCache.values, v2.values);
  // A client back with an older release from its own cache, one the relay never had: a snapshot of what the relay has.
  const returning = watch(relayB.url, gns, 'gap-watch', gapCache);
  const caught = await watchLine(returning, g2.manifest.seq);
  assert.deepEqual(
    watchLines(returning).map((l) => [l.seq, l.via]),
    [
      [g1.manifest.seq, 'cache'],
      [g2.manifest.seq, 'snapshot'],
    ],
  );
  assert.equal(caught.digest, g2.manifest.digest);
  await returning.kill();
  // The fleet comes back to relay B on its own (the SDK reconnects with what it holds).
  await eventually(async () => (await metric(relayB.url, 'herald_watch_streams')) >= simulated + agentCount + 1, {
    message: 'the fleet to reconnect to the restarted relay B',
    timeoutMs: 90_000,
    intervalMs: 500,
    fatal: isAssertion,
  });

  // 4. Relay A restarts from its cache, the control plane still down.
  relayA = await startRelay('a', cp.url, relayA.port);
  const third = watch(relayA.url, ns, 'newcomer-3');
  assert.equal(
    (await watchLine(third, v2.manifest.seq)).digest,
    v2.manifest.digest,
    'relay A serves its cached release with no control plane',
  );

  // Through the whole outage every client and agent kept its config.
  sim.assertAlive();
  assert.equal(simCounts(sim, v2.manifest.seq).applied, simulated);
  assert.ok(
    !sim.stdout.some((line) => new RegExp(`release ${v2.manifest.seq + 1}`, 'u').test(line)),
    'no release appeared from nowhere',
  );
  for (const [i, agent] of agents.entries()) {
    agent.cli.assertAlive();
    if (agent === restarted) continue;
    assert.deepEqual(fileState(agent), before[i], `${agent.out} was left untouched`);
  }
  for (const w of [newcomer, second, third])
    assert.deepEqual(
      watchLines(w).map((l) => l.seq),
      [v2.manifest.seq],
    );
  t.diagnostic(
    `outage of the control plane: ${Math.round((Date.now() - outageStarted) / 1000)} s; the fleet kept release ${v2.manifest.seq} throughout`,
  );

  // 5. The control plane comes back (same data folder, same port): the next release flows through.
  cp = await startControlPlane(cp.port);
  const v3 = await commit(ns, { greeting: 'three' });
  assert.equal(v3.manifest.seq, v2.manifest.seq + 1);
  await fleetApplied(ns, [...simIds, ...agentIds, 'newcomer-1', 'newcomer-2', 'newcomer-3'], v3, 120_000);
  for (const agent of agents) await agentFileHolds(agent, v3.values);
  for (const w of [newcomer, second, third]) {
    const line = await watchLine(w, v3.manifest.seq);
    assert.equal(line.digest, v3.manifest.digest);
    assert.equal(line.via, 'delta', 'a client that kept its release through the outage gets one delta');
  }
  await eventually(() => simCounts(sim, v3.manifest.seq).applied === simulated, {
    message: 'the simulator to count release 3 applied by all',
    timeoutMs: 60_000,
    intervalMs: 300,
    fatal: isAssertion,
  });
  assert.equal(simCounts(sim, v3.manifest.seq).rejected, 0);

  for (const cli of [sim, newcomer, second, third, ...agents.map((a) => a.cli)]) await cli.kill();
});

void test('a relay that flips one byte of what it relays gets every view rejected: nothing is applied, the fleet shows why', async (t) => {
  await chainUp();
  const tns = 'tampered';
  const v1 = await createNamespace(tns, { message: 'first', n: 1 });
  const proxy = await FlippingProxy.start(relayB.url);
  // The same relay, without the proxy, serves the releases intact (they exist and verify).
  const control = watch(relayB.url, tns, 'tamper-control');
  assert.equal((await watchLine(control, v1.manifest.seq)).digest, v1.manifest.digest);

  // One byte of the values.
  proxy.mode = 'values';
  const victim = watch(proxy.url, tns, 'tamper-watch');
  const victims = simulate(proxy.url, tns, 10, 't');
  await simulationStarted(victims);
  const ids = ['tamper-watch', ...Array.from({ length: 10 }, (_, i) => `t-${i}`)];
  const rejectedAt = async (seq: number, reason: RegExp): Promise<FleetItem[]> => {
    let seen = '';
    try {
      return await eventually(
        async () => {
          const mine = (await fleet(tns)).filter((i) => ids.includes(i.instanceId));
          seen = JSON.stringify(mine.map((i) => [i.instanceId, i.seq, i.status, i.reason]));
          assert.ok(
            mine.every((i) => i.status === 'rejected'),
            `an instance applied a tampered view: ${seen}`,
          );
          return mine.length === ids.length && mine.every((i) => i.seq === seq && reason.test(i.reason ?? '')) && mine;
        },
        {
          message: `${ids.length} instances to reject release ${seq}`,
          timeoutMs: 90_000,
          intervalMs: 500,
          fatal: isAssertion,
        },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; fleet: ${seen}`, { cause: error });
    }
  };
  await rejectedAt(v1.manifest.seq, /digest_mismatch/u);
  assert.ok(proxy.flipped.snapshot >= ids.length, `the proxy altered every snapshot: ${JSON.stringify(proxy.flipped)}`);

  // One byte of the signed manifest.
  proxy.mode = 'manifest';
  const v2t = await commit(tns, { message: 'second', n: 2 });
  assert.equal((await watchLine(control, v2t.manifest.seq)).digest, v2t.manifest.digest);
  await rejectedAt(v2t.manifest.seq, /bad_signature/u);

  // Nothing was applied: the watch printed no line, the simulator counted no application.
  victim.assertAlive();
  assert.deepEqual(victim.stdout, [], 'herald watch printed nothing for tampered releases');
  assert.ok(
    victim.stderr.some((line) => line.includes(`rejected release ${v1.manifest.seq}`)),
    victim.stderr.join('\n'),
  );
  assert.ok(
    victim.stderr.some((line) => line.includes(`rejected release ${v2t.manifest.seq}`)),
    victim.stderr.join('\n'),
  );
  for (const seq of [v1.manifest.seq, v2t.manifest.seq]) {
    assert.equal(simCounts(victims, seq).applied, 0, `no simulated instance applied release ${seq}`);
    assert.equal(simCounts(victims, seq).rejected, 10, `every simulated instance rejected release ${seq}`);
  }
  const released = (await fleet(tns)).filter((i) => ids.includes(i.instanceId));
  assert.ok(released.every((i) => i.status === 'rejected'));
  t.diagnostic(
    `altered events: ${JSON.stringify(proxy.flipped)}; every one of ${ids.length} clients rejected releases ${v1.manifest.seq} (values) and ${v2t.manifest.seq} (manifest)`,
  );
  for (const cli of [control, victim, victims]) await cli.kill();
  await proxy.close();
});

void test('a staged rollout through two relays targets the same instances as without relays', async (t) => {
  await chainUp();
  const sns = 'staged';
  const fleetSize = 200;
  ok(await admin(['ns', 'create', sns]), 'ns create');
  const policyFile = join(dir.path, 'staged-policy.yaml');
  writeFileSync(
    policyFile,
    stringify({
      strategy: 'staged',
      // The first wave bakes for long: the test reads it long before it could move on.
      waves: [
        { name: 'canary', percent: 30, bake: '30m', match: { region: ['a', 'b'] } },
        { name: 'everyone', percent: 100, bake: '1s' },
      ],
      gates: { minReportRatio: 0.5, maxRejectRatio: 0, maxUnhealthyRatio: 0, reportDeadline: '30m', minInstances: 1 },
      autoRollback: true,
    }),
  );
  ok(await admin(['policy', 'set', sns, '-f', policyFile]), 'policy set');
  const policy: RolloutPolicy = parsePolicy(parseJson(ok(await admin(['policy', 'get', sns]), 'policy get')));
  ok(await admin(['set', sns, 'color', '"blue"']), 'set');
  const stable = parseJson<{ seq: number; rolloutId?: string }>(
    ok(await admin(['release', sns, '--json']), 'first release'),
  );
  assert.equal(stable.rolloutId, undefined, 'the first release goes to everyone');
  const ids = Array.from({ length: fleetSize }, (_, i) => `p-${i}`);
  const args = ['--attr', 'region=a,b,c'];

  // The fleet connected straight to the control plane, on the stable release.
  const direct = new Cli(
    [
      'simulate',
      '--url',
      cp.url,
      '--ns',
      sns,
      '--instances',
      String(fleetSize),
      '--prefix',
      'p',
      '--trust',
      trustFile,
      ...args,
    ],
    { HERALD_TOKEN: clientToken },
  );
  await simulationStarted(direct);
  const stableView = await api<SignedView>(cp.url, 'GET', `/v1/views/${sns}`, undefined, clientToken);
  const onStable = await fleetApplied(sns, ids, stableView);

  // A candidate: the rollout's first wave targets its share of regions a and b.
  ok(await admin(['set', sns, 'color', '"green"']), 'set');
  const candidate = parseJson<{ seq: number; rolloutId: string }>(
    ok(await admin(['release', sns, '--json']), 'candidate release'),
  );
  assert.ok(candidate.rolloutId, 'a release of a staged namespace starts a rollout');
  const status = parseJson<RolloutStatus>(ok(await admin(['rollout', 'status', sns, '--json']), 'rollout status'));
  assert.equal(status.id, candidate.rolloutId);
  assert.equal(status.state, 'running');
  assert.equal(status.wave, 0);
  const expected = new Map(
    onStable.map((i) => [i.instanceId, isTargeted(policy, status.wave, status.id, i) ? candidate.seq : stable.seq]),
  );
  const targeted = [...expected.values()].filter((seq) => seq === candidate.seq).length;
  assert.ok(targeted > 0 && targeted < fleetSize, `the first wave targets part of the fleet (${targeted})`);

  /** Waits until every instance reported since `since` and holds what the first wave selects for it; returns instance → seq. */
  const settled = async (what: string, since: number): Promise<Map<string, number>> => {
    let diff = '';
    try {
      return await eventually(
        async () => {
          const items = (await fleet(sns)).filter((i) => expected.has(i.instanceId));
          const fresh = items.filter((i) => Date.parse(i.lastSeen) >= since && i.status === 'applied');
          const wrong = fresh.filter((i) => i.seq !== expected.get(i.instanceId));
          diff = `${fresh.length} fresh of ${items.length}; not as the first wave selects: ${wrong.map((i) => `${i.instanceId}@${i.seq}`).join(', ')}`;
          return fresh.length === fleetSize && wrong.length === 0 && new Map(fresh.map((i) => [i.instanceId, i.seq]));
        },
        { message: what, timeoutMs: 90_000, intervalMs: 500, fatal: isAssertion },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; ${diff}`, { cause: error });
    }
  };
  const withoutRelays = await settled('the direct fleet to hold what the first wave selects', 0);

  // The same fleet (same ids, same attributes) now behind relay A → relay B, from scratch. The
  // direct instances leave first: an instance id is bound to the credential that reported it, and
  // behind a relay the reporter is the relay on behalf of the client (docs/protocol.md).
  await direct.stop();
  await eventually(async () => (await fleet(sns)).filter((i) => expected.has(i.instanceId)).length === 0, {
    message: 'the direct instances to leave the fleet',
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  const switched = Date.now();
  const relayed = simulate(relayB.url, sns, fleetSize, 'p', args);
  await simulationStarted(relayed);
  const throughRelays = await settled('the fleet behind the relays to hold what the first wave selects', switched);
  assert.deepEqual(
    throughRelays,
    withoutRelays,
    'the relays route each instance to the release the control plane routes it to',
  );
  await eventually(
    () =>
      simCounts(relayed, candidate.seq).applied === targeted &&
      simCounts(relayed, stable.seq).applied === fleetSize - targeted,
    {
      message: 'the simulator behind the relays to count what it applied',
      timeoutMs: 60_000,
      intervalMs: 300,
      fatal: isAssertion,
    },
  );

  const still = parseJson<RolloutStatus>(ok(await admin(['rollout', 'status', sns, '--json']), 'rollout status'));
  assert.equal(still.state, 'running');
  assert.equal(still.wave, 0, 'still the first wave when the fleet was read (else the comparison proves nothing)');
  t.diagnostic(
    `first wave of rollout ${status.id}: ${targeted} of ${fleetSize} instances on candidate ${candidate.seq}, the same ones with and without relays`,
  );
  ok(await admin(['rollout', 'abort', sns, '--reason', 'relay-e2e: done']), 'abort');
  await relayed.kill();
});
