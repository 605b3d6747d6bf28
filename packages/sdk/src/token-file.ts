import { readFileSync, statSync } from 'node:fs';

/**
 * A token kept in a file, for the `token` option: the file is read again whenever its size or
 * modification time changed, so a rotated token written there (atomically, by rename) is used
 * from the next request on, without a restart. A file that cannot be read or is empty keeps the
 * last good token: a half-done deployment must not cut the client off.
 */
export function tokenFromFile(path: string): () => string {
  let stamp = '';
  let token = '';
  const read = (): string => {
    try {
      const stat = statSync(path);
      const now = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
      if (now !== stamp) {
        const text = readFileSync(path, 'utf8').trim();
        stamp = now;
        if (text !== '') token = text;
      }
    } catch (error) {
      if (token === '') throw error;
    }
    if (token === '') throw new Error(`the token file ${path} is empty`);
    return token;
  };
  read();
  return read;
}
