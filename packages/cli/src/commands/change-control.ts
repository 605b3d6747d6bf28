import type { Command } from 'commander';
import type { ChangeRequestView, ScheduleView } from '@herald/server';
import { adminClient, nsPath } from '../admin-client.js';
import { clientCommand, collect, type ClientFlags } from '../flags.js';
import { shortTime, table } from '../human.js';
import { CliError, printJson, printLine } from '../output.js';
import { formatDiff } from './entries.js';
import { readStructuredFile } from './namespaces.js';

const crPath = (id: string, ...rest: string[]) =>
  `/v1/change-requests/${[id, ...rest].map((s) => encodeURIComponent(s)).join('/')}`;

/** One line for a change request: what it is, where it stands, and the next step. */
function summary(cr: ChangeRequestView): string {
  const approvals = `${cr.approvals.length}/${cr.required} approvals`;
  switch (cr.state) {
    case 'applied':
      return `${cr.id} applied${cr.applied?.revision === undefined ? '' : ` as revision ${cr.applied.revision}`}${cr.applied?.releaseSeq === undefined ? '' : ` (release ${cr.applied.releaseSeq})`}`;
    case 'rejected':
      return `${cr.id} rejected by ${cr.rejected?.by ?? '?'}${cr.rejected?.reason ? `: ${cr.rejected.reason}` : ''}`;
    case 'stale':
      return `${cr.id} is stale: ${cr.namespace} moved on since revision ${cr.baseRevision}; rebase it: herald cr rebase ${cr.id}`;
    case 'open':
      return cr.current
        ? `${cr.id} open, ${approvals}${cr.approvals.length < cr.required ? `: herald cr approve ${cr.id}` : ''}`
        : `${cr.id} open, ${approvals}, but ${cr.namespace} moved on since revision ${cr.baseRevision}: herald cr rebase ${cr.id}`;
  }
}

function printRequest(cr: ChangeRequestView): void {
  printLine(`${cr.id}  ${cr.kind} of ${cr.namespace}  ${cr.state}  by ${cr.author}  at ${shortTime(cr.createdAt)}`);
  if (cr.message) printLine(`  ${cr.message}`);
  printLine(
    `  base revision ${cr.baseRevision}${cr.current ? '' : ' (the namespace moved on: rebase)'}; ${cr.approvals.length}/${cr.required} approvals${cr.approvals.length ? `: ${cr.approvals.map((a) => a.by).join(', ')}` : ''}`,
  );
  if (cr.changes?.length) {
    printLine('');
    for (const line of formatDiff(cr.changes)) printLine(line);
  }
  for (const c of cr.comments) printLine(`  ${shortTime(c.at)} ${c.by}: ${c.text}`);
  printLine('');
  printLine(summary(cr));
}

export function registerChangeControlCommands(program: Command): void {
  const cr = program.command('cr').description('change requests: commits and releases waiting for approval');

  clientCommand(cr.command('list').description('change requests, newest first'))
    .option('--ns <ns>', 'only this namespace')
    .option('--state <state>', 'only open, applied, rejected or stale ones')
    .action(async (flags: ClientFlags & { ns?: string; state?: string }) => {
      const { items } = await adminClient(flags).get<{ items: ChangeRequestView[] }>('/v1/change-requests', {
        query: { namespace: flags.ns, state: flags.state },
      });
      if (flags.json) return printJson({ items });
      const rows = items.map((c) => [
        c.id,
        c.namespace,
        c.kind,
        c.state,
        `${c.approvals.length}/${c.required}`,
        c.author,
        shortTime(c.createdAt),
        c.message,
      ]);
      for (const line of table(
        ['ID', 'NAMESPACE', 'KIND', 'STATE', 'APPROVALS', 'AUTHOR', 'AT (UTC)', 'MESSAGE'],
        rows,
      ))
        printLine(line);
    });

  clientCommand(cr.command('show <id>').description('one change request, with its diff')).action(
    async (id: string, flags: ClientFlags) => {
      const request = await adminClient(flags).get<ChangeRequestView>(crPath(id));
      if (flags.json) printJson(request);
      else printRequest(request);
    },
  );

  clientCommand(
    cr
      .command('approve <id>')
      .description('approve; the last approval needed applies it as one commit (or release), or schedules that'),
  )
    .option('-m, --comment <text>', 'a comment with the approval')
    .option('--apply-at <time>', 'apply at this time (ISO 8601, e.g. 2026-12-03T09:00:00Z) rather than now')
    .action(async (id: string, flags: ClientFlags & { comment?: string; applyAt?: string }) => {
      const answer = await adminClient(flags).post<{ changeRequest: ChangeRequestView; schedule?: ScheduleView }>(
        crPath(id, 'approve'),
        { ...(flags.comment ? { comment: flags.comment } : {}), ...(flags.applyAt ? { applyAt: flags.applyAt } : {}) },
      );
      if (flags.json) return printJson(answer);
      if (answer.schedule)
        printLine(`${id} approved; it applies at ${answer.schedule.at} (${answer.schedule.id}: herald schedule list)`);
      else printLine(summary(answer.changeRequest));
      if (answer.changeRequest.state === 'stale') process.exitCode = 1;
    });

  clientCommand(cr.command('reject <id>').description('reject (or, its author, withdraw) a change request'))
    .option('--reason <text>', 'why')
    .action(async (id: string, flags: ClientFlags & { reason?: string }) => {
      const request = await adminClient(flags).post<ChangeRequestView>(crPath(id, 'reject'), {
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      if (flags.json) printJson(request);
      else printLine(summary(request));
    });

  clientCommand(cr.command('comment <id> <text>').description('comment on a change request')).action(
    async (id: string, text: string, flags: ClientFlags) => {
      const request = await adminClient(flags).post<ChangeRequestView>(crPath(id, 'comments'), { text });
      if (flags.json) printJson(request);
      else printLine(`commented on ${id}`);
    },
  );

  clientCommand(
    cr.command('rebase <id>').description('make a stale change request against the current state (approvals restart)'),
  ).action(async (id: string, flags: ClientFlags) => {
    const request = await adminClient(flags).post<ChangeRequestView>(crPath(id, 'rebase'), undefined);
    if (flags.json) printJson(request);
    else printLine(`${id} rebased onto revision ${request.baseRevision}; ${summary(request)}`);
  });

  const schedule = program.command('schedule').description('scheduled releases and change applications');
  clientCommand(schedule.command('list').description('schedules, newest first'))
    .option('--ns <ns>', 'only this namespace')
    .option('--state <state>', 'only pending, running, done, failed or cancelled ones')
    .action(async (flags: ClientFlags & { ns?: string; state?: string }) => {
      const { items } = await adminClient(flags).get<{ items: ScheduleView[] }>('/v1/schedules', {
        query: { namespace: flags.ns, state: flags.state },
      });
      if (flags.json) return printJson({ items });
      const rows = items.map((s) => [
        s.id,
        s.namespace,
        s.action === 'apply' ? `apply ${s.changeRequestId ?? ''}` : 'release',
        shortTime(s.at),
        s.state,
        s.by,
        s.detail ?? '',
      ]);
      for (const line of table(['ID', 'NAMESPACE', 'ACTION', 'AT (UTC)', 'STATE', 'BY', 'DETAIL'], rows))
        printLine(line);
    });
  clientCommand(schedule.command('cancel <id>').description('cancel a pending schedule'))
    .option('--reason <text>', 'why')
    .action(async (id: string, flags: ClientFlags & { reason?: string }) => {
      const cancelled = await adminClient(flags).post<ScheduleView>(
        `/v1/schedules/${encodeURIComponent(id)}/cancel`,
        flags.reason ? { reason: flags.reason } : {},
      );
      if (flags.json) printJson(cancelled);
      else printLine(`${id} cancelled`);
    });

  const approval = program.command('approval').description("a namespace's approval rule");
  clientCommand(approval.command('get <ns>').description('print the rule')).action(
    async (namespace: string, flags: ClientFlags) => {
      printJson(await adminClient(flags).get(`${nsPath(namespace)}/approval`));
    },
  );
  clientCommand(
    approval.command('set <ns>').description('require approvals for commits (and, with --releases, releases)'),
  )
    .requiredOption('--required <n>', 'approvals needed (0 turns approval off)')
    .option('--approver <name>', 'a token name or id that may approve (repeat; any writer when absent)', collect)
    .option('--releases', 'releases need approval too')
    .action(
      async (namespace: string, flags: ClientFlags & { required: string; approver?: string[]; releases?: boolean }) => {
        if (!/^\d+$/u.test(flags.required)) throw new CliError('--required must be a whole number', 2);
        const answer = await adminClient(flags).put<{ approval: { required: number } | null }>(
          `${nsPath(namespace)}/approval`,
          {
            required: Number(flags.required),
            ...(flags.approver ? { approvers: flags.approver } : {}),
            ...(flags.releases ? { releases: true } : {}),
          },
        );
        if (flags.json) printJson(answer);
        else
          printLine(
            answer.approval
              ? `${namespace} needs ${answer.approval.required} approval(s) per change`
              : `${namespace} needs no approval`,
          );
      },
    );

  const windows = program
    .command('windows')
    .description('change windows: no release starts and no wave advances inside one');
  const scopePath = (scope: string) => (scope === '*' ? '/v1/windows' : `${nsPath(scope)}/windows`);
  clientCommand(windows.command('get <ns>').description("a namespace's windows ('*': every namespace's)")).action(
    async (scope: string, flags: ClientFlags) => {
      const answer = await adminClient(flags).get<{ windows: unknown[]; blocked?: { describe: string } }>(
        scopePath(scope),
      );
      if (flags.json) return printJson(answer);
      printJson(answer.windows);
      printLine(answer.blocked ? `blocked now: ${answer.blocked.describe}` : 'not blocked now');
    },
  );
  clientCommand(
    windows
      .command('set <ns>')
      .description("set a namespace's windows ('*': every namespace's) from a YAML or JSON file (a list)"),
  )
    .requiredOption('-f, --file <file>', 'a list of {name, weekly: {from, to, timeZone}} or {name, from, to}')
    .action(async (scope: string, flags: ClientFlags & { file: string }) => {
      const list = readStructuredFile(flags.file);
      if (!Array.isArray(list)) throw new CliError(`${flags.file} must hold a list of windows`);
      const answer = await adminClient(flags).put<{ windows: unknown[]; blocked?: { describe: string } }>(
        scopePath(scope),
        { windows: list },
      );
      if (flags.json) return printJson(answer);
      printLine(
        `${answer.windows.length} window(s) set${answer.blocked ? `; blocked now: ${answer.blocked.describe}` : ''}`,
      );
    });
  clientCommand(
    windows.command('override <ns>').description("admin: let the running rollout's waves advance through windows"),
  )
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (namespace: string, flags: ClientFlags & { reason: string }) => {
      const answer = await adminClient(flags).post<{ rolloutId: string }>(
        `${nsPath(namespace)}/rollout/override-window`,
        { reason: flags.reason },
      );
      if (flags.json) printJson(answer);
      else printLine(`${answer.rolloutId} may advance through change windows`);
    });
}
