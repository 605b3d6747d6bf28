import type { Command } from 'commander';
import { AdminClient } from '@herald/sdk';

export const defaultUrl = 'http://127.0.0.1:8420';

export interface ClientFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds --url, --token and --json to a client command. */
export function clientCommand(command: Command): Command {
  return command
    .option('--url <url>', `control plane URL (env HERALD_URL, default ${defaultUrl})`)
    .option('--token <token>', 'bearer token (env HERALD_TOKEN)')
    .option('--json', 'machine-readable output');
}

export function adminClient(flags: ClientFlags): AdminClient {
  const token = flags.token ?? process.env.HERALD_TOKEN;
  // An empty HERALD_URL counts as unset, as an empty HERALD_TOKEN does.
  return new AdminClient({ url: flags.url ?? (process.env.HERALD_URL || defaultUrl), ...(token ? { token } : {}) });
}

export function nsPath(namespace: string, ...rest: string[]): string {
  return `/v1/namespaces/${[namespace, ...rest].map((s) => encodeURIComponent(s)).join('/')}`;
}

/** The key is encoded whole ("/" too), so URL normalisation can never touch a key with "." or "//" in it. */
export function entryPath(namespace: string, collection: 'entries' | 'locks', key: string): string {
  return `${nsPath(namespace)}/${collection}/${encodeURIComponent(key)}`;
}
