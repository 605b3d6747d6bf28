// Atomic file replacement and the reload command, on the real file system and real processes.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand, writeFileAtomic, writeIfChanged } from '@herald/agent';
import { eventually } from '@herald/testkit';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-agent-files-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

void describe('writeIfChanged', () => {
  void it('writes, then leaves identical bytes alone, then only fixes the mode', async () => {
    const path = join(dir, 'nested', 'folder', 'app.json');
    assert.equal(await writeIfChanged(path, '{"a":1}\n', 0o644), 'written');
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n');
    assert.equal(await modeOf(path), 0o644);
    const before = (await stat(path)).ino;
    assert.equal(await writeIfChanged(path, '{"a":1}\n', 0o644), 'unchanged');
    assert.equal((await stat(path)).ino, before, 'not replaced');
    assert.equal(await writeIfChanged(path, '{"a":1}\n', 0o600), 'mode-changed');
    assert.equal(await modeOf(path), 0o600);
    assert.equal(await writeIfChanged(path, '{"a":2}\n', 0o600), 'written');
    assert.notEqual((await stat(path)).ino, before, 'replaced by rename, not rewritten in place');
    assert.equal(await readFile(path, 'utf8'), '{"a":2}\n');
  });

  void it('repairs a file edited by hand', async () => {
    const path = join(dir, 'edited.env');
    await writeIfChanged(path, 'A=1\n', 0o644);
    await writeFile(path, 'A=hacked\n');
    assert.equal(await writeIfChanged(path, 'A=1\n', 0o644), 'written');
    assert.equal(await readFile(path, 'utf8'), 'A=1\n');
  });
});

void describe('writeFileAtomic', () => {
  void it('sets the exact mode whatever the umask, and leaves no temp file behind', async () => {
    const previous = process.umask(0o077);
    try {
      const path = join(dir, 'public.yaml');
      await writeFileAtomic(path, 'a: 1\n', 0o644);
      assert.equal(await modeOf(path), 0o644);
      await writeFileAtomic(path, 'a: 2\n', 0o600);
      assert.equal(await modeOf(path), 0o600);
    } finally {
      process.umask(previous);
    }
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.includes('herald-tmp')),
      [],
    );
  });
});

void describe('runCommand', () => {
  void it('succeeds on exit 0, with the environment given', async () => {
    const out = join(dir, 'env.txt');
    const result = await runCommand(`printf %s "$HERALD_SEQ" > "${out}"`, {
      timeoutMs: 10_000,
      env: { HERALD_SEQ: '7' },
    });
    assert.equal(result.ok, true);
    assert.equal(await readFile(out, 'utf8'), '7');
  });

  void it('a non-zero exit fails with the code and the last line printed', async () => {
    const result = await runCommand('echo starting; echo "reload refused: bad config" >&2; exit 3', {
      timeoutMs: 10_000,
    });
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, 'exit code 3: reload refused: bad config');
  });

  void it('past the timeout the whole process group is killed', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const result = await runCommand(`sleep 60 & echo $! > "${pidFile}"; wait`, { timeoutMs: 300 });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.reason : '', /^timed out after 300 ms/u);
    const pid = Number(await readFile(pidFile, 'utf8'));
    // The background sleep was in the group: it is gone too (poll: the kernel reaps it shortly).
    let alive = true;
    await eventually(
      () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          alive = false;
          return true;
        }
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    ).catch(() => undefined);
    assert.equal(alive, false, `process ${pid} outlived the timeout`);
  });

  void it('does not wait for a daemon that keeps the output pipes open', async () => {
    const pidFile = join(dir, 'daemon.pid');
    const result = await runCommand(`sleep 30 & echo $! > "${pidFile}"; exit 0`, { timeoutMs: 10_000 });
    assert.equal(result.ok, true);
    const pid = Number(await readFile(pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
  });

  void it('an abort signal kills the command', async () => {
    const controller = new AbortController();
    const running = runCommand('sleep 60', { timeoutMs: 60_000, signal: controller.signal });
    controller.abort();
    const result = await running;
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.reason : '', /agent is closing/u);
  });
});
