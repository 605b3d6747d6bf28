import { randomBytes } from 'node:crypto';
import {
  addressId,
  diffStates,
  entryEtag,
  HeraldError,
  planCommit,
  tokenLineage,
  type Change,
  type Clock,
  type EntryVersion,
} from '@herald/core';
import type { ControlRecord, NamespaceRecord, ReleaseRecord, Store } from '@herald/store';
import { releasesOnCommit } from '../delivery/policy.js';
import type { EntryCodec } from '../entry-codec.js';
import { actorOf, auditBy, canReadSecrets, requirePermission, type Principal } from '../principal.js';
import type {
  CommitGate,
  CommitOutcome,
  CommitProposal,
  EntryService,
  GateOutcome,
} from '../services/entry-service.js';
import { diffItem, type DiffItem } from '../services/history-service.js';
import { requireNamespace } from '../services/namespace-service.js';
import type { ChangeControlSettings } from './change-control-settings.js';

export type ChangeRequestState = 'open' | 'applied' | 'rejected' | 'stale';

/** A change request as stored (the record's body). */
interface ChangeRequestBody {
  kind: 'commit' | 'release';
  author: string;
  /** The author's token lineage: a rotated token is still the author, and may not approve. */
  authorLineage: string;
  message: string;
  baseRevision: number;
  /** The exact changes, as they will be committed (secret values sealed). */
  changes: Change[];
  required: number;
  approvers?: string[];
  approvals: Array<{ by: string; lineage: string; at: number }>;
  comments: Array<{ by: string; at: number; text: string }>;
  supersede?: boolean;
  rejected?: { by: string; at: number; reason: string };
  applied?: { by: string; at: number; revision?: number; releaseSeq?: number; rolloutId?: string };
  stale?: { at: number; namespaceRevision: number };
}

export interface ChangeRequestView {
  id: string;
  namespace: string;
  kind: 'commit' | 'release';
  state: ChangeRequestState;
  author: string;
  message: string;
  baseRevision: number;
  /** Whether the namespace is still at the base revision: only then can the request be applied. */
  current: boolean;
  required: number;
  approvers?: string[];
  approvals: Array<{ by: string; at: string }>;
  comments: Array<{ by: string; at: string; text: string }>;
  rejected?: { by: string; at: string; reason: string };
  applied?: { by: string; at: string; revision?: number; releaseSeq?: number; rolloutId?: string };
  /** The diff against the base revision (show only), values redacted unless the caller may read secrets. */
  changes?: DiffItem[];
  createdAt: string;
  updatedAt: string;
}

/**
 * Answered with 202 instead of the commit or release asked for: the namespace requires approval,
 * and this change request now holds the change (http/app.ts turns it into the answer).
 */
export class ChangeRequestOpened extends Error {
  readonly changeRequest: ChangeRequestView;

  constructor(view: ChangeRequestView) {
    super(
      `change request ${view.id} opened; needs ${view.required} approval${view.required === 1 ? '' : 's'}: herald cr approve ${view.id}`,
    );
    this.name = 'ChangeRequestOpened';
    this.changeRequest = view;
  }
}

/** Makes a release: the rollout service's startRelease, as the server wires it. */
export type Releaser = (
  principal: Principal,
  namespace: string,
  note: string,
  supersede: boolean,
  /** Ship content a rollout rolled back anyway (release_rolled_back), with why. */
  force?: { reason: string },
) => Promise<{ release: ReleaseRecord; rolloutId?: string }>;

type CrStore = Pick<
  Store,
  'getNamespace' | 'readEntries' | 'saveControlRecord' | 'getControlRecord' | 'listControlRecords' | 'appendAudit'
>;

const kind = 'change_request';

/**
 * Change requests: when a namespace requires approval, every commit (from any interface: they all
 * end in EntryService, which asks this gate) and, if the rule says so, every release becomes a
 * request that holds the exact changes and the revision they were made against. N approvals from
 * tokens other than the author's apply it as one commit conditional on that revision; a request
 * whose namespace moved on is stale and must be rebased, never applied over the newer state.
 * Every step is saved over the version read and audited in the same transaction.
 */
export class ChangeRequestService implements CommitGate {
  readonly #store: CrStore;
  readonly #clock: Clock;
  readonly #codec: EntryCodec;
  readonly #settings: ChangeControlSettings;
  readonly #entries: () => EntryService;
  readonly #release: () => Releaser;

  constructor(deps: {
    store: CrStore;
    clock: Clock;
    codec: EntryCodec;
    settings: ChangeControlSettings;
    entries: () => EntryService;
    release: () => Releaser;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#codec = deps.codec;
    this.#settings = deps.settings;
    this.#entries = deps.entries;
    this.#release = deps.release;
  }

  async beforeCommit(principal: Principal, ns: NamespaceRecord, proposal: CommitProposal): Promise<GateOutcome> {
    const rule = await this.#settings.approvalRule(ns.name);
    let outcome: GateOutcome = { audit: {} };
    if (rule) {
      const bypass = this.#bypass(principal, ns.name);
      if (!bypass) {
        if (proposal.baseRevision !== ns.revision)
          throw new HeraldError(
            'precondition_failed',
            `namespace "${ns.name}" is at revision ${ns.revision}, not ${proposal.baseRevision}`,
            { extensions: { namespaceRevision: ns.revision } },
          );
        await this.#checkApplies(ns.name, proposal.changes, ns.revision);
        throw new ChangeRequestOpened(await this.#open(principal, ns, 'commit', proposal.message, proposal.changes));
      }
      outcome = bypass;
    }
    // A commit to an `immediate` namespace is a release: change windows hold it like any other.
    if (releasesOnCommit(ns.policy)) {
      const override = await this.#settings.checkWindow(principal, ns.name, this.#clock.now());
      outcome = { ...outcome, audit: { ...outcome.audit, ...override } };
    }
    return outcome;
  }

  /**
   * A release asked for (POST releases): a release request when the namespace's rule covers
   * releases, else the release itself, when no change window blocks it.
   */
  async release(
    principal: Principal,
    namespace: string,
    note: string,
    supersede: boolean,
    force?: { reason: string },
  ): Promise<{ release: ReleaseRecord; rolloutId?: string }> {
    requirePermission(principal, 'release', namespace);
    const ns = await requireNamespace(this.#store, namespace);
    const rule = await this.#settings.approvalRule(namespace);
    let bypass: GateOutcome | undefined;
    if (rule?.releases) {
      bypass = this.#bypass(principal, namespace);
      if (!bypass) {
        const view = await this.#open(principal, ns, 'release', note, [], supersede);
        throw new ChangeRequestOpened(view);
      }
    }
    return this.#startRelease(principal, namespace, note, supersede, bypass, force);
  }

  async #startRelease(
    principal: Principal,
    namespace: string,
    note: string,
    supersede: boolean,
    bypass: GateOutcome | undefined,
    force?: { reason: string },
  ): Promise<{ release: ReleaseRecord; rolloutId?: string }> {
    const override = await this.#settings.checkWindow(principal, namespace, this.#clock.now());
    const shown = bypass?.note ? `${note}${note ? ' ' : ''}[${bypass.note}]` : note;
    const started = await this.#release()(principal, namespace, shown, supersede, force);
    const reason = principal.overrides?.window;
    // The override covers the whole rollout: its waves advance through windows too.
    if (started.rolloutId && reason !== undefined && override.overrideWindow)
      await this.#settings.overrideWindowFor(principal, namespace, started.rolloutId, reason);
    if (bypass || override.overrideWindow)
      await this.#store.appendAudit(
        auditBy(principal, 'release.override', `namespace:${namespace}`, {
          seq: started.release.seq,
          ...bypass?.audit,
          ...override,
        }),
      );
    return started;
  }

  async list(
    principal: Principal,
    query: { namespace?: string; state?: ChangeRequestState; limit: number },
  ): Promise<ChangeRequestView[]> {
    if (query.namespace !== undefined) requirePermission(principal, 'read', query.namespace);
    const records = await this.#store.listControlRecords({
      kind,
      namespace: query.namespace,
      states: query.state === undefined ? undefined : [query.state],
      limit: query.limit,
    });
    const visible = records.filter((r) => canRead(principal, r.namespace));
    return Promise.all(visible.map((r) => this.#view(r)));
  }

  async show(principal: Principal, id: string): Promise<ChangeRequestView> {
    const record = await this.#require(principal, id, 'read');
    return this.#view(record, await this.#diff(principal, record));
  }

  async comment(principal: Principal, id: string, text: string): Promise<ChangeRequestView> {
    if (text.trim().length === 0 || text.includes('\u0000'))
      throw new HeraldError('invalid_request', 'a comment needs some text');
    const record = await this.#require(principal, id, 'read');
    const body = bodyOf(record);
    const at = this.#clock.now();
    const saved = await this.#save(
      record,
      record.state as ChangeRequestState,
      { ...body, comments: [...body.comments, { by: actorOf(principal), at, text }] },
      auditBy(principal, 'change_request.comment', `namespace:${record.namespace}`, { id, text }),
    );
    return this.#view(saved);
  }

  async reject(principal: Principal, id: string, reason: string): Promise<ChangeRequestView> {
    const record = await this.#require(principal, id, 'read');
    const body = bodyOf(record);
    // The author may withdraw their own request; anyone else needs the right to make the change.
    if (tokenLineage(principal.tokenId) !== body.authorLineage)
      requirePermission(principal, rightOf(body), record.namespace);
    requireOpen(record, ['open', 'stale']);
    const saved = await this.#save(
      record,
      'rejected',
      { ...body, rejected: { by: actorOf(principal), at: this.#clock.now(), reason } },
      auditBy(principal, 'change_request.reject', `namespace:${record.namespace}`, { id, reason }),
    );
    return this.#view(saved);
  }

  /**
   * Records an approval; the last one needed applies the request (a commit conditional on its
   * base revision, or the release). A namespace that moved on makes it stale instead.
   */
  async approve(
    principal: Principal,
    id: string,
    comment = '',
    options: { deferApply?: boolean } = {},
  ): Promise<ChangeRequestView> {
    const record = await this.#require(principal, id, 'read');
    const body = bodyOf(record);
    requirePermission(principal, rightOf(body), record.namespace);
    requireOpen(record, ['open']);
    const lineage = tokenLineage(principal.tokenId);
    if (lineage === body.authorLineage)
      throw new HeraldError('approval_refused', `${id} was made by this token: the author cannot approve it`);
    if (body.approvers && !body.approvers.includes(principal.name) && !body.approvers.includes(principal.tokenId))
      throw new HeraldError(
        'approval_refused',
        `only ${body.approvers.join(', ')} may approve changes of "${record.namespace}"`,
      );
    // Fully approved but not applied (a change window held it, or the apply failed): approving again applies it.
    if (body.approvals.length >= body.required && !options.deferApply)
      return this.#view(await this.apply(principal, record));
    if (body.approvals.some((a) => a.lineage === lineage))
      throw new HeraldError('approval_refused', `this token already approved ${id}`);
    const at = this.#clock.now();
    const approved: ChangeRequestBody = {
      ...body,
      approvals: [...body.approvals, { by: actorOf(principal), lineage, at }],
      comments: comment ? [...body.comments, { by: actorOf(principal), at, text: comment }] : body.comments,
    };
    const saved = await this.#save(
      record,
      'open',
      approved,
      auditBy(principal, 'change_request.approve', `namespace:${record.namespace}`, {
        id,
        approvals: approved.approvals.length,
        required: approved.required,
      }),
    );
    // Deferred: the caller schedules the application (herald cr approve --apply-at).
    if (approved.approvals.length < approved.required || options.deferApply) return this.#view(saved);
    return this.#view(await this.apply(principal, saved));
  }

  /**
   * Applies a fully approved request, as `principal` (the last approver, or the scheduler with the
   * scheduling token). Returns the record as it ends: applied, or stale when the namespace moved on.
   */
  async apply(principal: Principal, record: ControlRecord): Promise<ControlRecord> {
    const body = bodyOf(record);
    const ns = await requireNamespace(this.#store, record.namespace);
    if (ns.revision !== body.baseRevision) return this.#markStale(principal, record, ns.revision);
    const at = this.#clock.now();
    let applied: NonNullable<ChangeRequestBody['applied']>;
    if (body.kind === 'release') {
      const started = await this.#startRelease(
        principal,
        record.namespace,
        body.message || `release request ${record.id}`,
        body.supersede ?? false,
        undefined,
      );
      applied = {
        by: actorOf(principal),
        at,
        releaseSeq: started.release.seq,
        ...(started.rolloutId ? { rolloutId: started.rolloutId } : {}),
      };
    } else {
      // A commit to an `immediate` namespace releases: change windows hold it like any release.
      if (releasesOnCommit(ns.policy)) await this.#settings.checkWindow(principal, record.namespace, this.#clock.now());
      let outcome: CommitOutcome;
      try {
        outcome = await this.#entries().applyApproved(principal, record.namespace, {
          changes: body.changes,
          message: body.message || `change request ${record.id}`,
          baseRevision: body.baseRevision,
          author: body.author,
          changeRequestId: record.id,
        });
      } catch (error) {
        if (
          error instanceof HeraldError &&
          error.code === 'precondition_failed' &&
          'namespaceRevision' in error.extensions
        )
          return this.#markStale(principal, record, Number(error.extensions.namespaceRevision));
        throw error;
      }
      applied = {
        by: actorOf(principal),
        at,
        revision: outcome.revision,
        ...(outcome.releaseSeq === undefined ? {} : { releaseSeq: outcome.releaseSeq }),
      };
    }
    // The change is made; the record must say so even if a comment raced in (bounded retries).
    let current = record;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#save(
          current,
          'applied',
          { ...bodyOf(current), applied },
          auditBy(principal, 'change_request.apply', `namespace:${record.namespace}`, { id: record.id, ...applied }),
        );
      } catch (error) {
        const fresh = await this.#store.getControlRecord(kind, record.id);
        if (attempt >= 5 || !fresh) throw error;
        current = fresh;
      }
    }
  }

  /**
   * Makes the request against the namespace as it is now: `rebase_conflict` when an entry it
   * changes was changed since its base, else a new base revision. Approvals were of a change to
   * another state: they are cleared.
   */
  async rebase(principal: Principal, id: string): Promise<ChangeRequestView> {
    const record = await this.#require(principal, id, 'read');
    const body = bodyOf(record);
    if (tokenLineage(principal.tokenId) !== body.authorLineage)
      requirePermission(principal, rightOf(body), record.namespace);
    requireOpen(record, ['open', 'stale']);
    const ns = await requireNamespace(this.#store, record.namespace);
    if (body.kind === 'commit') {
      const touched = new Set(body.changes.map((c) => addressId(c)));
      const inScope = (versions: EntryVersion[]) => versions.filter((v) => touched.has(addressId(v)));
      const [before, now] = await Promise.all([
        this.#store.readEntries({ namespace: record.namespace, asOf: body.baseRevision }).then(inScope),
        this.#store.readEntries({ namespace: record.namespace }).then(inScope),
      ]);
      const conflicts = diffStates(before, now).map((d) => ({ key: d.key, label: d.label }));
      if (conflicts.length > 0)
        throw new HeraldError(
          'rebase_conflict',
          `${id} cannot be rebased: since revision ${body.baseRevision}, ${conflicts.map((c) => (c.label ? `${c.key} (${c.label})` : c.key)).join(', ')} changed; reject it and propose the change again`,
          { extensions: { conflicts } },
        );
      await this.#checkApplies(record.namespace, body.changes, ns.revision);
    }
    const { stale: _stale, ...rest } = body;
    const saved = await this.#save(
      record,
      'open',
      { ...rest, baseRevision: ns.revision, approvals: [] },
      auditBy(principal, 'change_request.rebase', `namespace:${record.namespace}`, {
        id,
        fromRevision: body.baseRevision,
        toRevision: ns.revision,
      }),
    );
    return this.#view(saved);
  }

  /** A change request due to be applied by the scheduler: open and fully approved. */
  async requireApproved(id: string): Promise<ControlRecord> {
    const record = await this.#store.getControlRecord(kind, id);
    if (!record) throw new HeraldError('change_request_not_found', `change request ${id} does not exist`);
    requireOpen(record, ['open']);
    const body = bodyOf(record);
    if (body.approvals.length < body.required)
      throw new HeraldError('invalid_transition', `${id} has ${body.approvals.length} of ${body.required} approvals`);
    return record;
  }

  async #open(
    principal: Principal,
    ns: NamespaceRecord,
    what: 'commit' | 'release',
    message: string,
    changes: Change[],
    supersede?: boolean,
  ): Promise<ChangeRequestView> {
    const rule = await this.#settings.approvalRule(ns.name);
    const id = `CR-${randomBytes(4).toString('hex')}`;
    const body: ChangeRequestBody = {
      kind: what,
      author: actorOf(principal),
      authorLineage: tokenLineage(principal.tokenId),
      message,
      baseRevision: ns.revision,
      changes,
      required: rule?.required ?? 1,
      ...(rule?.approvers ? { approvers: rule.approvers } : {}),
      approvals: [],
      comments: [],
      ...(supersede === undefined ? {} : { supersede }),
    };
    const record = await this.#store.saveControlRecord(
      { kind, id, namespace: ns.name, state: 'open', dueAt: null, body: body as unknown as Record<string, unknown> },
      0,
      auditBy(principal, 'change_request.open', `namespace:${ns.name}`, {
        id,
        kind: what,
        baseRevision: ns.revision,
        message,
        changes: changes.map((c) => ({ op: c.op, key: c.key, label: c.label })),
      }),
    );
    return this.#view(record);
  }

  /** The emergency path: an admin's bypass, with its reason, for the audit record and the commit message. */
  #bypass(principal: Principal, namespace: string): GateOutcome | undefined {
    const reason = principal.overrides?.approval;
    if (reason === undefined) return undefined;
    requirePermission(principal, 'manage', namespace);
    return {
      audit: { bypassApproval: { by: actorOf(principal), reason } },
      note: `approval bypassed by ${actorOf(principal)}: ${reason}`,
    };
  }

  /** Refuses, now rather than at approval, changes that could not be committed over the current state (at `revision`). */
  async #checkApplies(namespace: string, changes: Change[], revision: number): Promise<void> {
    const touched = new Set(changes.map((c) => addressId(c)));
    const current = (await this.#store.readEntries({ namespace })).filter((v) => touched.has(addressId(v)));
    planCommit(
      { namespace, changes, author: '', message: '' },
      new Map(current.map((v) => [addressId(v), v])),
      (v) => entryEtag(v, v.revision),
      revision + 1,
      this.#clock.now(),
    );
  }

  async #diff(principal: Principal, record: ControlRecord): Promise<DiffItem[]> {
    const body = bodyOf(record);
    if (body.changes.length === 0) return [];
    const touched = new Set(body.changes.map((c) => addressId(c)));
    const secrets = canReadSecrets(principal, record.namespace);
    try {
      // As of the base revision; compacted history or a plan that no longer holds shows what was asked.
      const before = (await this.#store.readEntries({ namespace: record.namespace, asOf: body.baseRevision })).filter(
        (v) => touched.has(addressId(v)),
      );
      const planned = planCommit(
        { namespace: record.namespace, changes: body.changes, author: body.author, message: body.message },
        new Map(before.map((v) => [addressId(v), v])),
        (v) => entryEtag(v, v.revision),
        body.baseRevision + 1,
        record.createdAt,
      );
      const after = new Map(before.map((v) => [addressId(v), v]));
      for (const v of planned.versions) after.set(addressId(v), v);
      const live = [...after.values()].filter((v) => !v.deleted);
      return diffStates(before, live).map((d) => diffItem(this.#codec, d, secrets));
    } catch {
      // Locks and unlocks change no value; a plan that no longer holds still shows what was asked.
      return body.changes.map((c) => ({ key: c.key, label: c.label, kind: 'changed' as const }));
    }
  }

  async #markStale(principal: Principal, record: ControlRecord, namespaceRevision: number): Promise<ControlRecord> {
    return this.#save(
      record,
      'stale',
      { ...bodyOf(record), stale: { at: this.#clock.now(), namespaceRevision } },
      auditBy(principal, 'change_request.stale', `namespace:${record.namespace}`, {
        id: record.id,
        baseRevision: bodyOf(record).baseRevision,
        namespaceRevision,
      }),
    );
  }

  async #require(principal: Principal, id: string, right: 'read'): Promise<ControlRecord> {
    const record = await this.#store.getControlRecord(kind, id);
    // Not found for those who may not see it, so ids cannot be probed across namespaces.
    if (!record || !canRead(principal, record.namespace))
      throw new HeraldError('change_request_not_found', `change request ${id} does not exist`);
    requirePermission(principal, right, record.namespace);
    return record;
  }

  async #save(
    record: ControlRecord,
    state: ChangeRequestState,
    body: ChangeRequestBody,
    audit: ReturnType<typeof auditBy>,
  ): Promise<ControlRecord> {
    return this.#store.saveControlRecord(
      {
        kind,
        id: record.id,
        namespace: record.namespace,
        state,
        dueAt: null,
        body: body as unknown as Record<string, unknown>,
      },
      record.version,
      audit,
    );
  }

  async #view(record: ControlRecord, changes?: DiffItem[]): Promise<ChangeRequestView> {
    const body = bodyOf(record);
    const ns = await this.#store.getNamespace(record.namespace);
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      id: record.id,
      namespace: record.namespace,
      kind: body.kind,
      state: record.state as ChangeRequestState,
      author: body.author,
      message: body.message,
      baseRevision: body.baseRevision,
      current: ns?.revision === body.baseRevision,
      required: body.required,
      ...(body.approvers ? { approvers: body.approvers } : {}),
      approvals: body.approvals.map((a) => ({ by: a.by, at: iso(a.at) })),
      comments: body.comments.map((c) => ({ by: c.by, at: iso(c.at), text: c.text })),
      ...(body.rejected ? { rejected: { ...body.rejected, at: iso(body.rejected.at) } } : {}),
      ...(body.applied ? { applied: { ...body.applied, at: iso(body.applied.at) } } : {}),
      ...(changes ? { changes } : {}),
      createdAt: iso(record.createdAt),
      updatedAt: iso(record.updatedAt),
    };
  }
}

function bodyOf(record: ControlRecord): ChangeRequestBody {
  return record.body as unknown as ChangeRequestBody;
}

/** Approving (or rejecting) a commit needs the right to write; a release, the right to release. */
function rightOf(body: ChangeRequestBody): 'write' | 'release' {
  return body.kind === 'commit' ? 'write' : 'release';
}

function canRead(principal: Principal, namespace: string): boolean {
  try {
    requirePermission(principal, 'read', namespace);
    return true;
  } catch {
    return false;
  }
}

function requireOpen(record: ControlRecord, states: readonly ChangeRequestState[]): void {
  if (states.includes(record.state as ChangeRequestState)) return;
  if (record.state === 'stale')
    throw new HeraldError(
      'change_request_stale',
      `${record.id} is stale: "${record.namespace}" moved on since it was made; rebase it (herald cr rebase ${record.id})`,
    );
  throw new HeraldError('change_request_closed', `${record.id} is ${record.state}`);
}
