import type { Command } from 'commander';
import { isRole, parseDuration, roles, type AuditRecord, type AuditVerification } from '@herald/core';
import type { TokenView as TokenInfo } from '@herald/server';
import { adminClient } from '../admin-client.js';
import { clientCommand, parseCount, parseSince, resolveUrl, type ClientFlags } from '../flags.js';
import { relativeTime, shortTime, table } from '../human.js';
import { CliError, printJson, printLine } from '../output.js';

/** A token's state in words: active, expiring in…, expired …, revoked …. */
function tokenState(t: TokenInfo, now: number): string {
  if (t.revokedAt) return `revoked ${relativeTime(t.revokedAt, now)}`;
  if (t.expiresAt === null) return 'active';
  return Date.parse(t.expiresAt) <= now
    ? `expired ${relativeTime(t.expiresAt, now)}`
    : `active, expires ${relativeTime(t.expiresAt, now)}`;
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('create, list and revoke API tokens');

  clientCommand(token.command('create').description('create a token and print it (shown once)'))
    .requiredOption('--role <role>', `one of ${roles.join(', ')}`)
    .requiredOption('--ns <glob>', 'namespaces it covers (glob: * and ?)')
    .option('--name <name>', 'a name to recognise it by')
    .option('--secrets', 'may read secret values')
    .option('--relay', "a relay's token: the instances it forwards reports for stay their clients' own")
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
          relay?: boolean;
          expiresIn?: string;
          azure?: boolean;
        },
      ) => {
        if (!isRole(flags.role))
          throw new CliError(`--role must be one of ${roles.join(', ')}, got "${flags.role}"`, 2);
        const body = {
          scopes: [
            {
              namespaces: flags.ns,
              role: flags.role,
              ...(flags.secrets ? { secrets: true } : {}),
              ...(flags.relay ? { relay: true } : {}),
            },
          ],
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
      const now = Date.now();
      const rows = items.map((t) => [
        t.id,
        t.name || '-',
        t.scopes
          .map((s) => `${s.role}:${s.namespaces}${s.secrets ? '+secrets' : ''}${s.relay ? '+relay' : ''}`)
          .join(' '),
        shortTime(t.createdAt),
        t.expiresAt === null ? 'never' : shortTime(t.expiresAt),
        tokenState(t, now),
      ]);
      for (const line of table(['ID', 'NAME', 'SCOPES', 'CREATED (UTC)', 'EXPIRES (UTC)', 'STATE'], rows))
        printLine(line);
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
  clientCommand(audit.command('list').description('audit records, newest first'))
    .option('--limit <n>', 'at most N records', '50')
    .option('--oldest', 'oldest first')
    .option('--actor <actor>', 'only records by this actor (as the list shows it)')
    .option('--action <action>', 'only this action, or a family of them: rollout matches rollout.start, rollout.pause…')
    .option('--ns <namespace>', 'only records about this namespace')
    .option(
      '--since <when>',
      'only records since then: a time (2026-05-01T12:00Z) or a duration back from now (30m, 2h, 7d)',
    )
    .action(
      async (
        flags: ClientFlags & {
          limit: string;
          oldest?: boolean;
          actor?: string;
          action?: string;
          ns?: string;
          since?: string;
        },
      ) => {
        const limit = parseCount(flags.limit, '--limit', 1, 100_000);
        const query = {
          order: flags.oldest ? 'oldest' : 'newest',
          actor: flags.actor,
          action: flags.action,
          namespace: flags.ns,
          since: flags.since === undefined ? undefined : new Date(parseSince(flags.since, '--since')).toISOString(),
        };
        // A filter that matches little may answer a short page with a cursor: read on until
        // `limit` records or the end.
        const client = adminClient(flags);
        const items: AuditRecord[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.get<{ items: AuditRecord[]; next?: string }>('/v1/audit', {
            query: { ...query, limit: Math.min(1000, limit - items.length), cursor },
          });
          items.push(...page.items);
          cursor = page.next;
        } while (cursor !== undefined && items.length < limit);
        if (flags.json) return printJson({ items, ...(cursor === undefined ? {} : { next: cursor }) });
        if (items.length === 0) return printLine('no audit records match');
        const rows = items.map((r) => [String(r.seq), shortTime(r.at), r.actor, r.action, r.target]);
        for (const line of table(['SEQ', 'AT (UTC)', 'ACTOR', 'ACTION', 'TARGET'], rows)) printLine(line);
        if (cursor !== undefined) printLine(`… more: raise --limit${flags.oldest ? '' : ' or narrow --since'}`);
      },
    );
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
