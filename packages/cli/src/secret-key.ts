import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './output.js';

/** Where a server's secret-encryption key comes from, in the order the server looks. */
export interface SecretKeySource {
  key: Buffer;
  origin: string;
}

/**
 * The secret-encryption key a server on this data folder would use: HERALD_SECRET_KEY, else the
 * given file, else `secret.key` in the data folder; undefined when there is none (unlike the
 * server, this never makes one).
 */
export function readSecretKey(dataDir: string, keyFile: string | undefined): SecretKeySource | undefined {
  const decode = (text: string, origin: string): SecretKeySource => {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new CliError(`${origin} must hold 32 bytes in base64 (openssl rand -base64 32)`);
    return { key, origin };
  };
  const fromEnv = process.env.HERALD_SECRET_KEY;
  if (fromEnv) return decode(fromEnv, 'HERALD_SECRET_KEY');
  if (keyFile) {
    if (!existsSync(keyFile)) throw new CliError(`no secret key at ${keyFile}`);
    return decode(readFileSync(keyFile, 'utf8'), keyFile);
  }
  const path = join(dataDir, 'secret.key');
  return existsSync(path) ? decode(readFileSync(path, 'utf8'), path) : undefined;
}
