import type { Command } from 'commander';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient } from '@herald/sdk';
import {
  collect,
  exactLabelsFlagHelp,
  labelFlagHelp,
  labelStack,
  parseCount,
  parsePair,
  readTrustFile,
  requireToken,
  resolveUrl,
  viewerCommand,
} from '../flags.js';
import { CliError, printLine, warn } from '../output.js';
import { runUntilSignal } from '../run-until-signal.js';

interface SimulateFlags {
  url?: string;
  token?: string;
  ns: string;
  instances: string;
  label?: string[];
  exactLabels?: boolean;
  attr?: string[];
  rejectWhen?: string[];
  unhealthyWhen?: string[];
  unhealthyAfter: string;
  trust?: string;
  prefix: string;
  reportInterval: string;
  churn?: string;
}

/** `10/60000` → 10 instances every 60 s; at most the whole fleet, at least every 100 ms. */
function parseChurn(spec: string, count: number): [number, number] {
  const match = /^([0-9]+)\/([0-9]+)$/u.exec(spec);
  const n = Number(match?.[1]);
  const ms = Number(match?.[2]);
  if (!match || n < 1 || n > count || ms < 100)
    throw new CliError(`--churn must be N/MS with 1 ≤ N ≤ ${count} and MS ≥ 100, e.g. 10/60000; got ${spec}`, 2);
  return [n, ms];
}

/** `region=a,b,c` → ['region', ['a','b','c']]. */
function parseAttr(spec: string): [string, string[]] {
  const at = spec.indexOf('=');
  const values = spec
    .slice(at + 1)
    .split(',')
    .filter(Boolean);
  if (at <= 0 || values.length === 0) throw new CliError(`--attr must be NAME=v1,v2,…, got "${spec}"`, 2);
  return [spec.slice(0, at), values];
}

/**
 * Attributes of instance i: each attribute's values are spread round-robin, offset by the
 * attribute's position so that combinations mix (instance 0: first values; instance 1: second …).
 */
export function simulatedAttributes(index: number, attrs: ReadonlyArray<[string, string[]]>): Record<string, string> {
  const attributes: Record<string, string> = {};
  let stride = 1;
  for (const [name, values] of attrs) {
    attributes[name] = values[Math.floor(index / stride) % values.length] as string;
    stride *= values.length;
  }
  return attributes;
}

export function registerSimulateCommand(program: Command): void {
  viewerCommand(
    program.command('simulate').description('run N SDK instances in this process, for demos, tests and benchmarks'),
  )
    .requiredOption('--ns <ns>', 'namespace every instance watches')
    .requiredOption('--instances <n>', 'how many instances')
    .option('--label <label>', labelFlagHelp, collect)
    .option('--exact-labels', exactLabelsFlagHelp)
    .option('--attr <name=v1,v2>', 'spread these attribute values over the instances (repeatable)', collect)
    .option('--reject-when <key=value>', 'instances reject a view whose KEY has this value (repeatable)', collect)
    .option(
      '--unhealthy-when <key=value>',
      "instances report failing health while their view's KEY has this value (repeatable)",
      collect,
    )
    .option(
      '--unhealthy-after <ms>',
      'with --unhealthy-when: report ok at first, and failing only this long after applying (a failure that takes time to show)',
      '0',
    )
    .option('--trust <file>', 'trusted public keys; without it, trusted on first contact')
    .option('--prefix <id>', 'instance ids are PREFIX-0 … PREFIX-(N-1)', 'sim')
    .option('--report-interval <ms>', 'periodic report interval', '30000')
    .option('--churn <n/ms>', 'every MS milliseconds, N instances leave and new ones (new ids) take their place')
    .action(async (flags: SimulateFlags) => {
      const count = parseCount(flags.instances, '--instances', 1, 20_000);
      const token = requireToken(flags);
      const url = resolveUrl(flags);
      const reportIntervalMs = parseCount(flags.reportInterval, '--report-interval');
      const attrs = (flags.attr ?? []).map(parseAttr);
      const rejectWhen = (flags.rejectWhen ?? []).map((c) => parsePair(c, '--reject-when'));
      const unhealthyWhen = (flags.unhealthyWhen ?? []).map((c) => parsePair(c, '--unhealthy-when'));
      const unhealthyAfterMs = parseCount(flags.unhealthyAfter, '--unhealthy-after', 0);
      // One fetch of the keys for the whole fleet: N instances asking the same question is the cost being simulated, not this.
      const trustedKeys = flags.trust ? readTrustFile(flags.trust) : await fetchKeys(url);
      const seqs = new Map<number, { applied: number; rejected: number }>();
      let summaryTimer: NodeJS.Timeout | undefined;
      const summarize = () => {
        summaryTimer ??= setTimeout(() => {
          summaryTimer = undefined;
          const line = [...seqs]
            .sort(([a], [b]) => b - a)
            .map(([seq, c]) => `release ${seq}: ${c.applied} applied, ${c.rejected} rejected`)
            .join(' | ');
          printLine(`${new Date().toISOString()} ${count} instances — ${line}`);
        }, 250);
      };
      const bump = (seq: number, kind: 'applied' | 'rejected') => {
        const entry = seqs.get(seq) ?? { applied: 0, rejected: 0 };
        entry[kind] += 1;
        seqs.set(seq, entry);
        summarize();
      };
      const clients: HeraldClient[] = [];
      // One simulated instance in slot i (its attributes follow the slot, its id may be a newer generation's).
      const instance = (i: number, instanceId: string): HeraldClient => {
        const attributes = simulatedAttributes(i, attrs);
        const client = new HeraldClient({
          url,
          token,
          instanceId,
          attributes,
          views: [{ namespace: flags.ns, labels: labelStack(flags.label, flags.exactLabels) }],
          trustedKeys,
          reportIntervalMs,
          validate: (values, view) =>
            conditionHolds(rejectWhen, values) ? `simulated rejection of release ${view.seq}` : undefined,
        });
        void (async () => {
          let failLater: NodeJS.Timeout | undefined;
          for await (const change of client.changes()) {
            bump(change.current.seq, 'applied');
            clearTimeout(failLater);
            const seq = change.current.seq;
            const fail = () => client.reportHealth('failing', `simulated failure on release ${seq}`);
            if (conditionHolds(unhealthyWhen, change.newValues)) {
              if (unhealthyAfterMs === 0) fail();
              else failLater = setTimeout(fail, unhealthyAfterMs);
            } else if (conditionHolds(unhealthyWhen, change.oldValues)) client.reportHealth('ok');
          }
          clearTimeout(failLater);
        })();
        void (async () => {
          for await (const status of client.status())
            if (status.type === 'rejected' && status.seq !== undefined) bump(status.seq, 'rejected');
        })();
        return client;
      };
      for (let i = 0; i < count; i += 1) clients.push(instance(i, `${flags.prefix}-${i}`));
      await Promise.all(clients.map((c) => c.start()));
      printLine(`herald: simulating ${count} instances of ${flags.ns} against ${url}`);
      // Churn: every interval, n instances leave (closing, so they say so) and new ones take their slots.
      let churnTimer: NodeJS.Timeout | undefined;
      if (flags.churn !== undefined) {
        const [n, ms] = parseChurn(flags.churn, count);
        let generation = 0;
        churnTimer = setInterval(() => {
          generation += 1;
          for (let k = 0; k < n; k += 1) {
            const slot = Math.floor(Math.random() * count);
            void clients[slot]?.close();
            const next = instance(slot, `${flags.prefix}-${slot}-g${generation}`);
            clients[slot] = next;
            void next.start().catch(() => undefined);
          }
          printLine(`herald: churn ${generation}: ${n} instances replaced`);
        }, ms);
      }
      await runUntilSignal(
        {
          close: () => {
            clearInterval(churnTimer);
            return Promise.all(clients.map((c) => c.close()));
          },
        },
        { stopping: () => warn('stopping the simulated fleet') },
      );
    });
}

/** The signing keys from the first of the endpoints (a comma-separated list) that answers. */
async function fetchKeys(url: string): Promise<PublicKeyInfo[]> {
  for (const endpoint of url.split(',').map((u) => u.trim())) {
    const response = await fetch(new URL('v1/keys', endpoint.endsWith('/') ? endpoint : `${endpoint}/`)).catch(
      () => undefined,
    );
    if (response?.ok) return ((await response.json()) as { keys: PublicKeyInfo[] }).keys;
  }
  throw new CliError(`cannot fetch the signing keys from ${url}`);
}

/** KEY=VALUE holds for a view when its value at KEY, as text or as JSON, is VALUE. */
export function conditionHolds(
  conditions: ReadonlyArray<[string, string]>,
  values: Readonly<Record<string, unknown>>,
): boolean {
  return conditions.some(([key, expected]) => {
    if (!Object.hasOwn(values, key)) return false;
    const value = values[key];
    return (typeof value === 'string' ? value : JSON.stringify(value)) === expected;
  });
}
