import type { Command } from 'commander';
import { isRole, parseDuration, roles, type AuditRecord, type AuditVerification } from '@herald/core';
import type { TokenView as TokenInfo } from '@herald/server';
import { adminClient } from '../admin-client.js';
import { clientCommand, parseCount, resolveUrl, type ClientFlags } from '../flags.js';
import { CliError, printJson, printLine } from '../output.js';

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('create, list and revoke API tokens');

  clientCommand(token.command('create').description('create a token and print it (shown once)'))
    .requiredOption('--role <role>', `one of ${roles.join(', ')}`)
    .requiredOption('--ns <glob>', 'namespaces it covers (glob: * and ?)')
    .option('--name <name>', 'a name to recognise it by')
    .option('--secrets', 'may read secret values')
    .option('--expires-in <seconds>', 'expire after this many seconds')
    .option(
      '--azure',
      'an Azure App Configuration access key for one namespace: prints a connection string Endpoint=…;Id=…;Secret=…',
    )
    .action(
      async (
        flags: ClientFlags & {
          role: string;
          ns: string;
          name?: string;
          secrets?: boolean;
          expiresIn?: string;
          azure?: boolean;
        },
      ) => {
        if (!isRole(flags.role))
          throw new CliError(`--role must be one of ${roles.join(', ')}, got "${flags.role}"`, 2);
        const body = {
          scopes: [{ namespaces: flags.ns, role: flags.role, ...(flags.secrets ? { secrets: true } : {}) }],
          ...(flags.name ? { name: flags.name } : {}),
          ...(flags.expiresIn === undefined ? {} : { expiresInSeconds: parseCount(flags.expiresIn, '--expires-in') }),
        };
        if (flags.azure) {
          const key = await adminClient(flags).post<{ id: string; secret: string; info: TokenInfo }>(
            '/v1/azure/access-keys',
            body,
          );
          const endpoint = resolveUrl(flags).replace(/\/+$/u, '');
          const connectionString = `Endpoint=${endpoint};Id=${key.id};Secret=${key.secret}`;
          if (flags.json) printJson({ connectionString, ...key });
          else printLine(connectionString);
          return;
        }
        const created = await adminClient(flags).post<{ token: string; info: TokenInfo }>('/v1/tokens', body);
        if (flags.json) printJson(created);
        else printLine(created.token);
      },
    );

  clientCommand(token.command('list').description('list tokens (never their secrets)')).action(
    async (flags: ClientFlags) => {
      const { items } = await adminClient(flags).get<{ items: TokenInfo[] }>('/v1/tokens');
      if (flags.json) return printJson({ items });
      for (const t of items) {
        const scopes = t.scopes.map((s) => `${s.role}:${s.namespaces}${s.secrets ? '+secrets' : ''}`).join(' ');
        printLine(`${t.id}\t${t.name || '-'}\t${scopes}\t${tokenState(t, Date.now())}`);
      }
    },
  );

  clientCommand(
    token
      .command('rotate <id>')
      .description('create a successor with the same name and scopes and print it; the old token ends after --overlap'),
  )
    .option('--overlap <duration>', 'how long the old token stays valid (e.g. 30m, 24h; at most 30 days)', '24h')
    .action(async (id: string, flags: ClientFlags & { overlap: string }) => {
      const overlapSeconds = Math.ceil(parseDuration(flags.overlap, '--overlap') / 1000);
      const rotated = await adminClient(flags).post<{ token: string; info: TokenInfo; previous: TokenInfo }>(
        `/v1/tokens/${encodeURIComponent(id)}/rotate`,
        { overlapSeconds },
      );
      if (flags.json) printJson(rotated);
      else printLine(rotated.token);
    });

  clientCommand(token.command('revoke <id>').description('revoke a token')).action(
    async (id: string, flags: ClientFlags) => {
      const revoked = await adminClient(flags).delete<TokenInfo>(`/v1/tokens/${encodeURIComponent(id)}`);
      if (flags.json) printJson(revoked);
      else printLine(`revoked token ${revoked.id}`);
    },
  );

  const audit = program.command('audit').description('the hash-chained audit log');
  clientCommand(audit.command('list').description('audit records, oldest first'))
    .option('--limit <n>', 'at most N records', '100')
    .action(async (flags: ClientFlags & { limit: string }) => {
      const page = await adminClient(flags).get<{ items: AuditRecord[] }>('/v1/audit', {
        query: { limit: flags.limit },
      });
      if (flags.json) return printJson(page);
      for (const r of page.items)
        printLine(`${r.seq}\t${new Date(r.at).toISOString()}\t${r.actor}\t${r.action}\t${r.target}`);
    });
  clientCommand(audit.command('verify').description('check the whole chain; exit 0 only when it is intact')).action(
    async (flags: ClientFlags) => {
      const result = await adminClient(flags).get<AuditVerification>('/v1/audit/verify');
      if (flags.json) printJson(result);
      else if (result.ok) printLine(`audit chain intact: ${result.count} records, head ${result.head}`);
      if (!result.ok)
        throw new CliError(`audit chain broken at record ${result.firstBad?.seq}: ${result.firstBad?.reason}`);
    },
  );
}

/** What `token list` says of a token: revoked, expired, or active (until its expiry, when it has one). */
export function tokenState(t: Pick<TokenInfo, 'revokedAt' | 'expiresAt'>, now: number): string {
  if (t.revokedAt) return `revoked ${t.revokedAt}`;
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return `expired ${t.expiresAt}`;
  return t.expiresAt ? `active until ${t.expiresAt}` : 'active';
}
