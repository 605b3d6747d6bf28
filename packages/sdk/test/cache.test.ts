import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TrustStore } from '@herald/core';
import {
  DiskCache,
  KeyRing,
  viewFileName,
  writeFileAtomic,
  type VerifiedView,
  type ViewRef,
} from '@herald/sdk/internal';
import { flipSignature, newKey, publicInfo, signView } from './fixtures.js';

const key = newKey('k-1');
const trust = new TrustStore([publicInfo(key)]);
const view: ViewRef = { namespace: 'payments', labels: ['', 'prod'] };
const signed = signView(key, { labels: ['', 'prod'], seq: 3, values: { 'db/pool/max': 10, nested: { list: [1, 2] } } });
const verified: VerifiedView = { manifest: signed.manifest, signature: signed.signature, values: signed.values };

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'herald-sdk-cache-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshCache(name: string): Promise<DiskCache> {
  const cache = new DiskCache(join(root, name, 'deep', 'er'));
  await cache.open();
  return cache;
}

void describe('writeFileAtomic', () => {
  void it('replaces the file and leaves no temp file behind', async () => {
    const dir = join(root, 'atomic');
    const cache = await freshCache('atomic');
    const path = join(cache.dir, 'x.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    assert.equal(await readFile(path, 'utf8'), 'two');
    assert.deepEqual(await readdir(cache.dir), ['x.json']);
    assert.ok(dir.length > 0);
    if (process.platform !== 'win32') assert.equal((await stat(path)).mode & 0o777, 0o600, 'owner-only');
  });

  void it('readers never see a partial file while writers race', async () => {
    const cache = await freshCache('race');
    const path = join(cache.dir, 'v.json');
    const bodies = ['a', 'b', 'c', 'd'].map((c) => JSON.stringify({ fill: c.repeat(200_000) }));
    await writeFileAtomic(path, bodies[0] as string);
    let done = false;
    const writers = (async () => {
      for (let round = 0; round < 15; round += 1) await Promise.all(bodies.map((body) => writeFileAtomic(path, body)));
      done = true;
    })();
    let reads = 0;
    while (!done) {
      const text = await readFile(path, 'utf8');
      assert.ok(bodies.includes(text), 'a complete old or new file');
      reads += 1;
    }
    await writers;
    assert.ok(reads > 0);
    assert.deepEqual(await readdir(cache.dir), ['v.json']);
  });

  void it('a process killed with SIGKILL in the middle of writes leaves a complete file', async () => {
    const cache = await freshCache('kill');
    const path = join(cache.dir, 'v.json');
    const module = fileURLToPath(new URL('../src/atomic-file.js', import.meta.url));
    const script = `
      const { writeFileAtomic } = await import(${JSON.stringify(module)});
      const bodies = ['x', 'y'].map((c) => JSON.stringify({ fill: c.repeat(2_000_000) }));
      await writeFileAtomic(${JSON.stringify(path)}, bodies[0]);
      process.stdout.write('ready\\n');
      for (let i = 1; ; i += 1) await writeFileAtomic(${JSON.stringify(path)}, bodies[i % 2]);
    `;
    for (let round = 0; round < 3; round += 1) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 50 + round * 40));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      const parsed = JSON.parse(await readFile(path, 'utf8')) as { fill: string };
      assert.equal(parsed.fill.length, 2_000_000);
      assert.ok(/^(x+|y+)$/u.test(parsed.fill));
    }
  });
});

void describe('DiskCache', () => {
  void it('names files by a hash of [namespace, labels], so any name is safe on disk', () => {
    assert.match(viewFileName({ namespace: '../../etc', labels: ['a/b', '\0'] }), /^view-[0-9a-f]{32}\.json$/u);
    assert.notEqual(
      viewFileName({ namespace: 'a', labels: [''] }),
      viewFileName({ namespace: 'a', labels: ['', 'prod'] }),
    );
  });

  void it('writes {manifest, signature, values} and reads them back verified', async () => {
    const cache = await freshCache('roundtrip');
    assert.deepEqual(await cache.readView(view, trust), { status: 'missing' });
    await cache.writeView(view, verified);
    const onDisk = JSON.parse(await readFile(cache.viewPath(view), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(onDisk).sort(), ['format', 'manifest', 'signature', 'values', 'view']);
    const read = await cache.readView(view, trust);
    assert.equal(read.status, 'ok');
    if (read.status === 'ok') {
      assert.deepEqual(read.value.manifest, signed.manifest);
      assert.deepEqual({ ...read.value.values }, signed.values);
    }
  });

  void it('ignores a tampered, truncated, foreign or untrusted file and says why', async () => {
    const cache = await freshCache('tamper');
    await cache.writeView(view, verified);
    const path = cache.viewPath(view);
    const good = await readFile(path, 'utf8');
    const file = JSON.parse(good) as {
      manifest: Record<string, unknown>;
      signature: string;
      values: Record<string, unknown>;
    };

    const cases: Array<[string, string, string]> = [
      [
        'a value changed',
        JSON.stringify({ ...file, values: { ...file.values, 'db/pool/max': 11 } }),
        'digest_mismatch',
      ],
      ['a key added', JSON.stringify({ ...file, values: { ...file.values, extra: 1 } }), 'digest_mismatch'],
      ['the seq raised', JSON.stringify({ ...file, manifest: { ...file.manifest, seq: 99 } }), 'bad_signature'],
      ['the signature altered', JSON.stringify({ ...file, signature: flipSignature(file.signature) }), 'bad_signature'],
      ['truncated', good.slice(0, good.length / 2), 'malformed'],
      ['not JSON at all', '\u0000\u0001garbage', 'malformed'],
      ['another format', JSON.stringify({ ...file, format: 2 }), 'malformed'],
      [
        "another view's file",
        JSON.stringify({ ...file, ...signView(key, { namespace: 'search', seq: 1, values: {} }) }),
        'wrong_view',
      ],
      [
        'signed by a stranger',
        JSON.stringify({ ...file, ...signView(newKey('k-x'), { labels: ['', 'prod'], seq: 3, values: {} }) }),
        'untrusted_key',
      ],
    ];
    for (const [what, content, code] of cases) {
      await writeFile(path, content);
      const read = await cache.readView(view, trust);
      assert.equal(read.status, 'ignored', what);
      if (read.status === 'ignored') {
        assert.equal(read.code, code, what);
        assert.equal(read.file, path);
        assert.ok(read.reason.length > 0);
      }
    }
    await writeFile(path, good);
    assert.equal((await cache.readView(view, trust)).status, 'ok');
  });

  void it('queues writes to one file, so the last write wins', async () => {
    const cache = await freshCache('order');
    const versions = Array.from({ length: 20 }, (_, i) =>
      signView(key, { labels: ['', 'prod'], seq: i + 1, values: { i } }),
    );
    await Promise.all(
      versions.map((v) => cache.writeView(view, { manifest: v.manifest, signature: v.signature, values: v.values })),
    );
    await cache.flush();
    const read = await cache.readView(view, trust);
    assert.equal(read.status === 'ok' ? read.value.manifest.seq : -1, 20);
  });

  void it('persists keys; a tampered keys file adds no trust to pinned keys', async () => {
    const cache = await freshCache('keys');
    const k2 = newKey('k-2');
    const ring = new KeyRing([publicInfo(key)]);
    assert.deepEqual(ring.learn([publicInfo(k2, key)]).learned, ['k-2']);
    await cache.writeKeys(ring.toFile());
    const read = await cache.readKeys();
    assert.equal(read.status, 'ok');
    const restored = new KeyRing([publicInfo(key)]);
    if (read.status === 'ok') assert.deepEqual(restored.restore(read.value), ['k-2']);
    assert.ok(restored.trust.has('k-2'));

    // An attacker who can write the file adds a key of their own, with and without a forged endorsement.
    const evil = newKey('k-evil');
    await cache.writeKeys({
      pinned: [publicInfo(evil)],
      published: [publicInfo(evil), publicInfo(newKey('k-evil2'), evil)],
    });
    const tampered = await cache.readKeys();
    const victim = new KeyRing([publicInfo(key)]);
    if (tampered.status === 'ok') victim.restore(tampered.value);
    assert.equal(victim.trust.has('k-evil'), false);
    assert.equal(victim.trust.has('k-evil2'), false);

    await writeFile(cache.keysPath, '{"format":1,"pinned":');
    const broken = await cache.readKeys();
    assert.equal(broken.status, 'ignored');
  });

  void it('pins keys on first use in tofu mode and restores them as roots', async () => {
    const cache = await freshCache('tofu');
    const ring = new KeyRing('tofu');
    assert.equal(ring.awaitingFirstUse, true);
    assert.deepEqual(
      ring.pinOnFirstUse([publicInfo(key)]).map((k) => k.keyId),
      ['k-1'],
    );
    assert.equal(ring.awaitingFirstUse, false);
    assert.deepEqual(ring.pinOnFirstUse([publicInfo(newKey('k-later'))]), [], 'first use happens once');
    await cache.writeKeys(ring.toFile());
    const read = await cache.readKeys();
    const again = new KeyRing('tofu');
    if (read.status === 'ok') again.restore(read.value);
    assert.equal(again.awaitingFirstUse, false);
    assert.ok(again.trust.has('k-1'));
  });
});
