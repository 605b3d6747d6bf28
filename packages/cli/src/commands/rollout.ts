import type { Command } from 'commander';
import type { RolloutSummary, WaveObservation } from '@herald/core';
import type { AdminClient } from '@herald/sdk';
import { adminClient, nsPath } from '../admin-client.js';
import { clientCommand, type ClientFlags } from '../flags.js';
import { CliError, printJson, printLine } from '../output.js';

/**
 * What GET …/rollout answers: the server's RolloutStatus (server/src/rollouts/rollout-service.ts),
 * built from core's types here because @herald/server does not export it yet.
 */
type RolloutStatus = RolloutSummary & { observation: WaveObservation; frozenAll: boolean };

const terminalStates = new Set(['succeeded', 'rolled_back', 'aborted']);

function bar(part: number, whole: number, width = 24): string {
  const filled = whole === 0 ? 0 : Math.round((part / whole) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** The human status: one line per wave with a progress bar, the gates against their thresholds, the bake left. */
export function renderStatus(s: RolloutStatus): string[] {
  const lines = [
    `rollout ${s.id} of ${s.namespace}: release ${s.fromSeq} -> ${s.toSeq}, ${s.state.replace('_', ' ')}${s.frozenAll ? ' (all rollouts frozen)' : ''}`,
  ];
  for (const [i, w] of s.waves.entries()) {
    const mark = w.status === 'done' ? 'done' : w.status === 'current' ? '>>  ' : '    ';
    const counts =
      w.status === 'current' && w.targeted !== undefined
        ? ` ${bar(w.applied ?? 0, w.targeted)} ${w.applied ?? 0}/${w.targeted} applied, ${w.rejected ?? 0} rejected, ${w.unhealthy ?? 0} unhealthy`
        : '';
    lines.push(`  ${mark} wave ${i} ${w.name} (${w.percent}%)${counts}`);
  }
  for (const g of s.gates) lines.push(`  gate ${g.name}: ${Number(g.value.toFixed(3))} vs ${g.threshold} ${g.status}`);
  if (!terminalStates.has(s.state))
    lines.push(`  bake left: ${Math.ceil(s.bakeRemainingMs / 1000)} s — next: ${s.next.message}`);
  if (s.reason) lines.push(`  reason: ${s.reason}`);
  return lines;
}

async function fetchStatus(client: AdminClient, namespace: string): Promise<RolloutStatus> {
  const { rollout } = await client.get<{ rollout: RolloutStatus | null }>(`${nsPath(namespace)}/rollout`);
  if (!rollout) throw new CliError(`namespace ${namespace} has had no rollout`);
  return rollout;
}

export function registerRolloutCommands(program: Command): void {
  const rollout = program
    .command('rollout')
    .description('staged rollouts: status, pause, resume, abort, rollback, freeze');

  clientCommand(rollout.command('status <ns>').description('the current (or last) rollout of a namespace'))
    .option('--watch', 'redraw live until the rollout ends')
    .action(async (namespace: string, flags: ClientFlags & { watch?: boolean }) => {
      const client = adminClient(flags);
      for (;;) {
        const status = await fetchStatus(client, namespace);
        if (flags.json) printJson(status);
        else {
          if (flags.watch && process.stdout.isTTY) process.stdout.write('\u001b[2J\u001b[H');
          for (const line of renderStatus(status)) printLine(line);
        }
        if (!flags.watch || terminalStates.has(status.state)) return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    });

  for (const command of ['pause', 'resume', 'abort', 'rollback'] as const) {
    clientCommand(rollout.command(`${command} <ns>`).description(`${command} the running rollout`))
      .option('--reason <text>', 'why (kept in the audit log)')
      .action(async (namespace: string, flags: ClientFlags & { reason?: string }) => {
        const result = await adminClient(flags).post<{ state: string; wave: number }>(
          `${nsPath(namespace)}/rollout/${command}`,
          flags.reason ? { reason: flags.reason } : {},
        );
        if (flags.json) printJson(result);
        else printLine(`rollout of ${namespace}: ${result.state.replace('_', ' ')} (wave ${result.wave})`);
      });
  }

  for (const command of ['freeze', 'unfreeze'] as const) {
    clientCommand(
      rollout
        .command(command)
        .description(
          command === 'freeze' ? 'emergency stop: halt every running rollout at once' : 'let frozen rollouts go on',
        ),
    )
      .option('--reason <text>', 'why (kept in the audit log)')
      .action(async (flags: ClientFlags & { reason?: string }) => {
        const result = await adminClient(flags).post<{ frozen: boolean; rollouts: string[] }>(
          `/v1/rollouts/${command}`,
          flags.reason ? { reason: flags.reason } : {},
        );
        if (flags.json) printJson(result);
        else printLine(`${result.frozen ? 'frozen' : 'unfrozen'}: ${result.rollouts.length} rollout(s)`);
      });
  }
}
