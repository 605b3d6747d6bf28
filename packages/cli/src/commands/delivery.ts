import type { Command } from 'commander';
import type { PublicKeyInfo } from '@herald/core';
import type { FleetItem, ReleaseView as Release, ScheduleView } from '@herald/server';
import { adminClient, nsPath } from '../admin-client.js';
import { changeControlCommand, clientCommand, parseRevision, type ClientFlags } from '../flags.js';
import { shortTime, table } from '../human.js';
import { CliError, printJson, printLine } from '../output.js';
import { readStructuredFile } from './namespaces.js';

export function registerDeliveryCommands(program: Command): void {
  changeControlCommand(
    clientCommand(
      program
        .command('release <ns>')
        .description('release the namespace as it is now (or roll back to an older release), now or --at a time'),
    ),
  )
    .option('--at <time>', 'schedule the release for this time (ISO 8601, e.g. 2026-12-03T09:00:00Z)')
    .option('-m, --message <text>', 'why (the release note)')
    .option('--note <text>', 'the same as --message')
    .option('--rollback-to <seq>', 'a new release with the content of release SEQ')
    .option('--supersede', 'on a staged namespace: abort the running rollout and start a new one')
    .option('--force', 'release even content that a rollout rolled back (needs --reason; audited)')
    .action(
      async (
        namespace: string,
        flags: ClientFlags & {
          message?: string;
          note?: string;
          rollbackTo?: string;
          supersede?: boolean;
          force?: boolean;
          reason?: string;
          at?: string;
        },
      ) => {
        const note = flags.message ?? flags.note;
        if (flags.force && !flags.reason)
          throw new CliError('--force ships content a rollout rolled back: say why with --reason TEXT (audited)', 2);
        if (flags.at !== undefined) {
          if (flags.rollbackTo !== undefined) throw new CliError('--at schedules a release, not a rollback', 2);
          const scheduled = await adminClient(flags).post<ScheduleView>(`${nsPath(namespace)}/schedules`, {
            at: flags.at,
            ...(note ? { note } : {}),
            ...(flags.supersede ? { supersede: true } : {}),
          });
          if (flags.json) printJson(scheduled);
          else
            printLine(
              `release of ${namespace} scheduled for ${scheduled.at} (${scheduled.id}): herald schedule list, herald schedule cancel ${scheduled.id}`,
            );
          return;
        }
        const release = await adminClient(flags).post<Release & { rolloutId?: string }>(
          `${nsPath(namespace)}/releases`,
          {
            ...(note ? { note } : {}),
            ...(flags.supersede ? { supersede: true } : {}),
            ...(flags.force ? { force: true, reason: flags.reason } : {}),
            ...(flags.rollbackTo === undefined ? {} : { rollbackTo: parseRevision(flags.rollbackTo, '--rollback-to') }),
          },
        );
        if (flags.json) printJson(release);
        else if (release.rolloutId)
          printLine(
            `release ${release.seq} of ${namespace} is rolling out (${release.rolloutId}): herald rollout status ${namespace} --watch`,
          );
        else
          printLine(
            `released ${namespace} as release ${release.seq} (revision ${release.revision}${release.kind === 'rollback' ? `, ${release.note}` : ''})`,
          );
      },
    );

  clientCommand(program.command('releases <ns>').description('releases of a namespace, newest first'))
    .option('--limit <n>', 'at most N', '20')
    .action(async (namespace: string, flags: ClientFlags & { limit: string }) => {
      const { items } = await adminClient(flags).get<{ items: Release[] }>(`${nsPath(namespace)}/releases`, {
        query: { limit: flags.limit },
      });
      if (flags.json) return printJson({ items });
      const rows = items.map((r) => [
        String(r.seq),
        String(r.revision),
        r.kind,
        shortTime(r.createdAt),
        r.author,
        r.note,
      ]);
      for (const line of table(['SEQ', 'REVISION', 'KIND', 'AT (UTC)', 'AUTHOR', 'NOTE'], rows)) printLine(line);
    });

  const policy = program.command('policy').description('the rollout policy of a namespace');
  clientCommand(policy.command('get <ns>').description('print the policy')).action(
    async (namespace: string, flags: ClientFlags) => {
      printJson(await adminClient(flags).get(`${nsPath(namespace)}/policy`));
    },
  );
  clientCommand(policy.command('set <ns>').description('set the policy from a YAML or JSON file'))
    .requiredOption('-f, --file <file>', 'policy file')
    .action(async (namespace: string, flags: ClientFlags & { file: string }) => {
      const body = readStructuredFile(flags.file);
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new CliError(`${flags.file} must hold a policy object`);
      const result = await adminClient(flags).put(`${nsPath(namespace)}/policy`, body);
      if (flags.json) printJson(result);
      else printLine(`policy of ${namespace} set`);
    });

  const keys = program.command('keys').description('the keys that sign releases');
  clientCommand(keys.command('list').description('the public keys clients may trust')).action(
    async (flags: ClientFlags) => {
      const result = await adminClient(flags).get<{ keys: PublicKeyInfo[] }>('/v1/keys');
      if (flags.json) return printJson(result);
      for (const k of result.keys)
        printLine(
          `${k.keyId}\t${k.publicKey}\t${new Date(k.createdAt).toISOString()}${k.endorsedBy ? `\tendorsed by ${k.endorsedBy.keyId}` : ''}`,
        );
    },
  );
  clientCommand(
    keys.command('rotate').description('sign with a new key from now on, endorsed by the current one'),
  ).action(async (flags: ClientFlags) => {
    const key = await adminClient(flags).post<PublicKeyInfo>('/v1/keys/rotate', {});
    if (flags.json) printJson(key);
    else printLine(`now signing with ${key.keyId} (${key.publicKey})`);
  });

  clientCommand(
    program
      .command('fleet <ns>')
      .description('which instances run which release of a namespace, who rejected it and why, and their health'),
  ).action(async (namespace: string, flags: ClientFlags) => {
    const fleet = await adminClient(flags).get<{
      instances: FleetItem[];
      releases: Array<{ seq: number; applied: number; rejected: number }>;
    }>(`/v1/fleet/${encodeURIComponent(namespace)}`);
    if (flags.json) return printJson(fleet);
    for (const line of renderFleet(namespace, fleet.instances, fleet.releases)) printLine(line);
  });
}

/** Instances grouped by what they have in common (a reject reason, a health detail), with a few names each. */
function grouped(items: FleetItem[], by: (item: FleetItem) => string): Array<{ key: string; items: FleetItem[] }> {
  const groups = new Map<string, FleetItem[]>();
  for (const item of items) {
    const key = by(item);
    const members = groups.get(key);
    if (members) members.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.entries()]
    .map(([key, members]) => ({ key, items: members }))
    .sort((a, b) => b.items.length - a.items.length);
}

function examples(items: FleetItem[]): string {
  const names = [...new Set(items.map((i) => i.instanceId))];
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

const shownGroups = 10;

/** The fleet for a person: releases, then every reject reason and every health problem, grouped. */
export function renderFleet(
  namespace: string,
  instances: FleetItem[],
  releases: Array<{ seq: number; applied: number; rejected: number }>,
): string[] {
  const distinct = new Set(instances.map((i) => i.instanceId)).size;
  if (instances.length === 0) return [`no instance reports on ${namespace} (yet)`];
  const lines = [
    `${distinct} instance${distinct === 1 ? '' : 's'} report${distinct === 1 ? 's' : ''} on ${namespace}${instances.length === distinct ? '' : ` (${instances.length} views)`}`,
  ];
  for (const r of releases)
    lines.push(`  release ${r.seq}: ${r.applied} applied${r.rejected > 0 ? `, ${r.rejected} rejected` : ''}`);
  const rejected = instances.filter((i) => i.status === 'rejected');
  if (rejected.length > 0) {
    lines.push(`rejected by ${rejected.length}:`);
    const groups = grouped(rejected, (i) => `release ${i.seq}: ${i.reason ?? 'no reason given'}`);
    for (const g of groups.slice(0, shownGroups)) lines.push(`  ${g.key} — ${g.items.length} (${examples(g.items)})`);
    if (groups.length > shownGroups)
      lines.push(`  … ${groups.length - shownGroups} more reasons: herald fleet ${namespace} --json`);
  }
  const unwell = instances.filter((i) => i.health !== 'ok');
  const counts = ['ok', 'degraded', 'failing'].map((h) => [h, instances.filter((i) => i.health === h).length] as const);
  lines.push(
    `health: ${counts
      .filter(([, n]) => n > 0)
      .map(([h, n]) => `${n} ${h}`)
      .join(', ')}`,
  );
  const groups = grouped(unwell, (i) => `${i.health}${i.healthDetail ? `: ${i.healthDetail}` : ''}`);
  for (const g of groups.slice(0, shownGroups)) lines.push(`  ${g.key} — ${g.items.length} (${examples(g.items)})`);
  if (groups.length > shownGroups)
    lines.push(`  … ${groups.length - shownGroups} more: herald fleet ${namespace} --json`);
  return lines;
}
