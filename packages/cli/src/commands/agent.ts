import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  AgentError,
  createAgent,
  loadAgentConfig,
  resolveAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
  type AgentEvent,
} from '@herald/agent';
import type { ClientStatus } from '@herald/sdk';
import {
  collect,
  defaultUrl,
  exactLabelsFlagHelp,
  labelFlagHelp,
  labelStack,
  optionalToken,
  parsePairs,
  viewerCommand,
} from '../flags.js';
import { CliError, warn } from '../output.js';
import { runUntilSignal } from '../run-until-signal.js';

interface AgentFlags {
  config?: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  ns?: string;
  label?: string[];
  exactLabels?: boolean;
  out?: string;
  format?: string;
  template?: string;
  mode?: string;
  exec?: string;
  execTimeout?: string;
  cache?: string;
  trust?: string;
  instanceId?: string;
  attr?: string[];
  http?: string;
}

/** Flags that describe one subscription: with --config, the file's `subscriptions` say that. */
const subscriptionFlags = [
  'ns',
  'label',
  'exactLabels',
  'out',
  'format',
  'template',
  'mode',
  'exec',
  'execTimeout',
  'http',
  'attr',
] as const;

function say(line: string): void {
  warn(`agent ${line}`);
}

/** The configuration from --config, or from the flags of the one-view form; flags and env fill in url and token. */
export function agentConfigFromFlags(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const absolute = (path: string | undefined) => (path === undefined ? undefined : resolve(path));
  const token = optionalToken(flags, env);
  const url = flags.url ?? (env.HERALD_URL || undefined);
  if (flags.config !== undefined) {
    const extra = subscriptionFlags.filter((name) => flags[name] !== undefined);
    if (extra.length > 0) {
      const names = extra.map((name) => `--${name.replace(/[A-Z]/gu, (c) => `-${c.toLowerCase()}`)}`).join(', ');
      throw new CliError(`${names} cannot be combined with --config: put them in the config file`, 2);
    }
    return loadAgentConfig(flags.config, {
      // The command line wins over the file; the environment only fills what the file leaves out.
      force: {
        url: flags.url,
        token: flags.token,
        tokenFile: absolute(flags.tokenFile),
        instanceId: flags.instanceId,
        cacheDir: absolute(flags.cache),
        trust: absolute(flags.trust),
      },
      fill: { url: env.HERALD_URL || defaultUrl, token: env.HERALD_TOKEN || undefined },
    });
  }
  if (flags.ns === undefined || flags.out === undefined)
    throw new CliError('herald agent needs --ns NS and --out FILE (or --config FILE)', 2);
  if (token === undefined && flags.tokenFile === undefined)
    throw new CliError('a token is needed: --token, --token-file or HERALD_TOKEN', 2);
  const format = flags.format ?? (flags.template === undefined ? 'json' : 'template');
  const input: AgentConfigInput = {
    url: url ?? defaultUrl,
    ...(flags.tokenFile === undefined ? { token: token as string } : { tokenFile: flags.tokenFile }),
    ...(flags.instanceId === undefined ? {} : { instanceId: flags.instanceId }),
    ...(flags.attr === undefined ? {} : { attributes: parsePairs(flags.attr, '--attr') }),
    ...(flags.trust === undefined ? {} : { trust: flags.trust }),
    ...(flags.cache === undefined ? {} : { cacheDir: flags.cache }),
    ...(flags.http === undefined ? {} : { http: { listen: flags.http } }),
    subscriptions: [
      {
        namespace: flags.ns,
        labels: labelStack(flags.label, flags.exactLabels),
        out: flags.out,
        format: format as 'json',
        ...(flags.template === undefined ? {} : { template: flags.template }),
        ...(flags.mode === undefined ? {} : { mode: flags.mode }),
        ...(flags.exec === undefined ? {} : { exec: flags.exec }),
        ...(flags.execTimeout === undefined ? {} : { execTimeout: flags.execTimeout }),
      },
    ],
  };
  return resolveAgentConfig(input);
}

function viewName(namespace: string, labels: readonly string[]): string {
  const shown = labels.filter((l) => l !== '');
  return shown.length === 0 ? namespace : `${namespace} [${shown.join(', ')}]`;
}

/** Turns agent events into "herald: agent …" lines; connection noise is said once per outage. */
function eventPrinter(config: AgentConfig): (event: AgentEvent) => void {
  let connected: boolean | undefined;
  const client = (status: ClientStatus): void => {
    switch (status.type) {
      case 'trusted-on-first-use':
        say(
          `trusting the server's signing keys on first contact: ${status.keys.map((k) => k.keyId).join(', ')}${config.cacheDir ? ` (pinned in ${config.cacheDir})` : ' (not pinned: no --cache)'}`,
        );
        break;
      case 'keys-learned':
        say(`trusting rotated signing keys: ${status.keyIds.join(', ')}`);
        break;
      case 'stale-cache':
        for (const v of status.views)
          say(
            `starting from the verified cache: ${viewName(v.namespace, v.labels)} release ${v.seq} (issued ${new Date(v.issuedAt).toISOString()})`,
          );
        break;
      case 'connected':
        if (connected !== true) say(`connected to ${status.endpoint} (revision ${status.revision})`);
        connected = true;
        break;
      case 'failover':
        say(`${status.from} failed (${status.reason}): trying ${status.to}`);
        connected = undefined;
        break;
      case 'failback':
        say(`back to ${status.to}: ${status.reason}`);
        connected = undefined;
        break;
      case 'disconnected':
        if (connected !== false) say(`disconnected: ${status.error.message}; retrying, the files keep what they hold`);
        connected = false;
        break;
      case 'rejected':
        say(
          `rejected ${viewName(status.namespace, status.labels)} release ${status.seq ?? '?'}: ${status.reason} [${status.code}]`,
        );
        break;
      case 'view-error':
        say(`${viewName(status.namespace, status.labels)}: ${status.detail} [${status.code}]`);
        break;
      case 'cache-ignored':
        say(`ignored cache file ${status.file}: ${status.reason} [${status.code}]`);
        break;
      case 'cache-error':
        say(`cache: ${status.error.message}`);
        break;
      case 'report-failed':
        if (connected) say(`report failed: ${status.error.message}`);
        break;
      case 'protocol-error':
        say(`protocol error: ${status.detail}`);
        break;
      default:
        break;
    }
  };
  return (event) => {
    switch (event.type) {
      case 'file': {
        const what = `${viewName(event.namespace, event.labels)} release ${event.seq}`;
        if (event.outcome === 'written')
          say(`wrote ${event.out} (${what}, from ${event.via}, mode ${event.mode.toString(8).padStart(4, '0')})`);
        else if (event.outcome === 'mode-changed')
          say(`set the mode of ${event.out} to ${event.mode.toString(8).padStart(4, '0')} (${what})`);
        else say(`${event.out} is current (${what})`);
        break;
      }
      case 'write-failed':
        say(`cannot write ${event.out}: ${event.reason}; retrying in ${Math.round(event.retryInMs / 1000)} s`);
        break;
      case 'exec':
        if (event.ok) say(`ran "${event.command}" after writing ${event.out} (${event.durationMs} ms)`);
        else say(`reload failed after writing ${event.out}: "${event.command}" ${event.reason ?? ''}`);
        break;
      case 'health':
        say(event.status === 'ok' ? 'health ok' : `health ${event.status}: ${event.detail}`);
        break;
      case 'listening':
        say(`serving views on ${event.url}`);
        break;
      case 'cleaned':
        say(`removed ${event.count} temp file(s) left beside ${event.out}`);
        break;
      case 'client':
        client(event.status);
        break;
    }
  };
}

export function registerAgentCommand(program: Command): void {
  viewerCommand(
    program
      .command('agent')
      .description(
        'host agent: write views to files atomically, run a reload command on change, serve them on localhost',
      )
      .option(
        '--config <file>',
        'agent configuration (YAML): several views, files, formats, HTTP; see packages/agent/README.md',
      ),
  )
    .option('--token-file <file>', 'read the token from this file, again whenever it changes (rotation)')
    .option('--ns <ns>', 'namespace to write')
    .option('--label <label>', labelFlagHelp, collect)
    .option('--exact-labels', exactLabelsFlagHelp)
    .option('--out <file>', 'the file to write')
    .option('--format <format>', 'json (the values as one object), yaml, env or template', undefined)
    .option('--template <file>', 'template file with {{ key }} placeholders (implies --format template)')
    .option('--mode <octal>', 'file mode (default 0644, 0600 when the view carries secrets)')
    .option('--exec <command>', 'shell command to run after the file changed')
    .option('--exec-timeout <duration>', 'how long the command may run (default 30s)')
    .option('--cache <dir>', 'verified cache folder (then a restart works without the control plane)')
    .option(
      '--trust <file>',
      "trusted public keys (GET /v1/keys); without it, the server's keys are trusted on first contact",
    )
    .option('--instance-id <id>', 'how this host appears in the fleet (default: the host name)')
    .option('--attr <key=value>', 'an attribute reported to the fleet (repeatable)', collect)
    .option('--http <host:port>', 'serve the views on this loopback address (GET /v1/views/{ns}, /healthz)')
    .action(async (flags: AgentFlags) => {
      let config: AgentConfig;
      try {
        config = agentConfigFromFlags(flags);
      } catch (error) {
        if (error instanceof AgentError) throw new CliError(error.message, 2);
        throw error;
      }
      const agent = createAgent(config, { onEvent: eventPrinter(config) });
      let signalled = false;
      // Listening from before start(): a signal while starting is a clean stop too.
      const running = runUntilSignal(agent, {
        ended: agent.closed(),
        stopping: (signal) => {
          signalled = true;
          say(`stopping (${signal})`);
        },
      });
      say(`following ${config.subscriptions.length} file(s) as instance ${config.instanceId} from ${config.url}`);
      if (config.cacheDir === undefined)
        say('has no --cache: after a restart it needs the control plane to write its files');
      try {
        await agent.start();
      } catch (error) {
        // Stopped by a signal while starting: that is a clean stop, not a failure.
        if (!signalled) throw new CliError((error as Error).message);
      }
      await running;
      const error = await agent.closed();
      if (error) throw new CliError(`agent stopped: ${error.message}`);
      say('stopped');
    });
}
