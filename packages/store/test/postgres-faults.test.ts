// PostgreSQL-only behaviour: several nodes on one database, lost connections, a server that goes
// away, migrations racing, and leadership. Everything runs against the real server: connections are
// cut with pg_terminate_backend, or by a TCP proxy on loopback that the test closes and reopens.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { AuditChainVerifier, isHeraldError, type AuditInput, type Change, type CommitRecord } from '@herald/core';
import { PostgresLeadership, leadershipApplicationName } from '../src/postgres/leadership.js';
import { migratePostgres, postgresMigrations } from '../src/postgres/migrations.js';
import { PostgresStore } from '../src/postgres/postgres-store.js';
import { createTestDatabase, terminateBackends, type TestDatabase } from '../src/testing/postgres-database.js';
import type { CommitResult, Store } from '../src/types.js';

const audit: AuditInput = { actor: 'tester', action: 'entries.commit', target: 'test' };
const noLimit = { maxEntriesPerNamespace: 1_000_000 };

function set(key: string, text: string, extra: Partial<Change> = {}): Change {
  return { op: 'set', key, label: '', text, contentType: 'text/plain', tags: {}, secret: false, ...extra };
}

function commit(store: Store, namespace: string, changes: Change[], message = 'm'): Promise<CommitResult> {
  return store.commit({ namespace, changes, author: 'tester', message }, audit, noLimit);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(
  attempt: () => Promise<T | undefined> | T | undefined,
  what: string,
  boundMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined && value !== false) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function codeOf(error: unknown): string {
  return isHeraldError(error) ? error.code : `not a HeraldError: ${String(error)}`;
}

async function allCommits(store: Store, namespaces: readonly string[]): Promise<CommitRecord[]> {
  const found: CommitRecord[] = [];
  for (const namespace of namespaces) {
    let afterRevision: number | undefined;
    for (;;) {
      const page = await store.listCommits({
        namespace,
        order: 'oldest',
        limit: 500,
        ...(afterRevision === undefined ? {} : { afterRevision }),
      });
      found.push(...page);
      if (page.length < 500) break;
      afterRevision = page.at(-1)?.revision;
    }
  }
  return found.sort((a, b) => a.revision - b.revision);
}

async function createNamespaces(store: Store, names: readonly string[]): Promise<void> {
  for (const name of names)
    await store.createNamespace(
      { name, description: '', schema: null },
      { actor: 'tester', action: 'namespace.create', target: name },
    );
}

/** A TCP proxy on loopback in front of PostgreSQL, which the test can cut and restore. */
class Proxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #target: { host: string; port: number };
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => {
      const upstream = connect(this.#target.port, this.#target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      const poisoned = this.poisonNext;
      this.poisonNext = false;
      upstream.on('data', (chunk: Buffer) => {
        const ready = poisoned ? chunk.indexOf(readyForQuery) : -1;
        if (ready === -1) {
          client.write(chunk);
          return;
        }
        // The backend is terminated the moment it is ready: its FATAL error arrives in the same packet.
        client.write(Buffer.concat([chunk.subarray(0, ready + 6), terminatingPacket()]));
        client.end();
        upstream.destroy();
      });
      let linked = true;
      client.on('data', (chunk: Buffer) => {
        const mode = this.onCommit;
        if (mode !== undefined && carriesCommit(chunk)) {
          this.onCommit = undefined;
          linked = false;
          if (mode === 'deliver') {
            // The server gets COMMIT; the client never hears back.
            upstream.write(chunk);
            upstream.end();
          } else {
            upstream.destroy();
          }
          client.destroy();
          return;
        }
        upstream.write(chunk);
      });
      client.on('close', () => {
        if (linked) upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
  }

  /**
   * Arms a one-shot cut at the next commit (COMMIT, or a commit round's call) a client sends:
   * 'deliver' passes it to the server and then drops the connection, so the client cannot know the
   * outcome; 'drop' drops it unsent.
   */
  onCommit: 'deliver' | 'drop' | undefined;

  /** The next connection is killed by the server right after it became ready. */
  poisonNext = false;

  async start(port = 0): Promise<void> {
    this.#server.listen(port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as { port: number }).port;
  }

  /** The server is gone: connections drop and new ones are refused. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Traffic stops flowing but nothing is closed, as with a partitioned network. */
  freeze(): void {
    for (const socket of this.#sockets) socket.pause();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// A simple-protocol Query message carrying COMMIT, as pg sends it.
const commitMessage = Buffer.concat([Buffer.from('Q'), Buffer.from([0, 0, 0, 11]), Buffer.from('COMMIT\0')]);
// A commit round's call, which is the commit when sent alone (its own transaction).
const commitRoundCall = Buffer.from('SELECT herald_commit_round(');

/** A chunk that carries a commit: COMMIT, or a commit round's call. */
function carriesCommit(chunk: Buffer): boolean {
  return chunk.includes(commitMessage) || chunk.includes(commitRoundCall);
}

const readyForQuery = Buffer.from([0x5a, 0, 0, 0, 5]);

/** ErrorResponse FATAL 57P01, as PostgreSQL sends it to a backend killed by pg_terminate_backend. */
function terminatingPacket(): Buffer {
  const field = (code: string, value: string): Buffer => Buffer.from(`${code}${value}\0`);
  const body = Buffer.concat([
    field('S', 'FATAL'),
    field('V', 'FATAL'),
    field('C', '57P01'),
    field('M', 'terminating connection due to administrator command'),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function viaProxy(url: string, port: number): string {
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return proxied.toString();
}

void describe('PostgresStore with two nodes on one database', () => {
  let database: TestDatabase;
  let a: PostgresStore;
  let b: PostgresStore;
  let counter = 0;
  const fresh = (): string => `ns${(counter += 1)}`;

  before(async () => {
    database = await createTestDatabase();
    // Both nodes open (and migrate) at once, as a cluster's nodes do when started together.
    [a, b] = await Promise.all([
      PostgresStore.open({ connectionString: database.url, revisionCheckMs: 200, poolSize: 5 }),
      PostgresStore.open({ connectionString: database.url, revisionCheckMs: 200, poolSize: 5 }),
    ]);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  void it('migrations ran once although both nodes started together', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        postgresMigrations.map((_, i) => i + 1),
      );
    } finally {
      await client.end();
    }
    assert.deepEqual(await migratePostgres(database.url), {
      from: postgresMigrations.length,
      to: postgresMigrations.length,
    });
  });

  void it('a commit on one node is readable on the other at once', async () => {
    const ns = fresh();
    await createNamespaces(a, [ns]);
    const result = await commit(a, ns, [set('k', 'from a')]);
    assert.equal(await b.currentRevision(), result.revision);
    assert.deepEqual(await b.readEntries({ namespace: ns }), result.versions);
    assert.equal((await b.getNamespace(ns))?.revision, result.revision);
  });

  void it("records a node keeps in memory follow the other node's changes", async () => {
    const ns = fresh();
    await createNamespaces(a, [ns]);
    const by = { actor: 'tester', action: 'test', target: ns };
    // Node B reads (and keeps) the namespace and an absent setting; node A then changes both.
    assert.equal((await b.getNamespace(ns))?.revision, 0);
    assert.equal(await b.getSetting(`${ns}.setting`), undefined);
    const { revision } = await commit(a, ns, [set('k', 'v')]);
    await eventually(async () => (await b.getNamespace(ns))?.revision === revision, 'node B to see the new revision');
    assert.equal((await b.getNamespace(ns))?.entryCount, 1);
    await a.updateNamespace(ns, { description: 'changed on A' }, by);
    await eventually(
      async () => (await b.getNamespace(ns))?.description === 'changed on A',
      'node B to see the update',
    );
    await a.putSetting(`${ns}.setting`, 'on', by);
    await eventually(async () => (await b.getSetting(`${ns}.setting`)) === 'on', 'node B to see the setting');
    // (An empty namespace: deleting one with commits would leave a gap in the store's commits, which
    // a later test checks.)
    const empty = fresh();
    await createNamespaces(a, [empty]);
    assert.equal((await b.getNamespace(empty))?.name, empty);
    await a.deleteNamespace(empty, { force: false }, by);
    await eventually(
      async () => (await b.getNamespace(empty)) === undefined || undefined,
      'node B to see the deletion',
    );
    // And a node's own changes are its own at once.
    const again = await commit(b, ns, [set('k2', 'v')]);
    assert.equal((await b.getNamespace(ns))?.revision, again.revision);
    assert.equal((await b.getNamespace(ns))?.entryCount, 2);
  });

  void it("a node decides on the current state after the other node's commits, never on what it remembers", async () => {
    const ns = fresh();
    await createNamespaces(a, [ns]);
    const first = await commit(a, ns, [set('k', 'from a')]);
    const second = await commit(b, ns, [set('k', 'from b')]);
    // A remembers its own version; a precondition on B's must still hold, one on its own must fail.
    const stale = await commit(a, ns, [set('k', 'again', { ifRevision: first.revision })]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(codeOf(stale), 'precondition_failed');
    const fresh2 = await commit(a, ns, [set('k', 'on b', { ifRevision: second.revision })]);
    assert.equal(fresh2.revision, second.revision + 1);
    assert.equal((await b.getNamespace(ns))?.entryCount, 1);
    // Alternating nodes: gap-free revisions, one audit chain.
    const revisions: number[] = [];
    for (let i = 0; i < 10; i += 1)
      revisions.push((await commit(i % 2 === 0 ? b : a, ns, [set(`k${i}`, 'v')])).revision);
    assert.deepEqual(
      revisions,
      Array.from({ length: 10 }, (_, i) => fresh2.revision + i + 1),
    );
    const verifier = new AuditChainVerifier();
    for (let after = 0; ;) {
      const page = await b.listAudit({ afterSeq: after, limit: 500 });
      if (page.length === 0) break;
      for (const record of page) verifier.add(record);
      after = page.at(-1)?.seq ?? after;
    }
    assert.equal(verifier.result().ok, true);
    assert.equal((await a.getNamespace(ns))?.entryCount, 11);
  });

  void it("one node's watcher hears the other node's commits", async () => {
    const ns = fresh();
    await createNamespaces(a, [ns]);
    const heard: number[] = [];
    const stop = b.watchRevisions((revision) => heard.push(revision));
    try {
      for (let i = 0; i < 3; i += 1) {
        const { revision } = await commit(a, ns, [set('k', String(i))]);
        await eventually(() => heard.some((r) => r >= revision), `node B to hear revision ${revision}`);
      }
    } finally {
      stop();
    }
  });

  void it('a commit the database refuses fails alone, not the group commit it was part of', async () => {
    const ns = fresh();
    await createNamespaces(a, [ns]);
    const start = await a.currentRevision();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        commit(a, ns, [set(`k${i}`, 'v')], i === 4 ? 'bad\u0000message' : `good ${i}`),
      ),
    );
    assert.equal(outcomes[4]?.status, 'rejected');
    assert.equal(codeOf(outcomes[4].reason), 'invalid_request');
    const revisions = outcomes
      .flatMap((o) => (o.status === 'fulfilled' ? [o.value.revision] : []))
      .sort((x, y) => x - y);
    assert.deepEqual(
      revisions,
      Array.from({ length: 9 }, (_, i) => start + i + 1),
    );
    assert.equal((await a.readEntries({ namespace: ns })).length, 9);
  });

  void it('claimSetting from both nodes at once: one value wins everywhere', async () => {
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).claimSetting('fingerprint', `node-${i}`)),
    );
    assert.equal(new Set(claims).size, 1);
    assert.equal(await b.claimSetting('fingerprint', 'late'), claims[0]);
  });

  void it('a release and a compaction racing from two nodes: no release is left below the compaction horizon', async () => {
    for (let round = 0; round < 20; round += 1) {
      const ns = fresh();
      await createNamespaces(a, [ns]);
      const first = await commit(a, ns, [set('k', '0')]);
      for (let i = 1; i <= 3; i += 1) await commit(a, ns, [set('k', String(i))]);
      const target = await a.currentRevision();
      const [release, compaction] = await Promise.allSettled([
        b.createRelease({ namespace: ns, revision: first.revision, kind: 'manual', author: 't', note: '' }, audit),
        a.compact(target, audit),
      ]);
      const horizon = await a.compactedRevision();
      if (release.status === 'fulfilled') {
        assert.ok(
          horizon <= first.revision,
          `round ${round}: release at ${first.revision} but history compacted to ${horizon}`,
        );
        assert.equal(compaction.status, 'rejected');
      } else {
        assert.equal(codeOf(release.reason), 'revision_compacted');
      }
      // Releases pin their revision: later rounds must be able to compact again.
      if (release.status === 'fulfilled') {
        await a.createRelease({ namespace: ns, kind: 'manual', author: 't', note: '' }, audit);
      }
    }
  });

  void it('concurrent conflicting commits from both nodes: exactly one wins', async () => {
    const ns = fresh();
    await createNamespaces(a, [ns]);
    const seed = await commit(a, ns, [set('k', 'seed')]);
    const attempts = Array.from({ length: 20 }, (_, i) =>
      commit(i % 2 === 0 ? a : b, ns, [set('k', `writer ${i}`, { ifRevision: seed.revision })]),
    );
    const outcomes = await Promise.allSettled(attempts);
    const winners = outcomes.filter((o): o is PromiseFulfilledResult<CommitResult> => o.status === 'fulfilled');
    assert.equal(winners.length, 1);
    for (const o of outcomes) if (o.status === 'rejected') assert.equal(codeOf(o.reason), 'precondition_failed');
    const [entry] = await b.readEntries({ namespace: ns, key: 'k' });
    assert.equal(entry?.text, winners[0]?.value.versions[0]?.text);
    assert.equal(entry?.revision, winners[0]?.value.revision);
  });

  void it('commits from both nodes are gap-free and never visible out of order', async () => {
    const namespaces = [fresh(), fresh(), fresh()];
    await createNamespaces(a, namespaces);
    const start = await a.currentRevision();
    const observer = await PostgresStore.open({ connectionString: database.url, revisionCheckMs: 200 });
    let seen = start;
    let writing = true;
    const violations: string[] = [];
    // Reads the current revision, then every commit up to it: if revision N+1 could be seen before
    // N, some pass would find N+1 and not N.
    const watcher = (async () => {
      while (writing || seen < (await observer.currentRevision())) {
        const current = await observer.currentRevision();
        const commits = (await allCommits(observer, namespaces)).filter(
          (c) => c.revision > seen && c.revision <= current,
        );
        const expected = Array.from({ length: current - seen }, (_, i) => seen + i + 1);
        const got = commits.map((c) => c.revision);
        if (got.join() !== expected.join()) violations.push(`after ${seen} up to ${current}: saw ${got.join()}`);
        seen = current;
      }
    })();
    const results: CommitResult[] = [];
    for (let wave = 0; wave < 6; wave += 1) {
      results.push(
        ...(await Promise.all(
          Array.from({ length: 30 }, (_, i) => {
            const node = i % 2 === 0 ? a : b;
            return commit(node, namespaces[(i + wave) % 3] as string, [set(`w${wave}/k${i}`, 'v')]);
          }),
        )),
      );
    }
    writing = false;
    await watcher;
    await observer.close();
    assert.deepEqual(violations, []);
    const revisions = results.map((r) => r.revision).sort((x, y) => x - y);
    assert.deepEqual(
      revisions,
      Array.from({ length: 180 }, (_, i) => start + i + 1),
    );
    assert.equal(seen, start + 180);
  });

  void it('backends terminated under a stream of commits: calls fail with unavailable, then recover; nothing lost or doubled', async (t) => {
    const namespaces = [fresh(), fresh()];
    await createNamespaces(a, namespaces);
    const heardOnB: number[] = [];
    const stopWatching = b.watchRevisions((r) => heardOnB.push(r));
    const acknowledged = new Map<string, number>();
    const failures: string[] = [];
    let streaming = true;
    const stream = async (node: Store, name: string, namespace: string): Promise<void> => {
      for (let i = 0; streaming; i += 1) {
        const key = `${name}/${i}`;
        try {
          const { revision } = await commit(node, namespace, [set(key, 'v')], key);
          acknowledged.set(key, revision);
        } catch (error) {
          failures.push(codeOf(error));
          await sleep(20);
        }
      }
    };
    const streams = [stream(a, 'a', namespaces[0] as string), stream(b, 'b', namespaces[1] as string)];
    await eventually(() => acknowledged.size >= 20, 'the streams to get going');
    // Terminate every backend of the database, repeatedly, until some call has seen it.
    for (let round = 0; round < 100 && failures.length === 0; round += 1) {
      await terminateBackends(database.name);
      await sleep(10);
    }
    const perNode = (prefix: string): number => [...acknowledged.keys()].filter((k) => k.startsWith(prefix)).length;
    const atCut = { a: perNode('a/'), b: perNode('b/') };
    await eventually(
      () => perNode('a/') > atCut.a + 5 && perNode('b/') > atCut.b + 5,
      'both nodes to commit again after the terminations',
    );
    streaming = false;
    await Promise.all(streams);
    t.diagnostic(`${acknowledged.size} commits acknowledged, ${failures.length} failed`);
    assert.ok(failures.length > 0, 'terminating the backends made some calls fail');
    assert.deepEqual([...new Set(failures)], ['unavailable']);

    // Every acknowledged commit is there, at its revision, exactly once; nothing is there twice.
    const commits = await allCommits(b, namespaces);
    const byMessage = new Map<string, number[]>();
    for (const c of commits) byMessage.set(c.message, [...(byMessage.get(c.message) ?? []), c.revision]);
    for (const [key, revisions] of byMessage)
      assert.equal(revisions.length, 1, `${key} was applied ${revisions.length} times`);
    for (const [key, revision] of acknowledged) {
      assert.deepEqual(byMessage.get(key), [revision], `acknowledged commit ${key} is stored at its revision`);
      const [entry] = await a.readEntries({
        namespace: key.startsWith('a/') ? (namespaces[0] as string) : (namespaces[1] as string),
        key,
      });
      assert.equal(entry?.revision, revision);
    }
    // Still gap-free store-wide, and the audit chain is whole.
    const current = await a.currentRevision();
    const everything = await allCommits(
      a,
      (await a.listNamespaces({ limit: 100 })).map((n) => n.name),
    );
    assert.deepEqual(
      everything.map((c) => c.revision),
      Array.from({ length: current }, (_, i) => i + 1),
    );
    const verifier = new AuditChainVerifier();
    for (let afterSeq = 0; ;) {
      const page = await a.listAudit({ afterSeq, limit: 500 });
      for (const record of page) verifier.add(record);
      if (page.length < 500) break;
      afterSeq = page.at(-1)?.seq ?? afterSeq;
    }
    assert.equal(verifier.result().ok, true, JSON.stringify(verifier.result().firstBad));
    // B's watcher survived its listening connection being killed.
    const last = await commit(a, namespaces[0] as string, [set('after', 'v')]);
    await eventually(
      () => heardOnB.some((r) => r >= last.revision),
      "B's watcher to hear a commit made after the terminations",
    );
    stopWatching();
  });
});

void describe('PostgresStore when the server goes away', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  void it('open rejects with unavailable when nothing listens', async () => {
    const closed = new Proxy({ host: '127.0.0.1', port: 1 });
    await closed.start();
    const port = closed.port;
    await closed.close();
    const error = await PostgresStore.open({
      connectionString: viaProxy(database.url, port),
      connectionTimeoutMs: 1000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(codeOf(error), 'unavailable');
    assert.equal((error as { retryAfter?: number }).retryAfter, 1);
  });

  void it('calls reject with unavailable while the server is unreachable, and the store recovers when it is back', async () => {
    const target = new URL(database.url);
    const proxy = new Proxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const store = await PostgresStore.open({
      connectionString: viaProxy(database.url, proxy.port),
      connectionTimeoutMs: 1000,
      revisionCheckMs: 100,
    });
    try {
      await createNamespaces(store, ['app']);
      const first = await commit(store, 'app', [set('a', '1')]);
      const heard: number[] = [];
      store.watchRevisions((r) => heard.push(r));
      await proxy.cut();
      for (const call of [
        () => commit(store, 'app', [set('b', '1')]),
        () => store.readEntries({ namespace: 'app' }),
        () => store.currentRevision(),
        () => store.appendAudit({ actor: 'x', action: 'y', target: 'z' }),
      ]) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.equal(codeOf(error), 'unavailable');
      }
      await proxy.start(proxy.port);
      const second = await eventually(
        () => commit(store, 'app', [set('b', '2')]),
        'a commit to succeed once the server is back',
      );
      assert.equal(second.revision, first.revision + 1, 'the failed commit took no revision');
      assert.deepEqual(
        (await store.readEntries({ namespace: 'app' })).map((v) => v.text),
        ['1', '2'],
      );
      await eventually(() => heard.includes(second.revision), 'the watcher to hear the commit after the outage');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  void it('a connection lost after COMMIT was sent: the commit is acknowledged if it landed, refused if it did not', async () => {
    const target = new URL(database.url);
    const proxy = new Proxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const store = await PostgresStore.open({
      connectionString: viaProxy(database.url, proxy.port),
      connectionTimeoutMs: 2000,
    });
    try {
      await createNamespaces(store, ['doubt']);
      const before = await store.currentRevision();
      proxy.onCommit = 'deliver';
      const landed = await commit(store, 'doubt', [set('landed', 'v')]);
      assert.equal(proxy.onCommit, undefined, 'the proxy cut the connection at COMMIT');
      assert.equal(landed.revision, before + 1);
      assert.equal((await store.entryHistory({ namespace: 'doubt', key: 'landed', limit: 10 })).length, 1);

      proxy.onCommit = 'drop';
      const error = await commit(store, 'doubt', [set('lost', 'v')]).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(proxy.onCommit, undefined, 'the proxy cut the connection at COMMIT');
      assert.equal(codeOf(error), 'unavailable');
      await eventually(
        async () =>
          (await store.currentRevision()) === before + 1 &&
          (await store.readEntries({ namespace: 'doubt', key: 'lost' })).length === 0,
        'the unsent commit to be rolled back',
      );
      const next = await commit(store, 'doubt', [set('next', 'v')]);
      assert.equal(next.revision, before + 2, 'the revision of the commit that did not land was given back');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  // A backend killed while its connection is being handed out must fail one call, never the process
  // (a pg Client 'error' without a listener throws). See checkOut() in postgres/database.ts.
  void it('a backend terminated in the same packet as its ReadyForQuery fails the call, not the process', async () => {
    const target = new URL(database.url);
    const proxy = new Proxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const store = await PostgresStore.open({
      connectionString: viaProxy(database.url, proxy.port),
      connectionTimeoutMs: 2000,
      poolSize: 4,
    });
    try {
      for (let round = 0; round < 3; round += 1) {
        proxy.poisonNext = true;
        // More transactions than idle connections, so the pool opens new ones.
        const outcomes = await Promise.allSettled(
          Array.from({ length: 4 }, (_, i) =>
            store.appendAudit({ actor: 't', action: `poison ${round}.${i}`, target: 'x' }),
          ),
        );
        assert.equal(proxy.poisonNext, false, 'a new connection was opened and killed');
        for (const outcome of outcomes)
          if (outcome.status === 'rejected') assert.equal(codeOf(outcome.reason), 'unavailable');
      }
      const record = await store.appendAudit({ actor: 't', action: 'after', target: 'x' });
      assert.equal(record.action, 'after');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  void it('a partitioned network makes calls fail with unavailable rather than hang', async () => {
    const target = new URL(database.url);
    const proxy = new Proxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const store = await PostgresStore.open({
      connectionString: viaProxy(database.url, proxy.port),
      connectionTimeoutMs: 500,
      statementTimeoutMs: 500,
      poolSize: 2,
    });
    try {
      await store.currentRevision();
      proxy.freeze();
      const error = await store.currentRevision().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(codeOf(error), 'unavailable');
    } finally {
      await proxy.close();
      await store.close();
    }
  });

  void it('open refuses a database whose schema is newer than this Herald', async () => {
    const newer = await createTestDatabase();
    try {
      await migratePostgres(newer.url);
      const client = new pg.Client({ connectionString: newer.url });
      await client.connect();
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [postgresMigrations.length + 1]);
      await client.end();
      await assert.rejects(PostgresStore.open({ connectionString: newer.url }), /newer than this Herald/u);
    } finally {
      await newer.drop();
    }
  });
});

void describe('PostgresLeadership', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  async function leaderPid(): Promise<number> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND s.datname = current_database() AND s.application_name = $1`,
        [leadershipApplicationName],
      );
      assert.equal(rows.length, 1, 'exactly one leadership session holds the lock');
      return (rows[0] as { pid: number }).pid;
    } finally {
      await client.end();
    }
  }

  void it('exactly one of two nodes leads; killing its connection hands leadership to the other with a higher fence', async () => {
    // The first leader retries slowly, so that the takeover after its connection dies is by the other node.
    const first = new PostgresLeadership({ connectionString: database.url, name: 'controller', retryMs: 60_000 });
    const second = new PostgresLeadership({ connectionString: database.url, name: 'controller', retryMs: 50 });
    const firstChanges: boolean[] = [];
    first.onChange((state) => firstChanges.push(state.leader));
    try {
      await first.start();
      await second.start();
      assert.equal(first.isLeader(), true);
      assert.equal(second.isLeader(), false);
      assert.equal(second.fence, 0);
      const firstFence = first.fence;
      assert.ok(firstFence >= 1);
      assert.equal(await first.confirm(), true);
      assert.equal(await second.confirm(), false);

      await terminateBackends(database.name, [await leaderPid()]);
      await eventually(() => !first.isLeader(), 'the first node to notice it lost leadership');
      assert.deepEqual(firstChanges, [true, false]);
      assert.equal(first.fence, 0);
      await eventually(() => second.isLeader(), 'the second node to take leadership');
      assert.ok(second.fence > firstFence, `fence grew from ${firstFence} to ${second.fence}`);
      assert.equal(await second.confirm(), true);
      assert.equal(first.isLeader(), false);
    } finally {
      await first.close();
      await second.close();
    }
  });

  void it('nodes started together elect exactly one leader; closing it hands over', async () => {
    const nodes = Array.from(
      { length: 4 },
      () => new PostgresLeadership({ connectionString: database.url, name: 'elect', retryMs: 50 }),
    );
    try {
      await Promise.all(nodes.map((n) => n.start()));
      const leaders = nodes.filter((n) => n.isLeader());
      assert.equal(leaders.length, 1);
      const leader = leaders[0] as PostgresLeadership;
      const fence = leader.fence;
      await leader.close();
      assert.equal(leader.isLeader(), false);
      const next = await eventually(() => nodes.find((n) => n.isLeader()), 'another node to take over');
      assert.notEqual(next, leader);
      assert.ok(next.fence > fence);
      await sleep(200);
      assert.equal(nodes.filter((n) => n.isLeader()).length, 1, 'still exactly one leader');
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });
});
