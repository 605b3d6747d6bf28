// Staged rollouts driven from a test against a real control plane: `herald simulate` fleets as
// child processes, the admin API with the test admin token, and what the fleet and the rollout
// status say, typed as the server prints them. Shared by the rollout e2e and the fault suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { eventually } from './eventually.js';
import { heraldBin, testAdminToken } from './server.js';

export interface FleetItem {
  instanceId: string;
  attributes: Record<string, string>;
  seq: number;
  digest: string;
  status: 'applied' | 'rejected';
  reason?: string;
  health: string;
}

export interface RolloutWaveStatus {
  index: number;
  name: string;
  percent: number;
  status: 'done' | 'current' | 'pending';
  targeted?: number;
}

export interface RolloutStatus {
  id: string;
  state: 'running' | 'paused' | 'frozen' | 'succeeded' | 'rolled_back' | 'aborted';
  wave: number;
  waves: RolloutWaveStatus[];
  gates: Array<{ name: string; value: number; threshold: number; pass: boolean; status: string }>;
  fromSeq: number;
  toSeq: number;
  bakeRemainingMs: number;
  reason: string | null;
  observation: { targeted: number; reported: number; applied: number; rejected: number; unhealthy: number };
}

export interface WaveSpec {
  name: string;
  percent: number;
  bake: string;
  match?: Record<string, string[]>;
}

/** A staged policy with strict gates (any reject or unhealthy canary fails the wave) and automatic rollback. */
export function stagedPolicy(waves: WaveSpec[], gates: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    strategy: 'staged',
    waves,
    gates: {
      minReportRatio: 0.9,
      maxRejectRatio: 0,
      maxUnhealthyRatio: 0,
      reportDeadline: '60s',
      minInstances: 1,
      ...gates,
    },
    autoRollback: true,
  };
}

/** The admin API of a control plane at `url`, as the test admin; a refusal throws with its answer. */
export function adminApi(url: string): <T>(path: string, init?: { method?: string; body?: unknown }) => Promise<T> {
  return async <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
    const response = await fetch(new URL(path, url), {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${testAdminToken}`,
        accept: 'application/json',
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };
}

/** `herald simulate` as a child process: its summary lines, and the counts per release they give. */
export class Simulation {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly errors: string[] = [];
  readonly exited: Promise<unknown>;

  /** `args` are simulate's flags (--ns, --instances, …); reports every second unless they say otherwise. */
  constructor(url: string, args: string[]) {
    this.child = spawn(process.execPath, [heraldBin, 'simulate', '--report-interval', '1000', ...args], {
      env: { ...process.env, HERALD_URL: url, HERALD_TOKEN: testAdminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.lines.push(line));
    createInterface({ input: this.child.stderr as NodeJS.ReadableStream }).on('line', (line) => this.errors.push(line));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async started(): Promise<void> {
    await eventually(
      () => {
        if (!this.alive) throw new Error(`herald simulate exited: ${this.errors.join(' | ')}`);
        return this.lines.some((line) => /simulating \d+ instances/u.test(line));
      },
      { message: 'the simulated fleet to start', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );
  }

  /** How many instances applied and rejected release `seq` so far (the summary lines are cumulative). */
  counts(seq: number): { applied: number; rejected: number } {
    const counts = { applied: 0, rejected: 0 };
    const pattern = new RegExp(`release ${seq}: (\\d+) applied, (\\d+) rejected`, 'u');
    for (const line of this.lines) {
      const match = pattern.exec(line);
      if (match) {
        counts.applied = Math.max(counts.applied, Number(match[1]));
        counts.rejected = Math.max(counts.rejected, Number(match[2]));
      }
    }
    return counts;
  }

  /** SIGKILL (by its own PID) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The instances that reported a view of `ns`, as `GET /v1/fleet/{ns}` lists them. */
export async function fleetOf(url: string, ns: string): Promise<FleetItem[]> {
  return (await adminApi(url)<{ instances: FleetItem[] }>(`/v1/fleet/${encodeURIComponent(ns)}`)).instances;
}

/** Waits until `count` instances report, every one applied at `seq`; returns them. */
export async function fleetAt(
  url: string,
  ns: string,
  count: number,
  seq: number,
  timeoutMs = 45_000,
): Promise<FleetItem[]> {
  let last = '';
  try {
    return await eventually(
      async () => {
        const items = await fleetOf(url, ns);
        const bySeq = new Map<string, number>();
        for (const i of items) bySeq.set(`${i.seq}/${i.status}`, (bySeq.get(`${i.seq}/${i.status}`) ?? 0) + 1);
        last = JSON.stringify(Object.fromEntries(bySeq));
        return items.length === count && items.every((i) => i.seq === seq && i.status === 'applied') && items;
      },
      {
        message: `${count} instances of ${ns} applied at release ${seq}`,
        timeoutMs,
        intervalMs: 250,
        fatal: () => true,
      },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; fleet by seq/status: ${last}`, { cause: error });
  }
}

/** The namespace's current rollout, from the API; throws when it has none. */
export async function rolloutStatus(url: string, ns: string): Promise<RolloutStatus> {
  const { rollout } = await adminApi(url)<{ rollout: RolloutStatus | null }>(
    `/v1/namespaces/${encodeURIComponent(ns)}/rollout`,
  );
  if (!rollout) throw new Error(`${ns} has no rollout`);
  return rollout;
}
