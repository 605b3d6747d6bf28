import type { Command } from 'commander';
import { flagContentType, isFlagContentType } from '@herald/flags';
import type { EntryView, FlagSummary, FlagSummaryItem } from '@herald/server';
import { adminClient, entryPath, nsPath } from '../admin-client.js';
import { clientCommand, parseCount, type ClientFlags } from '../flags.js';
import { relativeTime, table } from '../human.js';
import { CliError, oneLine, printJson, printLine } from '../output.js';

/**
 * `herald flag …`: conveniences over entries whose content type is a flag. Each is one ordinary
 * commit (history, diff, revert, audit, rollouts apply); the server validates the definition.
 */

interface Definition {
  state?: unknown;
  variants?: Record<string, unknown>;
  defaultVariant?: unknown;
  targeting?: unknown;
}

type FlagFlags = ClientFlags & { label: string; message?: string };

function describe(entry: EntryView): string {
  const where = `${entry.key}${entry.label ? ` [${entry.label}]` : ''}`;
  if (entry.redacted) return `${where}  <secret>`;
  const flag = entry.value as Definition;
  const variants = Object.keys(flag.variants ?? {}).join(', ');
  const targeting = flag.targeting && Object.keys(flag.targeting).length > 0 ? '  targeted' : '';
  return `${where}  ${String(flag.state)}  default ${String(flag.defaultVariant)}  variants ${variants}${targeting}`;
}

async function readFlag(flags: FlagFlags, namespace: string, key: string): Promise<EntryView> {
  const entry = await adminClient(flags).get<EntryView>(entryPath(namespace, 'entries', key), {
    query: { label: flags.label },
  });
  if (!isFlagContentType(entry.contentType))
    throw new CliError(`${namespace}/${key} is not a flag (content type ${entry.contentType}); see herald get`);
  return entry;
}

async function writeFlag(
  flags: FlagFlags,
  namespace: string,
  key: string,
  value: unknown,
  current: EntryView | undefined,
): Promise<EntryView> {
  return adminClient(flags).put<EntryView>(
    entryPath(namespace, 'entries', key),
    {
      value,
      contentType: flagContentType,
      ...(current ? { ifRevision: current.revision, tags: current.tags, secret: current.secret } : {}),
      ...(flags.message ? { message: flags.message } : {}),
    },
    { query: { label: flags.label } },
  );
}

/** Counts per variant for a table cell: "on 10 · off 3", "-" when none. */
function countsCell(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([variant, count]) => `${variant} ${count}`);
  return parts.length === 0 ? '-' : parts.join(' · ');
}

function rolloutCell(flag: FlagSummaryItem): string {
  if (!flag.rollout) return '-';
  const stable = flag.rollout.stable
    ? `${flag.rollout.stable.state}/${String(flag.rollout.stable.defaultVariant)}`
    : 'new';
  return `#${flag.rollout.seq} ${flag.rollout.state} in ${flag.rollout.wave} (stable ${stable})`;
}

/** `herald flags NS`: the summary table, one row per flag. */
export function summaryLines(summary: FlagSummary): string[] {
  if (summary.flags.length === 0)
    return [`no flags in ${summary.namespace}${summary.label ? ` [${summary.label}]` : ''}`];
  const rows = summary.flags.map((flag) => [
    `${flag.key}${flag.stale ? ' (stale)' : ''}`,
    flag.state,
    `${String(flag.defaultVariant)} of ${Object.keys(flag.variants).join(', ') || '-'}${flag.hasTargeting ? ' +targeting' : ''}`,
    rolloutCell(flag),
    countsCell(flag.evaluations.hour),
    countsCell(flag.evaluations.day),
    flag.lastEvaluatedAt ? relativeTime(flag.lastEvaluatedAt) : 'never',
  ]);
  const lines = table(['FLAG', 'STATE', 'DEFAULT OF VARIANTS', 'ROLLOUT', 'LAST HOUR', 'LAST DAY', 'EVALUATED'], rows);
  const stale = summary.flags.filter((f) => f.stale).length;
  if (stale > 0) lines.push(`${stale} stale: not evaluated for ${summary.staleAfterDays} days`);
  return lines;
}

export function registerFlagCommands(program: Command): void {
  clientCommand(
    program
      .command('flags <ns>')
      .description(
        'the flags of a namespace: state, variants, rollout position, evaluations in the last hour and day, stale',
      ),
  )
    .option('--label <label>', 'the label (default: the empty label)')
    .option('--stale-days <n>', 'a flag not evaluated for this many days is stale (1-365)', '7')
    .action(async (namespace: string, flags: ClientFlags & { label?: string; staleDays: string }) => {
      const summary = await adminClient(flags).get<FlagSummary>(`${nsPath(namespace)}/flags`, {
        query: {
          ...(flags.label === undefined ? {} : { label: flags.label }),
          staleDays: String(parseCount(flags.staleDays, '--stale-days', 1, 365)),
        },
      });
      if (flags.json) return printJson(summary);
      for (const line of summaryLines(summary)) printLine(line);
    });

  const flag = program.command('flag').description('feature flags: flagd definitions stored as entries');
  const withLabel = (command: Command) =>
    clientCommand(command).option('--label <label>', 'label (variant) of the flag entry', '');

  withLabel(
    flag
      .command('set <ns> <key> <definition>')
      .description('set a flag; DEFINITION is flagd JSON: {"state","variants","defaultVariant","targeting"?}'),
  )
    .option('-m, --message <text>', 'commit message')
    .action(async (namespace: string, key: string, raw: string, flags: FlagFlags) => {
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        throw new CliError(`DEFINITION is not valid JSON (${oneLine(raw)})`, 2);
      }
      const entry = await writeFlag(flags, namespace, key, value, undefined);
      if (flags.json) printJson(entry);
      else printLine(`${namespace}/${describe(entry)} (revision ${entry.revision})`);
    });

  withLabel(flag.command('get <ns> <key>').description('show a flag definition')).action(
    async (namespace: string, key: string, flags: FlagFlags) => {
      const entry = await readFlag(flags, namespace, key);
      if (flags.json) printJson(entry);
      else printLine(JSON.stringify(entry.value, null, 2));
    },
  );

  for (const [name, state] of [
    ['enable', 'ENABLED'],
    ['disable', 'DISABLED'],
  ] as const) {
    withLabel(flag.command(`${name} <ns> <key>`).description(`set a flag's state to ${state}`))
      .option('-m, --message <text>', 'commit message')
      .action(async (namespace: string, key: string, flags: FlagFlags) => {
        const current = await readFlag(flags, namespace, key);
        if (current.redacted) throw new CliError(`${namespace}/${key} is a secret this token cannot read`);
        // The revision read is the commit's precondition: a change made meanwhile fails this one, not lost.
        const entry = await writeFlag(
          flags,
          namespace,
          key,
          { ...(current.value as Record<string, unknown>), state },
          current,
        );
        if (flags.json) printJson(entry);
        else
          printLine(
            `${name}d ${namespace}/${key}${flags.label ? ` [${flags.label}]` : ''} (revision ${entry.revision})`,
          );
      });
  }

  clientCommand(flag.command('list <ns>').description('the flags of a namespace: state, default, variants'))
    .option('--label <label>', 'only this label')
    .action(async (namespace: string, flags: ClientFlags & { label?: string }) => {
      const items = (
        await adminClient(flags).all<EntryView>(`${nsPath(namespace)}/entries`, {
          query: { label: flags.label === undefined ? undefined : [flags.label] },
        })
      ).filter((e) => isFlagContentType(e.contentType));
      if (flags.json) return printJson({ items });
      for (const entry of items) printLine(describe(entry));
    });
}
