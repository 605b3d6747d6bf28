import type { Command } from 'commander';
import type { CommitOutcome, DiffItem, EntryView, HistoryItem } from '@herald/server';
import { adminClient, entryPath, nsPath } from '../admin-client.js';
import { changeControlCommand, clientCommand, collect, parsePairs, parseRevision, type ClientFlags } from '../flags.js';
import { shortTime } from '../human.js';
import { CliError, oneLine, printJson, printLine } from '../output.js';

/** An entry's value as `get` prints it: the value itself, unless the token may not read it. */
export function showValue(entry: Pick<EntryView, 'value' | 'redacted'>): string {
  if (entry.redacted) return '<secret>';
  return typeof entry.value === 'string' ? entry.value : JSON.stringify(entry.value);
}

/**
 * A value in a listing (set, ls, history, diff, apply): a secret is never echoed to the terminal
 * there, even to a token that may read it; `herald get` prints it when asked for.
 */
export function listedValue(entry: Pick<EntryView, 'value' | 'redacted'> & { secret?: boolean }): string {
  return entry.secret === true ? '<secret>' : showValue(entry);
}

/** What `set --json` prints: the entry, without the value of a secret (the caller has it). */
function withoutSecretValue(entry: EntryView): EntryView {
  return entry.secret ? { ...entry, value: null, redacted: true } : entry;
}

export function registerEntryCommands(program: Command): void {
  changeControlCommand(
    clientCommand(program.command('set <ns> <key> <value>').description('set an entry; VALUE is JSON unless --text')),
  )
    .option('--label <label>', 'label (variant) of the entry', '')
    .option('--if-revision <n>', 'only if the entry is at revision N (0: only if absent)')
    .option('--text', 'store VALUE as text, not JSON')
    .option('--content-type <type>', 'content type (default application/json, or text/plain with --text)')
    .option(
      '--secret',
      'encrypt at rest and redact for tokens that may not read secrets (an existing secret stays one without it)',
    )
    .option('--no-secret', 'make an existing secret a plain entry')
    .option('--tag <name=value>', 'tag the entry (repeatable)', collect)
    .option('-m, --message <text>', 'commit message')
    .action(
      async (
        namespace: string,
        key: string,
        raw: string,
        flags: ClientFlags & {
          label: string;
          ifRevision?: string;
          text?: boolean;
          contentType?: string;
          secret?: boolean;
          tag?: string[];
          message?: string;
        },
      ) => {
        let value: unknown = raw;
        if (!flags.text) {
          try {
            value = JSON.parse(raw);
          } catch {
            throw new CliError(`VALUE is not valid JSON (${oneLine(raw)}); pass --text to store it as text`, 2);
          }
        }
        const tagFlags = flag(flags.tag);
        const tags = tagFlags === undefined ? undefined : parsePairs(tagFlags, '--tag');
        const client = adminClient(flags);
        // The API takes an absent `secret` as "not secret"; a newcomer who sets a new value on a
        // secret without --secret means to keep it secret. Keep it, unless told --no-secret, and
        // only if the entry is still the one read (a concurrent write fails the set, never declassifies).
        // With both --secret and --no-secret defined, commander leaves the value undefined when neither is given.
        const asked = flags.secret;
        let keptSecret = false;
        let guard = flags.ifRevision === undefined ? undefined : parseRevision(flags.ifRevision, '--if-revision');
        if (asked === undefined) {
          // A listing, not a GET of the entry: a new key is not a refused request in the server's log.
          const page = await client.get<{ items: EntryView[] }>(`${nsPath(namespace)}/entries`, {
            query: { prefix: key, label: [flags.label], limit: 1 },
          });
          const existing = page.items.find((e) => e.key === key && e.label === flags.label);
          if (existing?.secret === true) {
            keptSecret = true;
            guard ??= existing.revision;
          }
        }
        const entry = await client.put<EntryView>(
          entryPath(namespace, 'entries', key),
          {
            value,
            contentType: flags.contentType ?? (flags.text ? 'text/plain' : 'application/json'),
            ...(tags ? { tags } : {}),
            ...(asked === true || keptSecret ? { secret: true } : {}),
            ...(flags.message ? { message: flags.message } : {}),
            ...(guard === undefined ? {} : { ifRevision: guard }),
          },
          { query: { label: flags.label } },
        );
        if (flags.json) printJson(withoutSecretValue(entry));
        else
          printLine(
            `${namespace}/${key}${entry.label ? ` [${entry.label}]` : ''} = ${oneLine(listedValue(entry))} (revision ${entry.revision}${keptSecret ? '; kept secret, --no-secret makes it plain' : ''})`,
          );
      },
    );

  clientCommand(program.command('get <ns> <key>').description('read an entry'))
    .option('--label <label>', 'label (variant) of the entry', '')
    .option('--as-of <revision>', 'read it as it was at a past revision')
    .action(async (namespace: string, key: string, flags: ClientFlags & { label: string; asOf?: string }) => {
      const entry = await adminClient(flags).get<EntryView>(entryPath(namespace, 'entries', key), {
        query: {
          label: flags.label,
          asOf: flags.asOf === undefined ? undefined : parseRevision(flags.asOf, '--as-of'),
        },
      });
      if (flags.json) printJson(entry);
      else printLine(showValue(entry));
    });

  clientCommand(program.command('ls <ns>').description('list the entries of a namespace'))
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--label <label>', 'only this label (repeatable)', collect)
    .option('--as-of <revision>', 'as the namespace was at a past revision')
    .action(async (namespace: string, flags: ClientFlags & { prefix?: string; label?: string[]; asOf?: string }) => {
      const items = await adminClient(flags).all<EntryView>(`${nsPath(namespace)}/entries`, {
        query: {
          prefix: flags.prefix,
          label: flag(flags.label),
          asOf: flags.asOf === undefined ? undefined : parseRevision(flags.asOf, '--as-of'),
        },
      });
      if (flags.json) return printJson({ items });
      for (const e of items) {
        // A secret shows as <secret> already.
        const marks = e.locked ? 'locked' : '';
        printLine(
          `${e.key}${e.label ? ` [${e.label}]` : ''} = ${oneLine(listedValue(e))}${marks ? `  (${marks})` : ''}`,
        );
      }
    });

  for (const [name, op, description] of [
    ['rm', 'delete', 'delete an entry'],
    ['lock', 'lock', 'lock an entry: read-only until unlocked'],
    ['unlock', 'unlock', 'unlock an entry'],
  ] as const) {
    changeControlCommand(clientCommand(program.command(`${name} <ns> <key>`).description(description)))
      .option('--label <label>', 'label (variant) of the entry', '')
      .option('-m, --message <text>', 'commit message')
      .action(async (namespace: string, key: string, flags: ClientFlags & { label: string; message?: string }) => {
        // One change as a commit of its own: the commits route is the one that takes a message.
        const result = await adminClient(flags).post<CommitOutcome>(`${nsPath(namespace)}/commits`, {
          changes: [{ op, key, label: flags.label }],
          ...(flags.message === undefined ? {} : { message: flags.message }),
        });
        if (flags.json) printJson(result);
        else
          printLine(
            `${name === 'rm' ? 'deleted' : `${name}ed`} ${namespace}/${key}${flags.label ? ` [${flags.label}]` : ''} (revision ${result.revision})`,
          );
      });
  }

  clientCommand(
    program.command('history <ns> [key]').description('commits of a namespace (or versions of one key), newest first'),
  )
    .option('--label <label>', 'with KEY: only this label')
    .option('--oldest', 'oldest first')
    .option('--limit <n>', 'at most N commits', '50')
    .action(
      async (
        namespace: string,
        key: string | undefined,
        flags: ClientFlags & { label?: string; oldest?: boolean; limit: string },
      ) => {
        const page = await adminClient(flags).get<{ items: HistoryItem[]; next?: string }>(
          `${nsPath(namespace)}/history`,
          {
            query: {
              key,
              label: flags.label,
              order: flags.oldest ? 'oldest' : 'newest',
              limit: parseRevision(flags.limit, '--limit'),
            },
          },
        );
        if (flags.json) return printJson(page);
        for (const item of page.items) {
          printLine(
            `revision ${item.revision}  ${shortTime(item.at)}  ${item.author}${item.message ? `  "${item.message}"` : ''}`,
          );
          for (const change of item.changes) {
            const where = `${change.key}${change.label ? ` [${change.label}]` : ''}`;
            const shown = change.entry && change.op === 'set' ? ` = ${oneLine(listedValue(change.entry))}` : '';
            printLine(`  ${change.op.padEnd(6)} ${where}${shown}`);
          }
        }
        if (page.next) printLine('… more: raise --limit');
      },
    );

  clientCommand(program.command('diff <ns>').description('what changed between two revisions'))
    .requiredOption('--from <revision>', 'older revision')
    .option('--to <revision>', 'newer revision (default: current)')
    .option('--label <label>', 'only this label')
    .action(async (namespace: string, flags: ClientFlags & { from: string; to?: string; label?: string }) => {
      const result = await adminClient(flags).get<{ from: number; to: number; changes: DiffItem[] }>(
        `${nsPath(namespace)}/diff`,
        {
          query: {
            from: parseRevision(flags.from, '--from'),
            to: flags.to === undefined ? undefined : parseRevision(flags.to, '--to'),
            label: flags.label,
          },
        },
      );
      if (flags.json) return printJson(result);
      printLine(`diff ${namespace} ${result.from}..${result.to}: ${result.changes.length} change(s)`);
      for (const line of formatDiff(result.changes)) printLine(line);
    });

  changeControlCommand(
    clientCommand(
      program
        .command('restore [ns] [key]')
        .description(
          'make a namespace (or one key) as it was at a revision, as a new commit (later commits there are undone); with --from, put a backup in place instead',
        ),
    ),
  )
    .option('--to <revision>', 'the revision to go back to')
    .option('--key <key>', 'only this key (the same as the KEY argument)')
    .option('--label <label>', 'only this label')
    .option('--dry-run', 'show the diff only')
    .option('-m, --message <text>', 'commit message')
    .option('--from <file>', 'restore the store from a file written by herald backup (the server must be stopped)')
    .option('--data <dir>', 'with --from: the data folder to restore into', 'herald-data')
    .option('--force', 'with --from: replace an existing store')
    .option(
      '--secret-key-file <file>',
      "with --from: the server's secret key, to check the private signing keys too (default: DATA/secret.key when there)",
    )
    .action(async (namespace: string | undefined, key: string | undefined, flags: RestoreCommandFlags) => {
      if (flags.from !== undefined) {
        if (namespace !== undefined || flags.to !== undefined)
          throw new CliError('--from restores a whole store from a backup: give no namespace and no --to', 2);
        const { restoreBackup } = await import('./backup.js');
        return restoreBackup({
          from: flags.from,
          data: flags.data,
          force: flags.force,
          secretKeyFile: flags.secretKeyFile,
        });
      }
      if (namespace === undefined || flags.to === undefined)
        throw new CliError('herald restore NS --to REV [KEY] (or --from FILE to restore a backup)', 2);
      if (key !== undefined && flags.key !== undefined && key !== flags.key)
        throw new CliError(`two keys given ("${key}" and --key "${flags.key}"); give one`);
      await restore(namespace, { ...flags, to: flags.to, ...(key === undefined ? {} : { key }) });
    });

  changeControlCommand(
    clientCommand(
      program
        .command('revert <ns> [revision]')
        .description(
          'undo one commit (REVISION), as a new commit that keeps every later one; with --to, the old form of `herald restore`',
        ),
    ),
  )
    .option('--to <revision>', 'the old form: restore the namespace to this revision (see `herald restore`)')
    .option('--key <key>', 'with --to: only this key')
    .option('--label <label>', 'with --to: only this label')
    .option('--dry-run', 'show the diff only')
    .option('-m, --message <text>', 'commit message')
    .action(async (namespace: string, revision: string | undefined, flags: Partial<RestoreFlags>) => {
      if (flags.to !== undefined) {
        if (revision !== undefined)
          throw new CliError('give either REVISION (undo that commit) or --to (restore to that revision), not both');
        return restore(namespace, { ...flags, to: flags.to });
      }
      if (revision === undefined)
        throw new CliError(
          'which commit? `herald revert NS REVISION` (see `herald history NS`), or `herald restore NS --to REVISION`',
        );
      if (flags.key !== undefined || flags.label !== undefined)
        throw new CliError('--key and --label go with a restore: `herald restore NS --to REVISION [KEY]`');
      const result = await adminClient(flags).post<{ revision: number | null; reverted: number; changes: DiffItem[] }>(
        `${nsPath(namespace)}/commits/${parseRevision(revision, 'REVISION')}/revert`,
        {
          ...(flags.message === undefined ? {} : { message: flags.message }),
          ...(flags.dryRun ? { dryRun: true } : {}),
        },
      );
      if (flags.json) return printJson(result);
      for (const line of formatDiff(result.changes)) printLine(line);
      printLine(
        result.revision === null
          ? flags.dryRun
            ? `dry run: nothing changed (reverting r${result.reverted} makes the changes above)`
            : `nothing to revert: r${result.reverted} changed nothing that is still there`
          : `reverted r${result.reverted} at revision ${result.revision}`,
      );
    });

  clientCommand(program.command('compact').description('drop history older than a revision (audited)'))
    .requiredOption('--revision <n>', 'keep what is visible at and after this revision')
    .action(async (flags: ClientFlags & { revision: string }) => {
      const result = await adminClient(flags).post<{ revision: number; removedVersions: number }>('/v1/compact', {
        revision: parseRevision(flags.revision, '--revision'),
      });
      if (flags.json) printJson(result);
      else printLine(`compacted to revision ${result.revision}: ${result.removedVersions} old version(s) removed`);
    });
}

type RestoreFlags = ClientFlags & { to: string; key?: string; label?: string; dryRun?: boolean; message?: string };
type RestoreCommandFlags = Omit<RestoreFlags, 'to'> & {
  to?: string;
  from?: string;
  data: string;
  force?: boolean;
  secretKeyFile?: string;
};

async function restore(namespace: string, flags: RestoreFlags): Promise<void> {
  const result = await adminClient(flags).post<{ revision: number | null; changes: DiffItem[] }>(
    `${nsPath(namespace)}/restore`,
    {
      revision: parseRevision(flags.to, '--to'),
      ...(flags.key === undefined ? {} : { key: flags.key }),
      ...(flags.label === undefined ? {} : { label: flags.label }),
      ...(flags.message === undefined ? {} : { message: flags.message }),
      ...(flags.dryRun ? { dryRun: true } : {}),
    },
  );
  if (flags.json) return printJson(result);
  for (const line of formatDiff(result.changes)) printLine(line);
  printLine(
    result.revision === null
      ? flags.dryRun
        ? 'dry run: nothing changed'
        : `nothing to restore: already as it was at revision ${flags.to}`
      : `restored to revision ${flags.to} at revision ${result.revision}`,
  );
}

/** Human diff lines: "+ key = new", "- key = old", "~ key: old -> new". */
export function formatDiff(
  changes: Array<{
    key: string;
    label: string;
    kind: string;
    before?: Pick<EntryView, 'value' | 'redacted'> & { secret?: boolean };
    after?: Pick<EntryView, 'value' | 'redacted'> & { secret?: boolean };
  }>,
): string[] {
  return changes.map((c) => {
    const where = `${c.key}${c.label ? ` [${c.label}]` : ''}`;
    if (c.kind === 'added' && c.after) return `+ ${where} = ${oneLine(listedValue(c.after))}`;
    if (c.kind === 'removed' && c.before) return `- ${where} = ${oneLine(listedValue(c.before))}`;
    return `~ ${where}: ${c.before ? oneLine(listedValue(c.before)) : '?'} -> ${c.after ? oneLine(listedValue(c.after)) : '?'}`;
  });
}

function flag<T>(value: T[] | undefined): T[] | undefined {
  return value && value.length > 0 ? value : undefined;
}
