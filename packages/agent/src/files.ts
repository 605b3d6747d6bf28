import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempSuffix, writeFileAtomic } from '@herald/sdk/internal';

/** What `writeIfChanged` did. */
export type WriteOutcome = 'written' | 'unchanged' | 'mode-changed';

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
