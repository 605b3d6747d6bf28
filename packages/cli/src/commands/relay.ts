import type { Command } from 'commander';
import { Relay } from '@herald/server';
import { CliError, printLine, warn } from '../output.js';
import { parseListen } from './server.js';
import { readTrustFile } from './watch.js';

export function registerRelayCommand(program: Command): void {
  program
    .command('relay')
    .description('a relay: serves the watch, view and report API from an upstream, with a verified disk cache')
    .requiredOption('--upstream <url>', 'the control plane or another relay')
    .requiredOption('--listen <host:port>', 'address to listen on')
    .requiredOption('--cache <dir>', 'folder for verified releases, routes and pinned keys')
    .option('--token <token>', 'token with the client role on the namespaces served (env HERALD_TOKEN)')
    .option(
      '--trust <file>',
      "trusted public keys (GET /v1/keys); without it, the upstream's keys are trusted on first contact and pinned",
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'warn')
    .action(
      async (flags: {
        upstream: string;
        listen: string;
        cache: string;
        token?: string;
        trust?: string;
        logLevel: string;
      }) => {
        const token = flags.token ?? process.env.HERALD_TOKEN;
        if (!token) throw new CliError('a token is needed: --token or HERALD_TOKEN', 2);
        const { host, port } = parseListen(flags.listen);
        const relay = new Relay({
          upstream: flags.upstream,
          token,
          trust: flags.trust ? readTrustFile(flags.trust) : 'tofu',
          cacheDir: flags.cache,
          host,
          port,
          logLevel: flags.logLevel,
          onTrustOnFirstUse: (keys) =>
            warn(
              `trusting the upstream's signing keys on first contact and pinning them: ${keys.map((k) => k.keyId).join(', ')}`,
            ),
        });
        const url = await relay.listen();
        printLine(`herald: relay listening on ${url} (upstream ${flags.upstream}, cache ${flags.cache})`);
        const stop = (signal: string) => {
          warn(`${signal}: shutting down`);
          void relay.close().then(() => process.exit(0));
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      },
    );
}
