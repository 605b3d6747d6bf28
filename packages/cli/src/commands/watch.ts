import { hostname } from 'node:os';
import type { Command } from 'commander';
import { HeraldClient, type HeraldClientError, type ViewChange } from '@herald/sdk';
import {
  collect,
  exactLabelsFlagHelp,
  labelFlagHelp,
  labelStack,
  requireToken,
  resolveUrl,
  trustFlag,
  viewerCommand,
  type ClientFlags,
} from '../flags.js';
import { CliError, oneLine, printLine, warn } from '../output.js';
import { runUntilSignal } from '../run-until-signal.js';

export function registerWatchCommand(program: Command): void {
  viewerCommand(
    program
      .command('watch <ns>')
      .description('follow a view through the SDK: one line per accepted release, until interrupted'),
  )
    .option('--label <label>', labelFlagHelp, collect)
    .option('--exact-labels', exactLabelsFlagHelp)
    .option(
      '--trust <file>',
      "trusted public keys (GET /v1/keys); without it, the server's keys are trusted on first contact",
    )
    .option(
      '--instance-id <id>',
      'how this watcher appears in the fleet (with --report)',
      `herald-watch-${hostname()}-${process.pid}`,
    )
    .option('--report', 'join the fleet: send reports as an SDK instance does (by default a watch only observes)')
    .option('--cache <dir>', 'verified cache folder (then a restart works without the control plane)')
    .option('--json', 'one JSON object per line: namespace, labels, seq, revision, digest, values')
    .action(
      async (
        namespace: string,
        flags: ClientFlags & {
          label?: string[];
          exactLabels?: boolean;
          trust?: string;
          instanceId: string;
          cache?: string;
          report?: boolean;
        },
      ) => {
        const token = requireToken(flags);
        const url = resolveUrl(flags);
        const client = new HeraldClient({
          url,
          token,
          instanceId: flags.instanceId,
          attributes: { tool: 'herald watch' },
          views: [{ namespace, labels: labelStack(flags.label, flags.exactLabels) }],
          trustedKeys: trustFlag(flags.trust),
          ...(flags.cache ? { cacheDir: flags.cache } : {}),
          // Watching is looking, not running the configuration: it stays out of the fleet and its waves.
          observe: !flags.report,
        });
        const statuses = (async () => {
          for await (const status of client.status()) {
            if (status.type === 'trusted-on-first-use')
              warn(
                `trusting the server's signing keys on first contact: ${status.keys.map((k) => k.keyId).join(', ')}`,
              );
            else if (status.type === 'rejected') warn(`rejected release ${status.seq ?? '?'}: ${status.reason}`);
            else if (status.type === 'failover') warn(`${status.from} failed (${status.reason}): trying ${status.to}`);
            else if (status.type === 'failback') warn(`back to ${status.to}: ${status.reason}`);
            else if (status.type === 'disconnected') {
              const refusal = permanentRefusal(status.error);
              // Retrying cannot help (no such namespace, not allowed, a bad request): stop, exit 1.
              if (refusal) void client.destroy(refusal);
              else if ((status.error as HeraldClientError).code === 'unreachable')
                warn(`${status.error.message}: is \`herald server\` running at ${url}? reconnecting`);
              else warn(`disconnected: ${status.error.message}; reconnecting`);
            } else if (status.type === 'view-error') {
              if (permanentCodes.has(status.code)) void client.destroy(new CliError(status.detail, 1, status.code));
              else warn(`${status.detail} [${status.code}]`);
            }
          }
        })();
        // Quietly: stdout is the data, and the end of the changes says it stopped.
        const running = runUntilSignal(client, { ended: client.closed(), stopping: () => undefined });
        // Iterate from before start(): the view loaded from the cache is emitted during start().
        const changes = client.changes();
        await client.start();
        for await (const change of changes) printChange(change, flags.json === true);
        await statuses;
        await running;
        const error = await client.closed();
        if (error instanceof CliError) throw error;
        if (error) throw new CliError(error.message);
      },
    );
}

/** Codes of a view the server will not serve however often it is asked. */
const permanentCodes = new Set(['namespace_not_found', 'forbidden', 'unauthenticated']);

/** A refusal that retrying cannot change (4xx but a timeout or too many requests), as the CLI's error; else undefined. */
function permanentRefusal(failure: Error): CliError | undefined {
  // By code, not instanceof (the SDK's advice: two copies of it would make instanceof lie).
  const error = failure as Partial<HeraldClientError>;
  if (error.code !== 'http_error' || error.status === undefined) return undefined;
  if (error.status < 400 || error.status >= 500 || error.status === 408 || error.status === 429) return undefined;
  const next =
    error.serverCode === 'unauthenticated'
      ? ': check HERALD_TOKEN or --token'
      : error.serverCode === 'forbidden'
        ? ': the token needs the client role (or more) on this namespace'
        : '';
  return new CliError(`${failure.message}${next}`, 1, error.serverCode ?? `http_${error.status}`);
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
