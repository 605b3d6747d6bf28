import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What `writeIfChanged` did. */
export type WriteOutcome = 'written' | 'unchanged' | 'mode-changed';

const tempSuffix = '.herald-tmp';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}${tempSuffix}`);
}

async function fsyncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch (error) {
    // Windows cannot open a folder for fsync; the rename is as durable as it gets there.
    if (process.platform === 'win32') return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw error;
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` so that a reader sees the whole old file or the whole new one, never
 * a part, and the new one survives a crash: a temp file in the same folder (so the rename stays on
 * one file system), written, fsynced, given its mode (and, as root, the owner and group of the
 * file it replaces), renamed over `path`, then the folder fsynced so the rename itself is durable.
 * The folder is created (0755) when missing.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  let owner: { uid: number; gid: number } | undefined;
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    owner = await stat(path).then(
      (s) => ({ uid: s.uid, gid: s.gid }),
      () => undefined,
    );
  }
  const temp = tempName(path);
  // Created with no permissions for others at all; the final mode is set before anything is in it
  // that others could read, and before the rename makes it visible.
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.chmod(mode);
      if (owner) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dir);
}

/**
 * Writes `data` to `path` atomically unless the file already holds exactly these bytes; then only
 * its mode is corrected, when it differs. Reading what is on disk (not what was last written)
 * also repairs a file that someone edited by hand, at the next release.
 */
export async function writeIfChanged(path: string, data: string, mode: number): Promise<WriteOutcome> {
  const wanted = Buffer.from(data, 'utf8');
  let current: Buffer | undefined;
  try {
    current = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (current?.equals(wanted)) {
    const info = await stat(path);
    if ((info.mode & 0o7777) === mode) return 'unchanged';
    const handle = await open(path, 'r');
    try {
      await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    return 'mode-changed';
  }
  await writeFileAtomic(path, wanted, mode);
  return 'written';
}

/** Called before this process writes anything: a temp file named with its own pid (pid 1 in a container, again) is stale too. */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp files that a crashed agent left beside `path` (`.<name>.<pid>.<random>.herald-tmp`, whose process is gone). */
export async function removeStaleTemps(path: string): Promise<number> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const stale = names.filter((name) => {
    if (!name.startsWith(prefix) || !name.endsWith(tempSuffix)) return false;
    const match = /^(\d+)\.[0-9a-f]{12}$/u.exec(name.slice(prefix.length, -tempSuffix.length));
    return match !== null && !isAlive(Number(match[1]));
  });
  await Promise.all(stale.map((name) => rm(join(dir, name), { force: true })));
  return stale.length;
}
