import type { Command } from 'commander';
import { matchesWave, type RolloutSummary, type WaveMatch, type WaveObservation } from '@herald/core';
import type { FleetItem } from '@herald/server';
import type { AdminClient } from '@herald/sdk';
import { adminClient, nsPath } from '../admin-client.js';
import { clientCommand, type ClientFlags } from '../flags.js';
import { humanDuration, relativeTime } from '../human.js';
import { CliError, printJson, printLine } from '../output.js';

/**
 * What GET …/rollout answers: the server's RolloutStatus (server/src/rollouts/rollout-service.ts),
 * built from core's types here because @herald/server does not export it yet.
 */
type RolloutStatus = RolloutSummary & {
  observation: WaveObservation;
  frozenAll: boolean;
  failure?: WaveFailureView | null;
  trap?: { command: string; message: string } | null;
  heldBy?: { describe: string };
};

/** The server's WaveFailure (server/src/rollouts/wave-failure.ts), as far as the status shows it. */
interface WaveFailureView {
  at: number;
  waveName: string;
  gate: string;
  message: string;
  rejectReasons: Array<{ reason: string; count: number; instances: string[] }>;
  unhealthy: Array<{ reason: string; count: number; instances: string[] }>;
  check?: { name: string; kind: string; target: string; sample: { at: number; value: number | null; error?: string } };
  checks: Array<{
    name: string;
    kind: string;
    target: string;
    samples: Array<{ at: number; value: number | null; error?: string }>;
  }>;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/u, 'Z');

function sampleText(s: { at: number; value: number | null; error?: string; outcome?: string }): string {
  const what =
    s.error !== undefined
      ? `error (${s.error})`
      : s.value === null
        ? 'no data'
        : String(Number(s.value.toPrecision(6)));
  return `${what} at ${iso(s.at)}${s.outcome && s.outcome !== 'pass' && s.error === undefined ? ` ${s.outcome.replace('_', ' ')}` : ''}`;
}

/** The metric and HTTP checks of the current wave: the query as sent, its threshold, the latest values. */
function checkLines(s: RolloutStatus): string[] {
  const lines: string[] = [];
  for (const c of s.checks ?? []) {
    lines.push(
      `  ${c.kind} check ${c.name}: ${c.status === 'pass' ? 'holds' : c.status === 'fail' ? 'FAILED' : 'waiting'} (${c.threshold})`,
    );
    lines.push(`      ${c.kind === 'metric' ? 'query' : 'url'}: ${c.target}`);
    const latest = c.samples.slice(-3);
    if (latest.length > 0) lines.push(`      seen: ${latest.map(sampleText).join('; ')}`);
  }
  return lines;
}

function failureLines(f: WaveFailureView): string[] {
  const lines = [`  failed: wave "${f.waveName}" on ${f.gate} at ${iso(f.at)}`];
  for (const g of f.rejectReasons)
    lines.push(`      rejected by ${g.count}: ${g.reason} (e.g. ${g.instances.join(', ')})`);
  for (const g of f.unhealthy) lines.push(`      unhealthy ${g.count}: ${g.reason} (e.g. ${g.instances.join(', ')})`);
  if (f.check) {
    lines.push(
      `      ${f.check.kind} check ${f.check.name}: ${f.check.kind === 'metric' ? 'query' : 'url'} ${f.check.target}`,
    );
    const samples = f.checks.find((c) => c.name === f.check?.name)?.samples ?? [f.check.sample];
    lines.push(`      values seen: ${samples.map(sampleText).join('; ')}`);
  }
  return lines;
}

const terminalStates = new Set(['succeeded', 'rolled_back', 'aborted']);

function bar(part: number, whole: number, width = 20): string {
  const filled = whole === 0 ? 0 : Math.min(width, Math.round((part / whole) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const percent = (ratio: number): string => `${Number((ratio * 100).toFixed(1))} %`;

function gateText(g: RolloutStatus['gates'][number]): string {
  const status = g.status === 'pass' ? '' : `, ${g.status === 'waiting' ? 'waiting' : 'FAILED'}`;
  switch (g.name) {
    case 'minInstances':
      return `instances ${g.value} (needs ≥ ${g.threshold}${status})`;
    case 'minReportRatio':
      return `reported ${percent(g.value)} (needs ≥ ${percent(g.threshold)}${status})`;
    case 'maxRejectRatio':
      return `rejected ${percent(g.value)} (max ${percent(g.threshold)}${status})`;
    case 'maxUnhealthyRatio':
      return `unhealthy ${percent(g.value)} (max ${percent(g.threshold)}${status})`;
    default:
      return `${String(g.name)} ${g.value} (${g.threshold}${status})`;
  }
}

function matchText(match: WaveMatch | undefined): string {
  if (match === undefined || Object.keys(match).length === 0) return '';
  return ` of ${Object.entries(match)
    .map(([attribute, values]) => `${attribute}=${values.join(',')}`)
    .join(' ')}`;
}

/**
 * How many instances the current wave could select and how many it would about select: the
 * buckets are a hash of rollout and instance ids, so a small wave can select noticeably more or
 * fewer than its percentage ("2 of 67 matching, about 7 expected").
 */
function selectionText(
  s: RolloutStatus,
  instances: ReadonlyArray<Pick<FleetItem, 'instanceId' | 'attributes'>>,
): string | undefined {
  const current = s.waves.find((w) => w.status === 'current');
  if (!current || current.targeted === undefined || instances.length === 0) return undefined;
  const byId = new Map(instances.map((i) => [i.instanceId, i.attributes]));
  const upTo = s.waves.slice(0, current.index + 1);
  let matching = 0;
  let expected = 0;
  for (const attributes of byId.values()) {
    const shares = upTo.filter((w) => matchesWave(w.match, attributes)).map((w) => w.percent / 100);
    if (!matchesWave(current.match, attributes) && shares.length === 0) continue;
    matching += 1;
    expected += Math.max(0, ...shares);
  }
  const about = Math.round(expected);
  const what = current.match ? 'matching instances' : 'instances';
  const why =
    Math.abs(current.targeted - about) >= 2 && Math.abs(current.targeted - about) >= 0.3 * about
      ? ": each instance's hash bucket decides, so a small wave varies"
      : '';
  return `${current.targeted} of ${matching} ${what} selected (about ${about} expected at ${current.percent} %${why})`;
}

/** The next step in words, without the wave label the wave lines already show. */
function nextText(s: RolloutStatus): string {
  if (s.next.why === 'baking') return `baking, ${humanDuration(s.bakeRemainingMs)} left`;
  return s.next.message.replace(/^wave \d+ "[^"]*"(: | )/u, '');
}

/**
 * The human status: one line per wave (the current one with its progress), the gates against
 * their thresholds, what happens next; each said once, durations in human units.
 */
export function renderStatus(
  s: RolloutStatus,
  instances: ReadonlyArray<Pick<FleetItem, 'instanceId' | 'attributes'>> = [],
): string[] {
  const frozen = s.frozenAll && s.state !== 'frozen' ? ' (all rollouts frozen)' : '';
  const lines = [
    `rollout ${s.id} of ${s.namespace}: release ${s.fromSeq} -> ${s.toSeq}, ${s.state.replace('_', ' ')}${frozen}${s.strategy === 'staged' && !terminalStates.has(s.state) ? ` at wave ${s.wave} "${s.waveName ?? ''}"` : ''}`,
  ];
  const width = Math.max(0, ...s.waves.map((w) => w.name.length));
  for (const w of s.waves) {
    const stopped = w.status === 'current' && terminalStates.has(s.state) && s.state !== 'succeeded';
    const mark = w.status === 'done' ? 'done' : stopped ? 'stop' : w.status === 'current' ? ' >> ' : '    ';
    const head = `  ${mark} wave ${w.index} ${w.name.padEnd(width)}  ${`${w.percent} %${matchText(w.match)}`.padEnd(12)}`;
    if (w.status === 'current' && w.targeted !== undefined && !terminalStates.has(s.state)) {
      const applied = w.applied ?? 0;
      lines.push(
        `${head}  ${bar(applied, w.targeted)} ${applied} of ${w.targeted} applied, ${w.rejected ?? 0} rejected, ${w.unhealthy ?? 0} unhealthy; bake ${humanDuration(s.bakedMs)} of ${humanDuration(w.bakeMs)}`,
      );
      const selection = selectionText(s, instances);
      if (selection) lines.push(`${' '.repeat(head.length + 2)}${selection}`);
    } else lines.push(`${head}  bake ${humanDuration(w.bakeMs)}`);
  }
  if (s.gates.length > 0 && !terminalStates.has(s.state)) lines.push(`  gates: ${s.gates.map(gateText).join(' · ')}`);
  if (!terminalStates.has(s.state)) lines.push(...checkLines(s));
  const next = nextText(s);
  if (!terminalStates.has(s.state)) lines.push(`  now: ${next}`);
  if (s.reason && !next.includes(s.reason)) lines.push(`  reason: ${s.reason}`);
  if (s.failure) lines.push(...failureLines(s.failure));
  if (s.trap) {
    lines.push(`  WARNING: ${s.trap.message}; the next \`herald release\` would ship it again (it is refused).`);
    lines.push(`  way out (one commit back to the stable content): ${s.trap.command}`);
  }
  if (s.heldBy)
    lines.push(`  held by the change window ${s.heldBy.describe} (herald windows override ${s.namespace} --reason …)`);
  lines.push(`  started ${relativeTime(s.startedAt)}, last change ${relativeTime(s.updatedAt)}`);
  return lines;
}

async function fetchStatus(client: AdminClient, namespace: string): Promise<RolloutStatus> {
  const { rollout } = await client.get<{ rollout: RolloutStatus | null }>(`${nsPath(namespace)}/rollout`);
  if (!rollout) throw new CliError(`namespace ${namespace} has had no rollout`);
  return rollout;
}

/** The fleet, to explain a wave's selection; nothing when the token may not see it. */
async function fleetOf(client: AdminClient, namespace: string): Promise<FleetItem[]> {
  try {
    return (await client.get<{ instances: FleetItem[] }>(`/v1/fleet/${encodeURIComponent(namespace)}`)).instances;
  } catch {
    return [];
  }
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
          const instances = terminalStates.has(status.state) ? [] : await fleetOf(client, namespace);
          if (flags.watch && process.stdout.isTTY) process.stdout.write('\u001b[2J\u001b[H');
          for (const line of renderStatus(status, instances)) printLine(line);
        }
        if (!flags.watch || terminalStates.has(status.state)) return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    });

  for (const command of ['pause', 'resume', 'abort', 'rollback'] as const) {
    clientCommand(rollout.command(`${command} <ns>`).description(`${command} the running rollout`))
      .option('-m, --message <text>', 'why (kept in the audit log)')
      .option('--reason <text>', 'the same as --message')
      .action(async (namespace: string, flags: ClientFlags & { message?: string; reason?: string }) => {
        const reason = flags.message ?? flags.reason;
        const result = await adminClient(flags).post<{ state: string; wave: number }>(
          `${nsPath(namespace)}/rollout/${command}`,
          reason ? { reason } : {},
        );
        if (flags.json) printJson(result);
        else printLine(`rollout of ${namespace}: ${result.state.replace('_', ' ')} at wave ${result.wave}`);
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
      .option('-m, --message <text>', 'why (kept in the audit log)')
      .option('--reason <text>', 'the same as --message')
      .action(async (flags: ClientFlags & { message?: string; reason?: string }) => {
        const reason = flags.message ?? flags.reason;
        const result = await adminClient(flags).post<{ frozen: boolean; rollouts: string[] }>(
          `/v1/rollouts/${command}`,
          reason ? { reason } : {},
        );
        if (flags.json) printJson(result);
        else printLine(`${result.frozen ? 'frozen' : 'unfrozen'}: ${result.rollouts.length} rollout(s)`);
      });
  }
}
