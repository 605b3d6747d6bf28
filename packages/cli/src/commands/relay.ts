import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { tokenFromFile } from '@herald/sdk';
import { defaultRelayConfig, Relay } from '@herald/server';
import {
  corsOption,
  corsOrigins,
  parseListen,
  requireToken,
  tokenCapOptions,
  tokenCaps,
  trustFlag,
  type CorsFlags,
  type TokenCapFlags,
} from '../flags.js';
import { listenerTls, listenerTlsOptions, type ListenerTlsFlags } from '../tls-flags.js';
import { CliError, printLine, warn } from '../output.js';
import { runUntilSignal } from '../run-until-signal.js';

export function registerRelayCommand(program: Command): void {
  const command = program
    .command('relay')
    .description('a relay: serves the watch, view and report API from an upstream, with a verified disk cache')
    .requiredOption(
      '--upstream <urls>',
      'the control plane or another relay; several separated by commas, in order of preference (failover and back)',
    )
    .requiredOption('--listen <host:port>', 'address to listen on')
    .requiredOption('--cache <dir>', 'folder for verified releases, routes and pinned keys')
    .option('--token <token>', 'token with the client role on the namespaces served (env HERALD_TOKEN)')
    .option('--token-file <file>', 'read the token from this file, again whenever it changes (rotation)')
    .option('--upstream-tls-cert <file>', 'client certificate (PEM) to present to the upstream (mutual TLS)')
    .option('--upstream-tls-key <file>', 'the private key of --upstream-tls-cert (PEM)')
    .option('--upstream-tls-ca <file>', "the CA bundle (PEM) of the upstream's certificate")
    .option(
      '--trust <file>',
      "trusted public keys (GET /v1/keys); without it, the upstream's keys are trusted on first contact and pinned",
    )
    .option('--name <name>', "this relay's name in forwarded reports and release traces (default: the host name)")
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'warn');
  // The relay's own listener and its clients' caps take the server's flags.
  listenerTlsOptions(command);
  tokenCapOptions(command, defaultRelayConfig);
  corsOption(command);
  command.action(
    async (
      flags: ListenerTlsFlags &
        TokenCapFlags &
        CorsFlags & {
          upstream: string;
          listen: string;
          cache: string;
          token?: string;
          tokenFile?: string;
          upstreamTlsCert?: string;
          upstreamTlsKey?: string;
          upstreamTlsCa?: string;
          trust?: string;
          name?: string;
          logLevel: string;
        },
    ) => {
      if (flags.token !== undefined && flags.tokenFile !== undefined)
        throw new CliError('give --token or --token-file, not both', 2);
      const token = flags.tokenFile === undefined ? requireToken(flags) : tokenFromFile(flags.tokenFile);
      if ((flags.upstreamTlsCert === undefined) !== (flags.upstreamTlsKey === undefined))
        throw new CliError('--upstream-tls-cert and --upstream-tls-key go together', 2);
      const file = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path));
      const upstreamTls =
        flags.upstreamTlsCert === undefined && flags.upstreamTlsCa === undefined
          ? undefined
          : { cert: file(flags.upstreamTlsCert), key: file(flags.upstreamTlsKey), ca: file(flags.upstreamTlsCa) };
      const { host, port } = parseListen(flags.listen);
      const tls = listenerTls(flags);
      const relay = new Relay({
        tls,
        ...tokenCaps(flags),
        corsOrigins: corsOrigins(flags),
        upstream: flags.upstream,
        token,
        ...(upstreamTls === undefined ? {} : { upstreamTls }),
        trust: trustFlag(flags.trust),
        cacheDir: flags.cache,
        host,
        port,
        logLevel: flags.logLevel,
        ...(flags.name === undefined ? {} : { name: flags.name }),
        onTrustOnFirstUse: (keys) =>
          warn(
            `trusting the upstream's signing keys on first contact and pinning them: ${keys.map((k) => k.keyId).join(', ')}`,
          ),
      });
      const url = await relay.listen();
      printLine(`herald: relay listening on ${url} (upstream ${flags.upstream}, cache ${flags.cache})`);
      await runUntilSignal(relay);
      // Stopped: no upstream retry left scheduled may keep the process alive.
      process.exit(0);
    },
  );
}
