import type { Command } from 'commander';
import type { ReleaseTrace, TraceCounts } from '@herald/server';
import { adminClient, nsPath } from '../admin-client.js';
import { clientCommand, parseCount, type ClientFlags } from '../flags.js';
import { shortTime, table } from '../human.js';
import { printJson, printLine } from '../output.js';

export function registerTraceCommand(program: Command): void {
  clientCommand(
    program
      .command('trace <ns> <seq>')
      .description(
        'where a release went: control plane → each relay (when it received and served it) → instances per relay chain and region',
      ),
  ).action(async (namespace: string, seqText: string, flags: ClientFlags) => {
    const seq = parseCount(seqText, 'SEQ');
    const trace = await adminClient(flags).get<ReleaseTrace>(`${nsPath(namespace)}/releases/${seq}/trace`);
    if (flags.json) return printJson(trace);
    for (const line of renderTrace(trace)) printLine(line);
  });
}

/** Milliseconds after the release, for people: "+40 ms", "+1.8 s", "+3 min 5 s" (negative: a clock behind). */
export function offset(ms: number | null): string {
  if (ms === null) return '—';
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  const seconds = Math.round(abs / 1000);
  return `${sign}${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function outcome(c: TraceCounts): string {
  const parts = [`${c.applied} applied`];
  if (c.rejected > 0) parts.push(`${c.rejected} rejected`);
  if (c.notReported > 0) parts.push(`${c.notReported} not reported`);
  if (c.superseded > 0) parts.push(`${c.superseded} on a newer release`);
  return parts.join(', ');
}

function span(c: TraceCounts): string {
  if (c.firstAppliedMs === null || c.lastAppliedMs === null) return '—';
  return c.firstAppliedMs === c.lastAppliedMs
    ? offset(c.firstAppliedMs)
    : `${offset(c.firstAppliedMs)} … ${offset(c.lastAppliedMs)}`;
}

/** The trace for a person: the release, each relay down the chain, then the instances per way and region. */
export function renderTrace(trace: ReleaseTrace): string[] {
  const lines = [
    `release ${trace.seq} of ${trace.namespace}, made ${shortTime(trace.releasedAt)} UTC${trace.committedMs === null ? '' : ` (its commit ${offset(trace.committedMs)})`}`,
    `${trace.fleet.instances} instances: ${outcome(trace.fleet)}; applied ${span(trace.fleet)}`,
    '',
  ];
  const relayRows = [
    ['control plane', '+0 ms', '+0 ms', String(trace.fleet.instances), outcome(trace.fleet), span(trace.fleet)],
    ...trace.relays.map((r) => [
      `${'  '.repeat(r.path.length + 1)}${r.relay}`,
      offset(r.receivedMs),
      offset(r.servedMs),
      String(r.instances.instances),
      outcome(r.instances),
      span(r.instances),
    ]),
  ];
  lines.push(...table(['hop', 'received', 'served', 'instances', 'outcome', 'applied'], relayRows), '');
  const groupRows = trace.groups.map((g) => [
    g.via.length === 0 ? 'direct' : g.via.join(' ← '),
    g.region === '' ? '—' : g.region,
    String(g.counts.instances),
    outcome(g.counts),
    span(g.counts),
  ]);
  if (groupRows.length === 0) lines.push('no instance reports on this namespace (yet)');
  else lines.push(...table(['via', 'region', 'instances', 'outcome', 'applied'], groupRows));
  return lines;
}
