// The admin API client of the admin commands, and the paths they address.
import { AdminClient } from '@herald/sdk';
import { optionalToken, resolveUrl, type ConnectionFlags } from './flags.js';

export function adminClient(flags: ConnectionFlags): AdminClient {
  const token = optionalToken(flags);
  return new AdminClient({ url: resolveUrl(flags), ...(token ? { token } : {}) });
}

export function nsPath(namespace: string, ...rest: string[]): string {
  return `/v1/namespaces/${[namespace, ...rest].map((s) => encodeURIComponent(s)).join('/')}`;
}

/** The key is encoded whole ("/" too), so URL normalisation can never touch a key with "." or "//" in it. */
export function entryPath(namespace: string, collection: 'entries' | 'locks', key: string): string {
  return `${nsPath(namespace)}/${collection}/${encodeURIComponent(key)}`;
}
