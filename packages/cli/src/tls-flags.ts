import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkClientIdentities, type ClientIdentity, type ServerTls } from '@herald/server/start-path';
import { CliError } from './output.js';

/** The flags of a listener that serves HTTPS and may ask for client certificates: the server's and the relay's. */
export interface ListenerTlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  tlsIdentities?: string;
}

export function listenerTlsOptions(command: Command): Command {
  return command
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-client-ca <file>', 'ask for client certificates issued by these CAs (PEM bundle; mutual TLS)')
    .option(
      '--tls-identities <file>',
      'JSON list of client certificate identities: [{"match": {"uri"|"cn"|"dns": glob}, "scopes": [...]}] (docs/security.md)',
    );
}

/** The TLS settings of the flags: a serving certificate, and client certificates with their identities. */
export function listenerTls(flags: ListenerTlsFlags): ServerTls | null {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined))
    throw new CliError('--tls-cert and --tls-key go together', 2);
  if ((flags.tlsClientCa !== undefined || flags.tlsIdentities !== undefined) && flags.tlsCert === undefined)
    throw new CliError('--tls-client-ca and --tls-identities need --tls-cert and --tls-key', 2);
  if ((flags.tlsClientCa === undefined) !== (flags.tlsIdentities === undefined))
    throw new CliError('--tls-client-ca and --tls-identities go together', 2);
  if (!flags.tlsCert || !flags.tlsKey) return null;
  return {
    cert: readFileSync(flags.tlsCert),
    key: readFileSync(flags.tlsKey),
    ...(flags.tlsClientCa === undefined ? {} : { clientCa: readFileSync(flags.tlsClientCa) }),
    ...(flags.tlsIdentities === undefined ? {} : { clientIdentities: readIdentities(flags.tlsIdentities) }),
  };
}

/** A JSON file of client identities, checked here so that a mistake names the file. */
export function readIdentities(file: string): ClientIdentity[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`--tls-identities ${file}: ${(error as Error).message}`, 2);
  }
  const problems: string[] = [];
  checkClientIdentities(parsed, problems, file);
  if (problems.length > 0) throw new CliError(`--tls-identities: ${problems.join('; ')}`, 2);
  return parsed as ClientIdentity[];
}
