import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temp files of atomic writes end with this, so a process can clean up after one that crashed. */
export const tempSuffix = '.herald-tmp';

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
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
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
