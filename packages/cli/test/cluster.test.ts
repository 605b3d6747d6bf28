// Several control-plane nodes on one PostgreSQL (issue 3), as an operator runs them: real
// `herald server --postgres` child processes on a fresh database of the PostgreSQL server on
// 127.0.0.1:5432, driven through the REST API on loopback. Covers: two nodes starting at once
// (migrations race), read-your-writes across nodes, conflicting and non-conflicting concurrent
// writes through both nodes, leader handover on SIGKILL, a node with the wrong secret key, every
// PostgreSQL backend of the database terminated while writers run, and a database that refuses
// connections or is read-only (a standby during a failover).
//
// The tests of this file share one database and the nodes on it, and run in order. Every bound
// below (polls, fetch timeouts) is a liveness guard that turns a hang into a failure, never a
// timing assertion.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { SecretCipher } from '@herald/core';
import {
  createTestDatabase,
  eventually,
  heraldBin,
  runHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  testAdminUrl,
  type ServerProcess,
  type TestDatabase,
} from '@herald/testkit';

// What the nodes are given is chosen here: settings inherited from the shell would change the test.
delete process.env.HERALD_SECRET_KEY;
delete process.env.HERALD_POSTGRES_URL;

/** Every fetch gives up after this long: a request that hangs is a failure, not a slow test. */
const fetchBoundMs = 15_000;

interface Node {
  id: string;
  url: string;
  process: ServerProcess;
  /** What it wrote on stderr, for failure messages. */
  stderr: string[];
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON, when the body is JSON; the fields the tests read. */
  body: ReplyBody | undefined;
}

interface ReplyBody {
  code?: string;
  revision?: number;
  value?: unknown;
  conflicts?: Array<{ key: string }>;
  items?: unknown[];
}

interface ClusterView {
  node: { id: string; store: string; leader: boolean; fence: number };
  revision: number;
}

interface HistoryItem {
  revision: number;
  message: string;
  changes: Array<{ op: string; key: string; label: string; entry?: { value: unknown; revision: number } }>;
}

const clusterKey = randomBytes(32);
let db: TestDatabase;
let dir: { path: string; cleanup: () => Promise<void> };
let keyFile: string;
let admin: pg.Client;
/** Every process started, for the cleanup; `running` only the nodes that should be up. */
const started: ServerProcess[] = [];
let running: Node[] = [];
const extraDatabases: TestDatabase[] = [];

before(async () => {
  dir = await tempDir('herald-cluster-');
  keyFile = join(dir.path, 'secret.key');
  await writeFile(keyFile, `${clusterKey.toString('base64')}\n`, { mode: 0o600 });
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: testAdminUrl(), connectionTimeoutMillis: 10_000 });
  admin.on('error', () => undefined);
  await admin.connect();
});

after(async () => {
  for (const child of started) await child.kill('SIGKILL').catch(() => undefined);
  await admin?.end().catch(() => undefined);
  for (const extra of extraDatabases) await extra.drop().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  await dir?.cleanup().catch(() => undefined);
});

function serverArgs(id: string, keyArgs: string[] = ['--secret-key-file', keyFile]): string[] {
  return [
    'server',
    '--postgres',
    db.url,
    '--listen',
    '127.0.0.1:0',
    '--node-id',
    id,
    '--data',
    join(dir.path, id),
    ...keyArgs,
    '--log-level',
    'error',
  ];
}

async function startNode(id: string): Promise<Node> {
  const child = await startHeraldProcess(serverArgs(id));
  started.push(child);
  const stderr: string[] = [];
  child.child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const node = { id, url: child.url, process: child, stderr };
  running.push(node);
  return node;
}

async function call(
  url: string,
  method: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const response = await fetch(new URL(path, url), {
    method,
    headers: {
      authorization: `Bearer ${testAdminToken}`,
      accept: 'application/json',
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(fetchBoundMs),
  });
  const text = await response.text();
  let body: ReplyBody | undefined;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as ReplyBody);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

async function expectStatus(reply: Promise<Reply>, status: number, what: string): Promise<Reply> {
  const answered = await reply;
  assert.equal(answered.status, status, `${what}: ${answered.status} ${answered.text}`);
  return answered;
}

async function cluster(node: Node): Promise<ClusterView> {
  return (await expectStatus(call(node.url, 'GET', '/v1/cluster'), 200, `GET /v1/cluster on ${node.id}`))
    .body as unknown as ClusterView;
}

async function createNamespace(node: Node, name: string): Promise<void> {
  await expectStatus(call(node.url, 'POST', '/v1/namespaces', { body: { name } }), 201, `create namespace ${name}`);
}

function putEntry(node: Node, ns: string, key: string, body: Record<string, unknown>): Promise<Reply> {
  return call(node.url, 'PUT', `/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`, { body });
}

/** The revision a write was acknowledged with, from its Herald-Revision header. */
function ackedRevision(reply: Reply): number {
  const header = reply.headers.get('herald-revision');
  assert.match(header ?? '', /^\d+$/u, `Herald-Revision on the write: ${String(header)}`);
  return Number(header);
}

/** Every commit of a namespace, oldest first, following `next`. */
async function history(node: Node, ns: string, limit = 1000): Promise<HistoryItem[]> {
  const items: HistoryItem[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ order: 'oldest', limit: String(limit), ...(cursor ? { cursor } : {}) });
    const page = (
      await expectStatus(
        call(node.url, 'GET', `/v1/namespaces/${ns}/history?${query.toString()}`),
        200,
        `history of ${ns}`,
      )
    ).body as unknown as {
      items: HistoryItem[];
      next?: string;
    };
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}

/** Strictly increasing and gap-free: each revision is the previous one plus one. */
function assertContiguous(revisions: number[], what: string): void {
  for (let i = 1; i < revisions.length; i += 1) {
    assert.equal(
      revisions[i],
      (revisions[i - 1] as number) + 1,
      `${what}: revision ${String(revisions[i])} follows ${String(revisions[i - 1])}`,
    );
  }
}

/**
 * Asks every node in `nodes` for /v1/cluster at once, every 200 ms, until `done` holds for the
 * answers (at most `polls` times). Asserts in every poll that at most one node that answered says it
 * leads. Returns the answers of the poll that satisfied `done`.
 */
async function pollCluster(
  nodes: Node[],
  done: (views: ClusterView[]) => boolean,
  what: string,
  polls = 75,
): Promise<ClusterView[]> {
  // Bounded by time, generously: a poll is 200 ms of pause plus the answers, which take longer
  // while a node is down.
  return eventually(
    async () => {
      const answers = await Promise.all(
        nodes.map(async (node) => {
          try {
            const reply = await call(node.url, 'GET', '/v1/cluster');
            return reply.status === 200 ? (reply.body as unknown as ClusterView) : undefined;
          } catch {
            return undefined;
          }
        }),
      );
      const views = answers.filter((view): view is ClusterView => view !== undefined);
      const leaders = views.filter((view) => view.node.leader);
      assert.ok(leaders.length <= 1, `two leaders at once: ${JSON.stringify(leaders)}`);
      return views.length === nodes.length && done(views) ? views : undefined;
    },
    {
      message: `a poll of ${nodes.map((n) => n.id).join(', ')} showing ${what}`,
      timeoutMs: polls * 1000,
      intervalMs: 200,
      fatal: () => true,
    },
  );
}

const exactlyOneLeader = (views: ClusterView[]): boolean => views.filter((view) => view.node.leader).length === 1;

/** Runs `herald server …` expected to fail before it listens; killed (and reported) if it does not end. */
function runFailingServer(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [heraldBin, ...args], {
      env: { ...process.env, HERALD_ADMIN_TOKEN: testAdminToken, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function readyStatus(node: Node): Promise<number> {
  const response = await fetch(new URL('/readyz', node.url), { signal: AbortSignal.timeout(fetchBoundMs) });
  await response.arrayBuffer();
  return response.status;
}

function nodeNamed(id: string): Node {
  const node = running.find((n) => n.id === id);
  assert.ok(node, `node ${id} is running (an earlier test failed to start it?)`);
  return node;
}

function twoNodes(): [Node, Node] {
  assert.ok(running.length >= 2, 'two nodes are running (an earlier test failed to start them?)');
  return [running[0] as Node, running[1] as Node];
}

void test('two nodes started at the same moment on a fresh database both become ready, exactly one leads; herald migrate then finds the schema current', async () => {
  const empty = new pg.Client({ connectionString: db.url });
  empty.on('error', () => undefined);
  await empty.connect();
  try {
    const { rows } = await empty.query<{ t: string | null }>(
      "SELECT to_regclass('public.schema_migrations')::text AS t",
    );
    assert.equal(rows[0]?.t, null, 'the database has no schema before the nodes start');
  } finally {
    await empty.end();
  }

  // Both launched in the same tick: each migrates the empty database as it starts.
  const [a, b] = await Promise.all([startNode('node-a'), startNode('node-b')]);
  for (const node of [a, b]) {
    assert.equal(await readyStatus(node), 200, `${node.id} /readyz`);
    const view = await cluster(node);
    assert.equal(view.node.id, node.id);
    assert.equal(view.node.store, 'postgres');
  }
  const views = await pollCluster([a, b], exactlyOneLeader, 'exactly one leader');
  const leader = views.find((view) => view.node.leader) as ClusterView;
  assert.ok(leader.node.fence >= 1, `the leader has a fence: ${JSON.stringify(leader)}`);
  assert.equal(views.find((view) => !view.node.leader)?.node.fence, 0, 'a follower has no fence');

  // Both started on one schema, migrated once: every version recorded once, in order.
  const check = new pg.Client({ connectionString: db.url });
  check.on('error', () => undefined);
  await check.connect();
  let versions: number[];
  try {
    versions = (
      await check.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    ).rows.map((row) => row.version);
  } finally {
    await check.end();
  }
  assert.ok(versions.length >= 1);
  assert.deepEqual(
    versions,
    versions.map((_v, i) => i + 1),
  );

  const migrate = await runHerald(['migrate', '--postgres', db.url]);
  assert.equal(migrate.code, 0, `herald migrate: ${migrate.stderr}`);
  assert.equal(migrate.stderr, '');
  assert.equal(migrate.stdout.trim(), `schema already at version ${versions.length}`);

  // For contrast, on a database nobody migrated, the same command migrates (and then is current).
  const other = await createTestDatabase();
  extraDatabases.push(other);
  const first = await runHerald(['migrate', '--postgres', other.url]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim(), `schema migrated from version 0 to ${versions.length}`);
  const again = await runHerald(['migrate', '--postgres', other.url]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), `schema already at version ${versions.length}`);
  await other.drop();
});

void test('a write acknowledged by one node is read at once on the other; Herald-Min-Revision waits for it, and gives 503 for a revision never reached', async () => {
  const [a, b] = twoNodes();
  await createNamespace(a, 'ryw');
  for (let i = 0; i < 10; i += 1) {
    const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
    const written = await expectStatus(
      putEntry(writer, 'ryw', 'greeting', { value: { text: `hello ${i}` } }),
      200,
      `write ${i} on ${writer.id}`,
    );
    const revision = ackedRevision(written);
    assert.equal(written.body?.revision, revision);

    const plain = await expectStatus(
      call(reader.url, 'GET', '/v1/namespaces/ryw/entries/greeting'),
      200,
      `read on ${reader.id}`,
    );
    assert.deepEqual(plain.body?.value, { text: `hello ${i}` }, `${reader.id} sees what ${writer.id} acknowledged`);
    assert.equal(plain.body?.revision, revision);

    const gated = await expectStatus(
      call(reader.url, 'GET', '/v1/namespaces/ryw/entries/greeting', {
        headers: { 'herald-min-revision': String(revision) },
      }),
      200,
      `read with Herald-Min-Revision ${revision} on ${reader.id}`,
    );
    assert.deepEqual(gated.body?.value, { text: `hello ${i}` });
    assert.ok((gated.body?.revision ?? 0) >= revision);
  }

  const current = (await cluster(b)).revision;
  const future = await call(b.url, 'GET', '/v1/namespaces/ryw/entries/greeting', {
    headers: { 'herald-min-revision': String(current + 1_000_000) },
  });
  assert.equal(future.status, 503, future.text);
  assert.equal(future.body?.code, 'unavailable');
  assert.match(future.headers.get('content-type') ?? '', /^application\/problem\+json/u);
  assert.match(future.headers.get('retry-after') ?? '', /^\d+$/u);
});

void test('conflicting writes to one entry through both nodes, each with ifRevision of the current revision: exactly one wins per round', async () => {
  const [a, b] = twoNodes();
  const ns = 'contest';
  await createNamespace(a, ns);
  let revision = ackedRevision(
    await expectStatus(putEntry(a, ns, 'contested', { value: 'start' }), 200, 'first write'),
  );
  const rounds = 8;
  for (let round = 0; round < rounds; round += 1) {
    const writers = [a, b, a, b, a, b];
    const replies = await Promise.all(
      writers.map((node, i) =>
        putEntry(node, ns, 'contested', { value: `round ${round} writer ${i}`, ifRevision: revision }),
      ),
    );
    const winners = replies.flatMap((reply, i) => (reply.status === 200 ? [i] : []));
    assert.equal(winners.length, 1, `round ${round}: one winner, got ${replies.map((r) => r.status).join(' ')}`);
    for (const [i, reply] of replies.entries()) {
      if (reply.status === 200) continue;
      assert.equal(reply.status, 412, `round ${round} writer ${i}: ${reply.text}`);
      assert.equal(reply.body?.code, 'precondition_failed');
      assert.equal(reply.body?.conflicts?.[0]?.key, 'contested', reply.text);
    }
    const winner = winners[0] as number;
    const next = ackedRevision(replies[winner] as Reply);
    assert.ok(next > revision);
    for (const node of [a, b]) {
      const read = await expectStatus(
        call(node.url, 'GET', `/v1/namespaces/${ns}/entries/contested`, {
          headers: { 'herald-min-revision': String(next) },
        }),
        200,
        `read on ${node.id}`,
      );
      assert.equal(read.body?.value, `round ${round} writer ${winner}`);
      assert.equal(read.body?.revision, next);
    }
    revision = next;
  }
  // One version per round (and the first write), nothing from the losers.
  const versions =
    (
      await expectStatus(
        call(b.url, 'GET', `/v1/namespaces/${ns}/history?key=contested&limit=1000`),
        200,
        'key history',
      )
    ).body?.items ?? [];
  assert.equal(versions.length, rounds + 1);
  assert.equal((await history(a, ns)).length, rounds + 1);
});

void test('concurrent non-conflicting writes through both nodes: the history is gap-free and holds every acknowledged write exactly once', async () => {
  const [a, b] = twoNodes();
  const ns = 'concurrent';
  await createNamespace(b, ns);
  const startRevision = (await cluster(a)).revision;
  const perWriter = 40;
  const acks: Array<{ message: string; key: string; value: number; revision: number }> = [];
  const writers = [a, b].flatMap((node) => [0, 1, 2, 3].map((w) => ({ node, key: `${node.id}/w${w}` })));
  await Promise.all(
    writers.map(async ({ node, key }) => {
      for (let i = 0; i < perWriter; i += 1) {
        const message = `${key} #${i}`;
        const reply = await expectStatus(putEntry(node, ns, key, { value: i, message }), 200, message);
        acks.push({ message, key, value: i, revision: ackedRevision(reply) });
      }
    }),
  );
  assert.equal(acks.length, writers.length * perWriter);
  assert.equal(
    new Set(acks.map((ack) => ack.revision)).size,
    acks.length,
    'every acknowledged write has its own revision',
  );

  const items = await history(a, ns);
  const revisions = items.map((item) => item.revision);
  assertContiguous(revisions, 'namespace history');
  assert.equal(revisions[0], startRevision + 1, 'the first write took the next revision');
  assert.equal(items.length, acks.length, 'one commit per acknowledged write, nothing else');
  const byMessage = new Map<string, HistoryItem[]>();
  for (const item of items) byMessage.set(item.message, [...(byMessage.get(item.message) ?? []), item]);
  for (const ack of acks) {
    const found = byMessage.get(ack.message) ?? [];
    assert.equal(found.length, 1, `${ack.message} is in the history exactly once`);
    const [item] = found as [HistoryItem];
    assert.equal(item.revision, ack.revision, `${ack.message} at the revision it was acknowledged with`);
    assert.equal(item.changes.length, 1);
    assert.equal(item.changes[0]?.key, ack.key);
    assert.equal(item.changes[0]?.entry?.value, ack.value);
  }
  // The same history, read on the other node in small pages.
  assert.deepEqual(await history(b, ns, 37), items);
  // The latest value of every key, on both nodes.
  for (const node of [a, b]) {
    const latest = ((
      await expectStatus(call(node.url, 'GET', `/v1/namespaces/${ns}/entries?limit=1000`), 200, 'entries')
    ).body?.items ?? []) as Array<{ key: string; value: unknown }>;
    assert.deepEqual(
      latest.map((entry) => [entry.key, entry.value]),
      writers.map(({ key }) => [key, perWriter - 1]).sort(),
    );
  }
});

void test('SIGKILL of the leader hands leadership to another node with a larger fence, never two leaders at once', async () => {
  await startNode('node-c');
  const nodes = [...running];
  assert.equal(nodes.length, 3);
  const views = await pollCluster(nodes, exactlyOneLeader, 'exactly one leader of three');
  const old = views.find((view) => view.node.leader) as ClusterView;
  const killed = nodeNamed(old.node.id);
  const survivors = nodes.filter((node) => node !== killed);

  assert.equal(await killed.process.kill('SIGKILL'), 'SIGKILL');
  running = running.filter((node) => node !== killed);
  const handedOver = await pollCluster(
    survivors,
    (answers) => answers.some((view) => view.node.leader && view.node.fence > old.node.fence),
    'a new leader',
  );
  const successor = handedOver.find((view) => view.node.leader) as ClusterView;
  assert.notEqual(successor.node.id, killed.id);

  // The term is recorded in the database: the fence the new leader reports, its holder.
  const term = new pg.Client({ connectionString: db.url });
  term.on('error', () => undefined);
  await term.connect();
  try {
    const recorded = await term.query<{ fence: string; holder: string }>(
      "SELECT fence::text, holder FROM leadership WHERE name = 'controller'",
    );
    assert.equal(Number(recorded.rows[0]?.fence), successor.node.fence);
    assert.ok(recorded.rows[0]?.holder.startsWith(`${successor.node.id}:`), JSON.stringify(recorded.rows));
  } finally {
    await term.end();
  }

  // The killed node comes back as a follower; the leader keeps its term.
  const back = await startNode(killed.id);
  const settled = await pollCluster([...survivors, back], exactlyOneLeader, 'one leader after the restart');
  assert.deepEqual(
    settled.map((view) => [view.node.id, view.node.leader, view.node.fence]).sort(),
    [...survivors, back]
      .map((node) => [node.id, node.id === successor.node.id, node.id === successor.node.id ? successor.node.fence : 0])
      .sort(),
  );
});

void test('a node started with another secret key refuses to start with one line naming the fingerprints; the cluster key is unchanged', async () => {
  const readFingerprint = async (): Promise<string | undefined> => {
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<{ value: string }>("SELECT value FROM settings WHERE name = 'secret_key_fingerprint'"))
        .rows[0]?.value;
    } finally {
      await client.end();
    }
  };
  const clusterFingerprint = new SecretCipher(clusterKey).fingerprint();
  assert.equal(await readFingerprint(), clusterFingerprint);

  const otherKey = randomBytes(32);
  const otherFile = join(dir.path, 'other.key');
  await writeFile(otherFile, `${otherKey.toString('base64')}\n`, { mode: 0o600 });
  const attempts: Array<{ how: string; args: string[]; env: Record<string, string> }> = [
    { how: '--secret-key-file', args: serverArgs('node-wrong-file', ['--secret-key-file', otherFile]), env: {} },
    {
      how: 'HERALD_SECRET_KEY',
      args: serverArgs('node-wrong-env', []),
      env: { HERALD_SECRET_KEY: otherKey.toString('base64') },
    },
  ];
  for (const attempt of attempts) {
    const result = await runFailingServer(attempt.args, attempt.env);
    assert.equal(
      result.signal,
      null,
      `${attempt.how}: the node ended by itself (it was still running after 30 s: ${result.stdout})`,
    );
    assert.notEqual(result.code, 0, `${attempt.how}: exit code`);
    assert.doesNotMatch(result.stdout, /listening on/u, `${attempt.how}: it never listened`);
    assert.match(result.stderr, /^herald: [^\n]+\n$/u, `${attempt.how}: exactly one line on stderr: ${result.stderr}`);
    assert.match(result.stderr, /secret key/iu);
    assert.ok(
      result.stderr.includes(clusterFingerprint),
      `${attempt.how}: names the cluster key's fingerprint: ${result.stderr}`,
    );
    assert.ok(
      result.stderr.includes(new SecretCipher(otherKey).fingerprint()),
      `${attempt.how}: names its own key's fingerprint: ${result.stderr}`,
    );
  }
  assert.equal(await readFingerprint(), clusterFingerprint, 'the refused nodes changed nothing');

  // The same key given the other way (HERALD_SECRET_KEY) is accepted: the refusal was about the key.
  const same = await startHeraldProcess(serverArgs('node-same-env', []), {
    HERALD_SECRET_KEY: clusterKey.toString('base64'),
  });
  started.push(same);
  assert.equal(await readyStatus({ id: 'node-same-env', url: same.url, process: same, stderr: [] }), 200);
  assert.equal(await same.kill('SIGTERM'), 0);
});

type Outcome =
  | { kind: 'ok'; node: string; message: string; key: string; value: number; revision: number }
  | { kind: 'unavailable'; node: string; message: string }
  | { kind: 'unexpected'; node: string; message: string; detail: string };

void test('every PostgreSQL backend terminated while writers run: 503s, no hang, recovery, no acknowledged write lost or applied twice', async () => {
  const nodes = [...running];
  assert.ok(nodes.length >= 2);
  const ns = 'outage';
  await createNamespace(nodes[0] as Node, ns);
  const fenceBefore =
    (await pollCluster(nodes, exactlyOneLeader, 'one leader before the outage')).find((view) => view.node.leader)?.node
      .fence ?? 0;
  const revisionBefore = (await cluster(nodes[0] as Node)).revision;

  const outcomes: Outcome[] = [];
  const probes: Array<{ node: string; status: number | string }> = [];
  let phase: 'before' | 'outage' | 'after' = 'before';
  let stop = false;
  const successesAfter = new Map<string, number>();

  const writers = nodes.flatMap((node) => [0, 1, 2, 3].map((w) => ({ node, key: `${node.id}/w${w}` })));
  const writing = Promise.all(
    writers.map(async ({ node, key }) => {
      for (let i = 0; !stop; i += 1) {
        const message = `${key} #${i}`;
        const wasAfter = phase === 'after';
        try {
          const reply = await putEntry(node, ns, key, { value: i, message });
          if (reply.status === 200) {
            outcomes.push({ kind: 'ok', node: node.id, message, key, value: i, revision: ackedRevision(reply) });
            if (wasAfter) successesAfter.set(key, (successesAfter.get(key) ?? 0) + 1);
          } else if (
            reply.status === 503 &&
            reply.body?.code === 'unavailable' &&
            /^\d+$/u.test(reply.headers.get('retry-after') ?? '')
          ) {
            outcomes.push({ kind: 'unavailable', node: node.id, message });
            await sleep(50);
          } else {
            outcomes.push({
              kind: 'unexpected',
              node: node.id,
              message,
              detail: `${reply.status} retry-after=${String(reply.headers.get('retry-after'))} ${reply.text}`,
            });
          }
        } catch (error) {
          // A timeout (a hang) or a refused connection (a dead node): both failures.
          outcomes.push({ kind: 'unexpected', node: node.id, message, detail: String(error) });
          await sleep(50);
        }
        if (wasAfter && (successesAfter.get(key) ?? 0) >= 5) break;
      }
    }),
  );
  const probing = (async () => {
    while (!stop) {
      await Promise.all(
        nodes.map(async (node) => {
          try {
            probes.push({ node: node.id, status: await readyStatus(node) });
          } catch (error) {
            probes.push({ node: node.id, status: String(error) });
          }
        }),
      );
      await sleep(50);
    }
  })();

  let terminated = 0;
  try {
    await eventually(() => outcomes.filter((o) => o.kind === 'ok').length >= 40, {
      message: '40 acknowledged writes before the outage',
    });
    // The outage: every backend of the database, again and again for a while, so that requests
    // meet dead connections, connections being replaced, and connections refused mid-handshake.
    phase = 'outage';
    for (let round = 0; round < 50; round += 1) {
      const { rows } = await admin.query<{ n: string }>(
        'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db.name],
      );
      terminated += Number(rows[0]?.n ?? 0);
      await sleep(20 + (round % 5) * 10);
    }
    phase = 'after';
    await eventually(
      () =>
        writers.every(({ key }) => (successesAfter.get(key) ?? 0) >= 5) ||
        outcomes.some((o) => o.kind === 'unexpected'),
      { message: 'every writer to succeed again' },
    );
  } finally {
    stop = true;
    await writing;
    await probing;
  }

  const unexpected = outcomes.filter((o) => o.kind === 'unexpected');
  const exits = nodes
    .map(
      (node) =>
        `${node.id}: exit ${String(node.process.child.exitCode ?? node.process.child.signalCode)}, stderr ${node.stderr.join('')}`,
    )
    .join('\n');
  assert.deepEqual(
    unexpected,
    [],
    `every request got 200 or 503 unavailable with Retry-After, none hung or failed otherwise\n${exits}`,
  );
  assert.ok(terminated > 0, 'backends were terminated');
  const unavailable = outcomes.filter((o) => o.kind === 'unavailable');
  assert.ok(unavailable.length > 0, 'some writes met the outage and got 503');
  for (const probe of probes)
    assert.ok(probe.status === 200 || probe.status === 503, `/readyz on ${probe.node}: ${String(probe.status)}`);
  for (const { key } of writers) assert.ok((successesAfter.get(key) ?? 0) >= 5, `${key} wrote again after the outage`);
  for (const node of nodes) assert.equal(node.process.child.exitCode, null, `${node.id} is still running`);

  // Recovered: ready, writes through every node readable on the others at once.
  for (const node of nodes) {
    let status = 0;
    await eventually(
      async () => {
        status = await readyStatus(node);
        return status === 200;
      },
      { message: `${node.id} /readyz to be 200 again`, timeoutMs: 75_000, intervalMs: 200, fatal: () => true },
    );
    assert.equal(status, 200, `${node.id} /readyz is 200 again`);
  }
  const finalWrites: Array<{ message: string; revision: number }> = [];
  for (const [i, node] of nodes.entries()) {
    const message = `after the outage via ${node.id}`;
    const reply = await expectStatus(putEntry(node, ns, 'final', { value: i, message }), 200, message);
    finalWrites.push({ message, revision: ackedRevision(reply) });
    const reader = nodes[(i + 1) % nodes.length] as Node;
    const read = await expectStatus(
      call(reader.url, 'GET', `/v1/namespaces/${ns}/entries/final`, {
        headers: { 'herald-min-revision': String(ackedRevision(reply)) },
      }),
      200,
      `read on ${reader.id}`,
    );
    assert.equal(read.body?.value, i);
  }

  // Nothing acknowledged was lost, nothing was applied twice, and the revisions have no hole.
  const items = await history(nodes[1] as Node, ns);
  assertContiguous(
    items.map((item) => item.revision),
    'namespace history across the outage',
  );
  assert.equal(items[0]?.revision, revisionBefore + 1);
  const byMessage = new Map<string, HistoryItem[]>();
  for (const item of items) byMessage.set(item.message, [...(byMessage.get(item.message) ?? []), item]);
  for (const [message, found] of byMessage) assert.equal(found.length, 1, `${message} applied once`);
  const acked = outcomes.flatMap((o) => (o.kind === 'ok' ? [o] : []));
  for (const ack of acked) {
    const item = byMessage.get(ack.message)?.[0];
    assert.ok(item, `acknowledged ${ack.message} (revision ${ack.revision}) is in the history`);
    assert.equal(item.revision, ack.revision);
    assert.equal(item.changes[0]?.key, ack.key);
    assert.equal(item.changes[0]?.entry?.value, ack.value);
  }
  for (const write of finalWrites) assert.equal(byMessage.get(write.message)?.[0]?.revision, write.revision);
  const attempted = new Set(outcomes.map((o) => o.message));
  for (const message of byMessage.keys())
    assert.ok(attempted.has(message) || message.startsWith('after the outage'), `${message} was written by the test`);

  // Leadership came back with a new term (its connection was terminated too), and every node
  // listens for new revisions again.
  const views = await pollCluster(
    nodes,
    (answers) => answers.some((view) => view.node.leader && view.node.fence > fenceBefore),
    'a leader with a new term',
  );
  assert.equal(views.filter((view) => view.node.leader).length, 1);
  let listening = 0;
  await eventually(
    async () => {
      const { rows } = await admin.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'herald-listen'",
        [db.name],
      );
      listening = Number(rows[0]?.n ?? 0);
      return listening === nodes.length;
    },
    { message: 'one LISTEN connection per node again', timeoutMs: 75 * 1000, intervalMs: 200, fatal: () => true },
  );
  assert.equal(listening, nodes.length, 'one LISTEN connection per node again');
  console.log(
    `outage: ${terminated} backends terminated; ${acked.length} writes acknowledged, ${unavailable.length} answered 503; ${probes.filter((p) => p.status === 503).length} /readyz 503s`,
  );
});

void test('a database closed to connections, then read-only (a standby, as during a failover): 503 unavailable, never a 500 or a hang; refused writes are not applied; recovery', async () => {
  const nodes = [...running];
  assert.ok(nodes.length >= 2);
  const ns = 'refusal';
  await createNamespace(nodes[0] as Node, ns);
  const acked: Array<{ message: string; revision: number }> = [];
  const refused: string[] = [];
  const write = async (node: Node, message: string): Promise<Reply> => {
    const reply = await putEntry(node, ns, 'k', { value: message, message });
    if (reply.status === 200) acked.push({ message, revision: ackedRevision(reply) });
    else refused.push(message);
    return reply;
  };
  const expectUnavailable = (reply: Reply, what: string): void => {
    assert.equal(reply.status, 503, `${what}: ${reply.text}`);
    assert.equal(reply.body?.code, 'unavailable', what);
    assert.match(reply.headers.get('retry-after') ?? '', /^\d+$/u, `${what}: Retry-After`);
  };
  const terminateAll = () =>
    admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [db.name],
    );
  /** The first write after a fault may still meet a connection the pool has not dropped yet. */
  // Each bounded generously in time: a try is 200 ms of pause plus a request to a recovering node.
  const writeOnceRecovered = async (node: Node, message: string): Promise<void> => {
    let attempt = 0;
    await eventually(
      async () => {
        const reply = await write(node, `${message} (attempt ${attempt})`);
        attempt += 1;
        if (reply.status === 200) return true;
        expectUnavailable(reply, `${message} while recovering`);
        return undefined;
      },
      {
        message: `${message}: a write that succeeds on ${node.id}`,
        timeoutMs: 75_000,
        intervalMs: 200,
        fatal: () => true,
      },
    );
  };
  const readyAgain = async (node: Node): Promise<void> => {
    let status = 0;
    await eventually(
      async () => {
        status = await readyStatus(node);
        return status === 200;
      },
      { message: `${node.id} /readyz to be 200 again`, timeoutMs: 75_000, intervalMs: 200, fatal: () => true },
    );
    assert.equal(status, 200, `${node.id} /readyz is 200 again`);
  };
  for (const node of nodes) assert.equal((await write(node, `before, via ${node.id}`)).status, 200);

  // Closed to connections: every new connection is refused, and the open ones are terminated.
  await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
  try {
    await terminateAll();
    for (const node of nodes) {
      assert.equal(await readyStatus(node), 503, `${node.id} /readyz while the database refuses connections`);
      expectUnavailable(await call(node.url, 'GET', `/v1/namespaces/${ns}/entries/k`), `read on ${node.id}`);
      expectUnavailable(await write(node, `closed, via ${node.id}`), `write on ${node.id}`);
      expectUnavailable(await call(node.url, 'GET', '/v1/cluster'), `/v1/cluster on ${node.id}`);
    }
  } finally {
    await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
  }
  for (const node of nodes) {
    await readyAgain(node);
    await writeOnceRecovered(node, `reopened, via ${node.id}`);
  }

  // Read-only, as a standby is: reads are served, writes are refused with 503 and change nothing.
  await admin.query(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`);
  try {
    await terminateAll();
    for (const node of nodes) {
      let read: Reply | undefined;
      await eventually(
        async () => {
          read = await call(node.url, 'GET', `/v1/namespaces/${ns}/entries/k`);
          if (read.status === 200) return true;
          expectUnavailable(read, `read on ${node.id} after the termination`);
          return undefined;
        },
        {
          message: `a read on ${node.id} from the read-only database`,
          timeoutMs: 75_000,
          intervalMs: 200,
          fatal: () => true,
        },
      );
      assert.equal(read?.status, 200, `reads are served by ${node.id} from a read-only database`);
      expectUnavailable(await write(node, `read-only, via ${node.id}`), `write on ${node.id} to a read-only database`);
      expectUnavailable(
        await call(node.url, 'POST', '/v1/namespaces', { body: { name: `ro-${node.id}` } }),
        `namespace creation on ${node.id}`,
      );
    }
  } finally {
    await admin.query(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`);
    await terminateAll();
  }
  for (const node of nodes) {
    await readyAgain(node);
    await writeOnceRecovered(node, `writable again, via ${node.id}`);
    assert.equal((await write(node, `and again, via ${node.id}`)).status, 200, `writes through ${node.id} succeed`);
  }
  for (const node of nodes) assert.equal(node.process.child.exitCode, null, `${node.id} is still running`);
  for (const node of nodes)
    assert.equal(
      (await call(node.url, 'GET', `/v1/namespaces/ro-${node.id}`)).status,
      404,
      'the refused namespace was not created',
    );

  // Exactly the acknowledged writes are in the history: nothing refused was applied.
  const items = await history(nodes[0] as Node, ns);
  assertContiguous(
    items.map((item) => item.revision),
    'namespace history',
  );
  assert.deepEqual(
    items.map((item) => [item.message, item.revision]),
    acked.map((ack) => [ack.message, ack.revision]).sort((x, y) => (x[1] as number) - (y[1] as number)),
  );
  assert.ok(refused.length >= nodes.length * 2);
  await pollCluster(nodes, exactlyOneLeader, 'one leader again');
});
