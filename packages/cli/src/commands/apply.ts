import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { Command } from 'commander';
import { canonicalJson, jsonContentType } from '@herald/core';
import { evaluatorsContentType, evaluatorsKey, flagContentType } from '@herald/flags';
import { adminClient, nsPath } from '../admin-client.js';
import { changeControlCommand, clientCommand, type ClientFlags } from '../flags.js';
import { CliError, printJson, printLine, warn } from '../output.js';
import type { CommitOutcome, EntryView } from '@herald/server';
import { formatDiff } from './entries.js';
import { readStructuredFile } from './namespaces.js';

const structuredExtensions = new Set(['.json', '.yaml', '.yml']);

interface DesiredEntry {
  key: string;
  value: unknown;
  contentType: string;
  file: string;
}

/**
 * Feature flags in a config folder: `NAME.flag.yaml` (or .json, .yml) is the flagd flag NAME, and
 * `$evaluators.yaml` the shared evaluators; everything else is plain JSON.
 */
function contentTypeOf(key: string): { key: string; contentType: string } {
  if (key.endsWith('.flag')) return { key: key.slice(0, -'.flag'.length), contentType: flagContentType };
  if (key === evaluatorsKey) return { key, contentType: evaluatorsContentType };
  return { key, contentType: jsonContentType };
}

/**
 * Every YAML/JSON file under DIR becomes one entry: its path without the extension is the key
 * (`.flag` before the extension makes it a flag). Hidden files are skipped.
 */
export function readConfigFolder(dir: string): DesiredEntry[] {
  let rootStat;
  try {
    rootStat = statSync(dir);
  } catch {
    throw new CliError(`cannot read folder ${dir}`);
  }
  if (!rootStat.isDirectory()) throw new CliError(`${dir} is not a folder`);
  const entries: DesiredEntry[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      if (name.startsWith('.')) continue;
      const path = join(folder, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const extension = extname(name).toLowerCase();
      if (!structuredExtensions.has(extension)) {
        warn(`skipping ${path}: only .json, .yaml and .yml files are applied`);
        continue;
      }
      const { key, contentType } = contentTypeOf(relative(dir, path).slice(0, -extension.length).split(sep).join('/'));
      const value = extension === '.json' ? parseJsonFile(path) : readStructuredFile(path);
      entries.push({ key, value, contentType, file: path });
    }
  };
  walk(dir);
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const other = seen.get(entry.key);
    if (other) throw new CliError(`${entry.file} and ${other} both map to key "${entry.key}"`);
    seen.set(entry.key, entry.file);
  }
  return entries;
}

function parseJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    throw new CliError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

function sameValue(live: EntryView, desired: DesiredEntry): boolean {
  return live.contentType === desired.contentType && canonicalJson(live.value) === canonicalJson(desired.value);
}

export function registerApplyCommand(program: Command): void {
  changeControlCommand(
    clientCommand(
      program
        .command('apply [ns]')
        .description('make a namespace match a folder of YAML/JSON files, as one commit, after showing the diff'),
    ),
  )
    .requiredOption('-f, --file <dir>', 'folder of config files (path → key)')
    .option('--ns <ns>', 'the namespace, as a flag (the same as the NS argument)')
    .option('--label <label>', 'label the entries get', '')
    .option('--dry-run', 'show the diff, change nothing')
    .option('--prune', 'delete entries that are not in the folder')
    .option('-m, --message <text>', 'commit message')
    .action(
      async (
        positional: string | undefined,
        flags: ClientFlags & {
          file: string;
          ns?: string;
          label: string;
          dryRun?: boolean;
          prune?: boolean;
          message?: string;
        },
      ) => {
        if (positional !== undefined && flags.ns !== undefined && positional !== flags.ns)
          throw new CliError(`the namespace is given twice, as ${positional} and --ns ${flags.ns}: give it once`, 2);
        const namespace = positional ?? flags.ns;
        if (namespace === undefined) throw new CliError('apply needs a namespace: herald apply NS -f DIR', 2);
        const desired = readConfigFolder(flags.file);
        const client = adminClient(flags);
        const live = await client.all<EntryView>(`${nsPath(namespace)}/entries`, { query: { label: [flags.label] } });
        const liveByKey = new Map(live.map((e) => [e.key, e]));
        const desiredKeys = new Set(desired.map((d) => d.key));
        const diff: Array<{
          key: string;
          label: string;
          kind: 'added' | 'changed' | 'removed';
          before?: EntryView;
          after?: { value: unknown; redacted: boolean };
        }> = [];
        // Each change carries the revision it was diffed against, so a change made by someone else
        // between this diff and the commit fails the apply instead of being overwritten unseen.
        const changes: unknown[] = [];
        for (const d of desired) {
          const current = liveByKey.get(d.key);
          if (current?.redacted) {
            warn(`${d.key} is a secret this token cannot read; leaving it as it is`);
            continue;
          }
          if (current && sameValue(current, d)) continue;
          diff.push({
            key: d.key,
            label: flags.label,
            kind: current ? 'changed' : 'added',
            ...(current ? { before: current } : {}),
            after: { value: d.value, redacted: false },
          });
          changes.push({
            op: 'set',
            key: d.key,
            label: flags.label,
            value: d.value,
            contentType: d.contentType,
            ...(current
              ? { ifRevision: current.revision, secret: current.secret, tags: current.tags }
              : { ifAbsent: true }),
          });
        }
        if (flags.prune) {
          for (const current of live) {
            if (desiredKeys.has(current.key)) continue;
            diff.push({ key: current.key, label: flags.label, kind: 'removed', before: current });
            changes.push({ op: 'delete', key: current.key, label: flags.label, ifRevision: current.revision });
          }
        }
        const unmanaged = flags.prune ? 0 : live.filter((e) => !desiredKeys.has(e.key)).length;
        if (!flags.json) {
          for (const line of formatDiff(diff)) printLine(line);
          if (unmanaged > 0)
            printLine(
              `(${unmanaged} entr${unmanaged === 1 ? 'y' : 'ies'} not in the folder kept; --prune deletes them)`,
            );
        }
        if (changes.length === 0) {
          if (flags.json) printJson({ applied: false, revision: null, changes: diff });
          else printLine(`${namespace} already matches ${flags.file}`);
          return;
        }
        if (flags.dryRun) {
          if (flags.json) printJson({ applied: false, dryRun: true, revision: null, changes: diff });
          else printLine(`dry run: ${changes.length} change(s) not applied`);
          return;
        }
        const result = await client.post<CommitOutcome>(`${nsPath(namespace)}/commits`, {
          message: flags.message ?? `herald apply -f ${flags.file}`,
          changes,
        });
        if (flags.json) printJson({ applied: true, revision: result.revision, changes: diff });
        else printLine(`applied ${changes.length} change(s) to ${namespace} at revision ${result.revision}`);
      },
    );
}
