import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient, type ViewChange } from '@herald/sdk';
import { defaultUrl, type ClientFlags } from '../client-options.js';
import { CliError, oneLine, printLine, warn } from '../output.js';

/** A trust file holds `{"keys": [...]}` as `GET /v1/keys` answers, or just the array. */
export function readTrustFile(path: string): PublicKeyInfo[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read trusted keys from ${path}: ${(error as Error).message}`);
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new CliError(`${path} holds no keys (expected {"keys": [...]} as GET /v1/keys answers)`);
  return keys as PublicKeyInfo[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerWatchCommand(program: Command): void {
  program
    .command('watch <ns>')
    .description('follow a view through the SDK: one line per accepted release, until interrupted')
    .option('--label <label>', 'label stack, lowest priority first (repeatable)', collect)
    .option(
      '--trust <file>',
      "trusted public keys (GET /v1/keys); without it, the server's keys are trusted on first contact",
    )
    .option('--instance-id <id>', 'how this watcher appears in the fleet', `herald-watch-${hostname()}-${process.pid}`)
    .option('--cache <dir>', 'verified cache folder (then a restart works without the control plane)')
    .option('--url <url>', `control plane or relay URL (env HERALD_URL, default ${defaultUrl})`)
    .option('--token <token>', 'token with the client role (env HERALD_TOKEN)')
    .option('--json', 'one JSON object per line: namespace, labels, seq, revision, digest, values')
    .action(
      async (
        namespace: string,
        flags: ClientFlags & { label?: string[]; trust?: string; instanceId: string; cache?: string },
      ) => {
        const token = flags.token ?? process.env.HERALD_TOKEN;
        if (!token) throw new CliError('a token is needed: --token or HERALD_TOKEN', 2);
        const client = new HeraldClient({
          url: flags.url ?? (process.env.HERALD_URL || defaultUrl),
          token,
          instanceId: flags.instanceId,
          attributes: { tool: 'herald watch' },
          views: [{ namespace, labels: flags.label ?? [] }],
          trustedKeys: flags.trust ? readTrustFile(flags.trust) : 'tofu',
          ...(flags.cache ? { cacheDir: flags.cache } : {}),
        });
        const statuses = (async () => {
          for await (const status of client.status()) {
            if (status.type === 'trusted-on-first-use')
              warn(
                `trusting the server's signing keys on first contact: ${status.keys.map((k) => k.keyId).join(', ')}`,
              );
            else if (status.type === 'rejected') warn(`rejected release ${status.seq ?? '?'}: ${status.reason}`);
            else if (status.type === 'disconnected') warn(`disconnected: ${status.error.message}; reconnecting`);
            else if (status.type === 'view-error') warn(`${status.detail} [${status.code}]`);
          }
        })();
        const stop = () => void client.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // Iterate from before start(): the view loaded from the cache is emitted during start().
        const changes = client.changes();
        await client.start();
        for await (const change of changes) printChange(change, flags.json === true);
        await statuses;
        const error = await client.closed();
        if (error) throw new CliError(error.message);
      },
    );
}

function printChange(change: ViewChange, json: boolean): void {
  const { current } = change;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ namespace: current.namespace, labels: current.labels, seq: current.seq, revision: current.revision, digest: current.digest, values: current.values, changedKeys: change.changedKeys, via: change.via })}\n`,
    );
    return;
  }
  printLine(
    `${current.namespace} release ${current.seq} (revision ${current.revision}, ${change.via}) ${current.digest.slice(0, 12)}: ${oneLine(current.values)}`,
  );
}
