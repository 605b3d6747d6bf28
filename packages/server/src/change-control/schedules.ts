import { randomBytes } from 'node:crypto';
import { HeraldError, type TimerClock } from '@herald/core';
import type { ControlRecord, Leadership, Store } from '@herald/store';
import { actorOf, auditBy, requirePermission, type Principal } from '../principal.js';
import { requireNamespace } from '../services/namespace-service.js';
import type { ChangeRequestService, ChangeRequestView } from './change-requests.js';

export type ScheduleState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

/** A scheduled action as stored (the record's body). */
interface ScheduleBody {
  action: 'release' | 'apply';
  note: string;
  supersede: boolean;
  changeRequestId?: string;
  by: string;
  /** Who it runs as: the principal that scheduled it, checked again when it runs. */
  principal: Principal;
  /** When a node claimed it (state running), so a claim lost with its node can be taken over. */
  claimedAt?: number;
  /** Why it has not run yet (a change window), or why it failed. */
  detail?: string;
  outcome?: { releaseSeq?: number; rolloutId?: string; changeRequest?: string; state?: string } | undefined;
  cancelled?: { by: string; reason: string };
}

export interface ScheduleView {
  id: string;
  namespace: string;
  action: 'release' | 'apply';
  state: ScheduleState;
  at: string;
  by: string;
  note: string;
  changeRequestId?: string;
  detail?: string;
  outcome?: NonNullable<ScheduleBody['outcome']>;
  createdAt: string;
  updatedAt: string;
}

type ScheduleStore = Pick<
  Store,
  'getNamespace' | 'saveControlRecord' | 'getControlRecord' | 'listControlRecords' | 'listTokens'
>;

const kind = 'schedule';
/** A claim older than this belongs to a node that died running it: another may run it again. */
const claimTimeoutMs = 60_000;
const maxPerPass = 50;

/**
 * Scheduled releases and scheduled applications of approved change requests: stored, so they
 * survive restarts; carried out by the leader only (a new leader finds what its predecessor left);
 * each claimed by a versioned save before it runs, so two nodes never both run it. A claim whose
 * node died is taken over after a timeout (at least once: a release run twice makes one more
 * release of the same content, and a change request applies only over its base revision).
 */
export class ScheduleService {
  readonly #store: ScheduleStore;
  readonly #clock: TimerClock;
  readonly #changeRequests: ChangeRequestService;
  readonly #leadership: Leadership;
  readonly #onError: (error: unknown) => void;
  #timer: unknown;
  #running: Promise<void> | undefined;

  constructor(deps: {
    store: ScheduleStore;
    clock: TimerClock;
    changeRequests: ChangeRequestService;
    leadership: Leadership;
    onError: (error: unknown) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#changeRequests = deps.changeRequests;
    this.#leadership = deps.leadership;
    this.#onError = deps.onError;
  }

  async create(
    principal: Principal,
    namespace: string,
    input: { at: string; note?: string; supersede?: boolean; changeRequestId?: string },
  ): Promise<ScheduleView> {
    requirePermission(principal, 'release', namespace);
    await requireNamespace(this.#store, namespace);
    const dueAt = this.#dueAt(input.at);
    const id = `SCH-${randomBytes(4).toString('hex')}`;
    const body: ScheduleBody = {
      action: input.changeRequestId === undefined ? 'release' : 'apply',
      note: input.note ?? '',
      supersede: input.supersede ?? false,
      ...(input.changeRequestId === undefined ? {} : { changeRequestId: input.changeRequestId }),
      by: actorOf(principal),
      principal,
    };
    const record = await this.#store.saveControlRecord(
      { kind, id, namespace, state: 'pending', dueAt, body: body as unknown as Record<string, unknown> },
      0,
      auditBy(principal, 'schedule.create', `namespace:${namespace}`, {
        id,
        action: body.action,
        at: new Date(dueAt).toISOString(),
        ...(body.changeRequestId ? { changeRequestId: body.changeRequestId } : {}),
        ...(principal.overrides ? { overrides: principal.overrides } : {}),
      }),
    );
    return scheduleView(record);
  }

  /** Approves a change request and, when that is the last approval needed, schedules its application. */
  async approveAt(
    principal: Principal,
    id: string,
    at: string,
    comment: string,
  ): Promise<{ changeRequest: ChangeRequestView; schedule?: ScheduleView }> {
    this.#dueAt(at);
    const changeRequest = await this.#changeRequests.approve(principal, id, comment, { deferApply: true });
    if (changeRequest.state !== 'open' || changeRequest.approvals.length < changeRequest.required)
      return { changeRequest };
    const schedule = await this.create(principal, changeRequest.namespace, { at, changeRequestId: id });
    return { changeRequest, schedule };
  }

  async list(
    principal: Principal,
    query: { namespace?: string; state?: ScheduleState; limit: number },
  ): Promise<ScheduleView[]> {
    if (query.namespace !== undefined) requirePermission(principal, 'read', query.namespace);
    const records = await this.#store.listControlRecords({
      kind,
      namespace: query.namespace,
      states: query.state === undefined ? undefined : [query.state],
      limit: query.limit,
    });
    return records.filter((r) => mayRead(principal, r.namespace)).map(scheduleView);
  }

  async cancel(principal: Principal, id: string, reason: string): Promise<ScheduleView> {
    const record = await this.#store.getControlRecord(kind, id);
    if (!record || !mayRead(principal, record.namespace))
      throw new HeraldError('schedule_not_found', `schedule ${id} does not exist`);
    requirePermission(principal, 'release', record.namespace);
    if (record.state !== 'pending')
      throw new HeraldError(
        'invalid_transition',
        `schedule ${id} is ${record.state}: only a pending one can be cancelled`,
      );
    const saved = await this.#store.saveControlRecord(
      { ...record, state: 'cancelled', body: { ...record.body, cancelled: { by: actorOf(principal), reason } } },
      record.version,
      auditBy(principal, 'schedule.cancel', `namespace:${record.namespace}`, { id, reason }),
    );
    return scheduleView(saved);
  }

  /** Runs due schedules every `tickMs`, on the leader only. */
  start(tickMs: number): void {
    this.#timer ??= this.#clock.setInterval(() => void this.runDue(), tickMs);
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass over the due schedules; overlapping calls share the pass in progress. */
  runDue(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pass(): Promise<void> {
    if (!this.#leadership.isLeader()) return;
    try {
      const now = this.#clock.now();
      const due = await this.#store.listControlRecords({
        kind,
        states: ['pending', 'running'],
        dueBefore: now,
        limit: maxPerPass,
      });
      for (const record of due.sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0))) {
        if (!this.#leadership.isLeader()) return;
        const claimedAt = (record.body as unknown as ScheduleBody).claimedAt ?? 0;
        if (record.state === 'running' && now - claimedAt < claimTimeoutMs) continue;
        await this.#run(record).catch(this.#onError);
      }
    } catch (error) {
      this.#onError(error);
    }
  }

  async #run(record: ControlRecord): Promise<void> {
    const body = record.body as unknown as ScheduleBody;
    const now = this.#clock.now();
    // The claim: of two nodes that both think they lead, one save wins and only it runs the action.
    const claimed = await this.#store.saveControlRecord(
      { ...record, state: 'running', body: { ...record.body, claimedAt: now } },
      record.version,
      {
        actor: 'scheduler',
        action: 'schedule.start',
        target: `namespace:${record.namespace}`,
        details: { id: record.id },
      },
    );
    let state: ScheduleState = 'done';
    let detail: string | undefined;
    let outcome: ScheduleBody['outcome'];
    let dueAt = claimed.dueAt;
    try {
      const principal = await this.#principalOf(body);
      if (body.action === 'release') {
        const started = await this.#changeRequests.release(principal, record.namespace, body.note, body.supersede);
        outcome = { releaseSeq: started.release.seq, ...(started.rolloutId ? { rolloutId: started.rolloutId } : {}) };
      } else {
        const request = await this.#changeRequests.requireApproved(body.changeRequestId ?? '');
        const applied = await this.#changeRequests.apply(principal, request);
        outcome = { changeRequest: applied.id, state: applied.state };
        if (applied.state !== 'applied') {
          state = 'failed';
          detail = `change request ${applied.id} is ${applied.state}`;
        }
      }
    } catch (error) {
      if (error instanceof HeraldError && error.code === 'change_window') {
        // Held, not failed: it runs once the window is over.
        state = 'pending';
        detail = error.message;
        const until = Date.parse(String(error.extensions.until));
        dueAt = Number.isNaN(until) ? now + claimTimeoutMs : until;
      } else {
        state = 'failed';
        detail = error instanceof Error ? error.message : String(error);
      }
      if (!(error instanceof HeraldError) && !(error instanceof Error)) this.#onError(error);
    }
    const { claimedAt: _claimedAt, ...rest } = claimed.body as unknown as ScheduleBody;
    await this.#store.saveControlRecord(
      {
        ...claimed,
        state,
        dueAt,
        body: { ...rest, ...(detail === undefined ? {} : { detail }), ...(outcome ? { outcome } : {}) },
      },
      claimed.version,
      {
        actor: body.by,
        action: state === 'pending' ? 'schedule.hold' : state === 'done' ? 'schedule.run' : 'schedule.fail',
        target: `namespace:${record.namespace}`,
        details: { id: record.id, ...(detail === undefined ? {} : { detail }), ...(outcome ? { outcome } : {}) },
      },
    );
  }

  /** The scheduling principal, provided its token still lives: a revoked or expired token's schedules fail. */
  async #principalOf(body: ScheduleBody): Promise<Principal> {
    const token = (await this.#store.listTokens()).find((t) => t.id === body.principal.tokenId);
    const now = this.#clock.now();
    if (token && (token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= now)))
      throw new HeraldError('unauthenticated', `the token that scheduled it (${token.id}) is revoked or expired`);
    return body.principal;
  }

  #dueAt(at: string): number {
    if (!/(Z|[+-]\d{2}:\d{2})$/u.test(at) || Number.isNaN(Date.parse(at)))
      throw new HeraldError(
        'invalid_request',
        `"${at}" is not an ISO 8601 time with an offset (e.g. 2026-12-03T09:00:00Z)`,
      );
    const dueAt = Date.parse(at);
    if (dueAt <= this.#clock.now()) throw new HeraldError('invalid_request', `${at} is not in the future`);
    return dueAt;
  }
}

function mayRead(principal: Principal, namespace: string): boolean {
  try {
    requirePermission(principal, 'read', namespace);
    return true;
  } catch {
    return false;
  }
}

export function scheduleView(record: ControlRecord): ScheduleView {
  const body = record.body as unknown as ScheduleBody;
  return {
    id: record.id,
    namespace: record.namespace,
    action: body.action,
    state: record.state as ScheduleState,
    at: new Date(record.dueAt ?? 0).toISOString(),
    by: body.by,
    note: body.note,
    ...(body.changeRequestId === undefined ? {} : { changeRequestId: body.changeRequestId }),
    ...(body.detail === undefined ? {} : { detail: body.detail }),
    ...(body.outcome === undefined ? {} : { outcome: body.outcome }),
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}
