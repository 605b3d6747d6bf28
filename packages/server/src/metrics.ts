import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rolloutStateNames, type RolloutState, type WaveObservation } from '@herald/core';
import type { Leadership } from '@herald/store';
import { readFileSync } from 'node:fs';

/**
 * What every node that serves the watch API exports, control plane or relay, on a registry of
 * its own (no global state, so tests can run nodes side by side): the process and the open
 * watch streams.
 */
export class DeliveryMetrics {
  readonly registry = new Registry();
  readonly watchStreams = new Gauge({
    name: 'herald_watch_streams',
    help: 'Open watch streams',
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'herald_connections_refused_total',
    help: 'Connections answered 503 too_many_connections and closed at the maxConnections cap',
    registers: [this.registry],
  });
  readonly streamsRefused = new Counter({
    name: 'herald_streams_refused_total',
    help: 'Watch streams refused: reason "token" (429 too_many_streams, the credential holds maxStreamsPerToken) "node" (503, the node holds maxWatchStreams) or "admission" (503 watch_deferred, paced by watchAdmissionsPerSecond)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly reportsLimited = new Counter({
    name: 'herald_reports_limited_total',
    help: 'Reports refused with report_rate_limited (a credential past reportsPerSecondPerToken and its burst)',
    registers: [this.registry],
  });
  readonly slowClientsCut = new Counter({
    name: 'herald_watch_slow_clients_cut_total',
    help: 'Watch streams cut off because the client read too slowly (unsent bytes past maxStreamBufferBytes)',
    registers: [this.registry],
  });
  /**
   * Measured from each instance's own report of when it applied a release (its clock; clamped at
   * 0 against skew), once per instance and release, by the node the report reached first
   * (`tier`) and again by the control plane. `from` is the release's creation or the commit of its
   * content; relays measure from the release only.
   */
  readonly propagation = new Histogram({
    name: 'herald_propagation_seconds',
    help: 'Time from commit (from="commit") or release (from="release") to applied on an instance, by namespace and the tier that measured it',
    labelNames: ['namespace', 'tier', 'from'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_process_' });
  }
}

/** What the metrics read of the watch workers (workers/watch-workers.ts). */
export interface WatchWorkerStats {
  streamsPerWorker(): number[];
  pids(): Array<number | undefined>;
  readonly restarts: number;
}

/** Every metric the control plane exports. */
export class ServerMetrics extends DeliveryMetrics {
  readonly requests = new Counter({
    name: 'herald_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'herald_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly instanceRefusals = new Counter({
    name: 'herald_instance_refusals_total',
    help: "Instance reports refused: instance_conflict (the id is another credential's) or instance_limit (the namespace is full)",
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly instancesPruned = new Counter({
    name: 'herald_instances_pruned_total',
    help: 'Instance records deleted because they were not seen within the TTL',
    registers: [this.registry],
  });
  readonly commits = new Counter({ name: 'herald_commits_total', help: 'Commits applied', registers: [this.registry] });
  readonly commitDuration = new Histogram({
    name: 'herald_store_commit_seconds',
    help: 'Time the store took to apply a commit (its transaction, durable on return)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly rolloutPassDuration = new Histogram({
    name: 'herald_rollout_controller_pass_seconds',
    help: "Time one rollout controller pass took (every active rollout observed and decided; the leader's); passes are spaced to take at most a quarter of the node's time",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly fsyncDuration = new Histogram({
    name: 'herald_store_fsync_seconds',
    help: 'Time to write and fsync a small probe file in the data folder, measured at each scrape (SQLite only)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly auditChainVerified = new Gauge({
    name: 'herald_audit_chain_verified',
    help: 'Whether the last periodic verification of the audit hash chain found it intact (1), broken (0); absent before the first',
    registers: [this.registry],
  });
  readonly auditChainCheckedAt = new Gauge({
    name: 'herald_audit_chain_verified_timestamp_seconds',
    help: 'When the audit chain was last verified (seconds since the epoch)',
    registers: [this.registry],
  });
  readonly committedChanges = new Counter({
    name: 'herald_committed_changes_total',
    help: 'Entry changes applied',
    registers: [this.registry],
  });
  readonly revision = new Gauge({
    name: 'herald_revision',
    help: 'Highest committed revision seen by this node',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'herald_leader',
    help: '1 while this node leads the cluster singleton jobs',
    registers: [this.registry],
  });
  readonly rolloutState = new Gauge({
    name: 'herald_rollout_state',
    help: "1 for the state a namespace's latest rollout is in (running, paused, frozen, succeeded, rolled_back, aborted), 0 for the others; set by the leader's controller",
    labelNames: ['namespace', 'state'] as const,
    registers: [this.registry],
  });
  readonly rolloutWave = new Gauge({
    name: 'herald_rollout_wave',
    help: "Index (from 0) of the wave a namespace's rollout is in",
    labelNames: ['namespace'] as const,
    registers: [this.registry],
  });
  readonly rolloutGate = new Gauge({
    name: 'herald_rollout_gate_value',
    help: "What the current wave's gates see: report_ratio, reject_ratio, unhealthy_ratio (of the targeted instances) and targeted (instances)",
    labelNames: ['namespace', 'gate'] as const,
    registers: [this.registry],
  });
  readonly leaderFence = new Gauge({
    name: 'herald_leader_fence',
    help: 'Fence of the leadership term this node holds (0 when not leader)',
    registers: [this.registry],
  });

  /** What the controller observed of a rollout at its latest step. */
  trackRollout(state: RolloutState, observation: WaveObservation): void {
    const { namespace } = state;
    for (const name of rolloutStateNames)
      this.rolloutState.set({ namespace, state: name }, name === state.state ? 1 : 0);
    this.rolloutWave.set({ namespace }, state.wave);
    const ratio = (n: number) => (observation.targeted === 0 ? 0 : n / observation.targeted);
    this.rolloutGate.set({ namespace, gate: 'targeted' }, observation.targeted);
    this.rolloutGate.set({ namespace, gate: 'report_ratio' }, ratio(observation.reported));
    this.rolloutGate.set({ namespace, gate: 'reject_ratio' }, ratio(observation.rejected));
    this.rolloutGate.set({ namespace, gate: 'unhealthy_ratio' }, ratio(observation.unhealthy));
  }

  /**
   * The watch workers' share (--watch-workers): streams held, restarts, and each worker's own
   * memory and CPU, read when scraped (empty without workers). herald_watch_streams counts every
   * stream either way: the primary admits and accounts for all of them.
   */
  trackWatchWorkers(workers: WatchWorkerStats): void {
    this.#watchWorkers = workers;
  }

  trackLeadership(leadership: Leadership): void {
    const update = () => {
      this.leader.set(leadership.isLeader() ? 1 : 0);
      this.leaderFence.set(leadership.fence);
    };
    update();
    leadership.onChange(update);
  }

  #watchWorkers: WatchWorkerStats | undefined;

  constructor(options: { storeSize?: () => Promise<number> }) {
    super();
    const { storeSize } = options;
    const workers = () => this.#watchWorkers;
    const perWorker = (
      gauge: Gauge<'worker'>,
      value: (index: number, pid: number | undefined) => number | undefined,
    ) => {
      gauge.reset();
      workers()
        ?.pids()
        .forEach((pid, index) => {
          const measured = value(index, pid);
          if (measured !== undefined) gauge.set({ worker: String(index + 1) }, measured);
        });
    };
    new Gauge({
      name: 'herald_watch_worker_streams',
      help: 'Watch streams whose sockets each watch worker holds (the rest are held by the primary: TLS, or no worker up)',
      labelNames: ['worker'] as const,
      registers: [this.registry],
      collect() {
        const counts = workers()?.streamsPerWorker() ?? [];
        perWorker(this, (index) => counts[index]);
      },
    });
    new Counter({
      name: 'herald_watch_worker_restarts_total',
      help: 'Watch workers that exited unasked and were restarted (their clients reconnected)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(workers()?.restarts ?? 0);
      },
    });
    new Gauge({
      name: 'herald_watch_worker_resident_memory_bytes',
      help: "Each watch worker's resident memory (Linux)",
      labelNames: ['worker'] as const,
      registers: [this.registry],
      collect() {
        perWorker(this, (_index, pid) => (pid === undefined ? undefined : processStats(pid)?.rssBytes));
      },
    });
    new Gauge({
      name: 'herald_watch_worker_cpu_seconds',
      help: 'CPU time each watch worker has used since it started, user and system (Linux)',
      labelNames: ['worker'] as const,
      registers: [this.registry],
      collect() {
        perWorker(this, (_index, pid) => (pid === undefined ? undefined : processStats(pid)?.cpuSeconds));
      },
    });
    if (storeSize) {
      new Gauge({
        name: 'herald_store_size_bytes',
        help: 'Size of the store on disk',
        registers: [this.registry],
        // Measured when scraped, so an idle server does no work for it.
        async collect() {
          this.set(await storeSize());
        },
      });
    }
  }
}

/** A process's resident memory and CPU from /proc (Linux), or undefined (elsewhere, or it is gone). */
function processStats(pid: number): { rssBytes: number; cpuSeconds: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = 100;
    const pageBytes = 4096;
    return {
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / ticks,
      rssBytes: Number(fields[21]) * pageBytes,
    };
  } catch {
    return undefined;
  }
}
