import {
  addressId,
  checkDistinctChanges,
  checkKey,
  checkLabel,
  checkLabels,
  decodeCursor,
  describeAddress,
  diffStates,
  HeraldError,
  inverseOfCommit,
  type Change,
  type EntryVersion,
  type Limits,
  type Page,
} from '@herald/core';
import type { NamespaceRecord, Store } from '@herald/store';
import type { EntryCodec, EntryView } from '../entry-codec.js';
import { releasesOnCommit } from '../delivery/policy.js';
import { actorOf, auditBy, canReadSecrets, requirePermission, type Principal } from '../principal.js';
import { toChange, type CommitInput } from './change-input.js';
import { diffItem, type DiffItem } from './history-service.js';
import { requireNamespace } from './namespace-service.js';
import { pageOf } from './paging.js';
import type { FlagCheck } from './flag-check.js';
import type { SchemaCheck } from './schema-check.js';

export interface CommitOutcome {
  revision: number;
  entries: EntryView[];
  /** The release made with the commit (namespaces with the `immediate` policy). */
  releaseSeq?: number;
}

export type EntryStore = Pick<
  Store,
  'getNamespace' | 'readEntries' | 'currentRevision' | 'commit' | 'listCommits' | 'appendAudit'
>;

/** A commit as proposed, before change control has had its say. */
export interface CommitProposal {
  changes: Change[];
  message: string;
  /** The namespace revision the changes were made against. */
  baseRevision: number;
  /** The audit action the commit would be recorded as. */
  action: string;
}

/**
 * Change control, asked before every commit: it returns when the commit may be made now (with
 * audit details of any override it allowed), or throws (a change request opened instead, a window
 * that blocks the release the commit would make).
 */
export interface CommitGate {
  beforeCommit(principal: Principal, ns: NamespaceRecord, proposal: CommitProposal): Promise<GateOutcome>;
}

/** What change control let through: audit details, and a note for the commit message (an emergency bypass shows there). */
export interface GateOutcome {
  audit: Record<string, unknown>;
  note?: string;
}

/** A change request's approved changes, applied as one commit conditional on the revision they were made against. */
export interface ApprovedCommit {
  changes: Change[];
  message: string;
  baseRevision: number;
  author: string;
  changeRequestId: string;
}

/** How often a commit is retried when a concurrent commit changed a namespace whose document schema it checked. */
const schemaCheckRetries = 5;

/**
 * The entries of a namespace: reading them (secrets only for callers allowed to), and changing
 * them by commits, each checked against the limits, the flag rules and the namespace schema, and audited. Every
 * interface (REST, the CLI through REST, the Azure-compatible API) writes through here, so all get
 * the same rules.
 */
export class EntryService {
  readonly #store: EntryStore;
  readonly #limits: Limits;
  readonly #codec: EntryCodec;
  readonly #schemas: SchemaCheck;
  readonly #flags: FlagCheck;
  /** `seconds`: how long the store took to apply it. */
  readonly #onCommit: (revision: number, changes: number, seconds: number) => void;
  readonly #gate: () => CommitGate | undefined;

  constructor(deps: {
    store: EntryStore;
    limits: Limits;
    codec: EntryCodec;
    schemas: SchemaCheck;
    flags: FlagCheck;
    onCommit?: (revision: number, changes: number, seconds: number) => void;
    /** Change control; a function because it applies approved changes through this service. */
    gate?: () => CommitGate | undefined;
  }) {
    this.#gate = deps.gate ?? (() => undefined);
    this.#store = deps.store;
    this.#limits = deps.limits;
    this.#codec = deps.codec;
    this.#schemas = deps.schemas;
    this.#flags = deps.flags;
    this.#onCommit = deps.onCommit ?? (() => undefined);
  }

  async readEntry(
    principal: Principal,
    namespace: string,
    key: string,
    label: string,
    asOf?: number,
  ): Promise<EntryView> {
    requirePermission(principal, 'read', namespace);
    checkKey(key, this.#limits);
    checkLabel(label, this.#limits);
    await requireNamespace(this.#store, namespace);
    const [version] = await this.#store.readEntries({
      namespace,
      key,
      labels: [label],
      ...(asOf === undefined ? {} : { asOf }),
    });
    if (!version)
      throw new HeraldError(
        'entry_not_found',
        `entry "${key}"${label ? ` (label "${label}")` : ''} does not exist in "${namespace}"`,
      );
    return this.#codec.view(version, canReadSecrets(principal, namespace));
  }

  /**
   * One entry's value on purpose, for a console that masks secrets by default: only callers who
   * may read the namespace's secrets, and each reveal of a secret is audited (`secret.revealed`).
   */
  async revealEntry(principal: Principal, namespace: string, key: string, label: string): Promise<EntryView> {
    requirePermission(principal, 'read', namespace);
    if (!canReadSecrets(principal, namespace))
      throw new HeraldError('forbidden', `token ${principal.tokenId} may not read the secrets of "${namespace}"`);
    const entry = await this.readEntry(principal, namespace, key, label);
    if (entry.secret)
      await this.#store.appendAudit(
        auditBy(principal, 'secret.revealed', `namespace:${namespace}`, { key, label, revision: entry.revision }),
      );
    return entry;
  }

  async listEntries(
    principal: Principal,
    namespace: string,
    query: { prefix?: string; labels?: string[]; asOf?: number; cursor?: string; limit: number },
  ): Promise<Page<EntryView> & { revision: number }> {
    requirePermission(principal, 'read', namespace);
    if (query.labels) checkLabels(query.labels, this.#limits);
    await requireNamespace(this.#store, namespace);
    // Read the revision first: the listing is then at least as new as the revision reported.
    const revision = query.asOf ?? (await this.#store.currentRevision());
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['string', 'string']);
    const versions = await this.#store.readEntries({
      namespace,
      ...(query.prefix ? { keyPrefix: query.prefix } : {}),
      ...(query.labels ? { labels: query.labels } : {}),
      ...(query.asOf === undefined ? {} : { asOf: query.asOf }),
      ...(after ? { after: { key: String(after[0]), label: String(after[1]) } } : {}),
      limit: query.limit + 1,
    });
    const secrets = canReadSecrets(principal, namespace);
    const page = pageOf(versions, query.limit, (last) => [last.key, last.label]);
    return { revision, ...page, items: page.items.map((v) => this.#codec.view(v, secrets)) };
  }

  async commit(principal: Principal, namespace: string, input: CommitInput): Promise<CommitOutcome> {
    requirePermission(principal, 'write', namespace);
    const changes = input.changes.map((change) => toChange(namespace, change, this.#codec, this.#limits));
    return this.#commitChanges(principal, namespace, changes, input.message ?? '', {
      callerNamespaceRevision: input.ifNamespaceRevision,
      action: 'entries.commit',
    });
  }

  /**
   * Applies a change request's changes as one commit, authored by its author, only if the
   * namespace is still at the revision they were made against: `precondition_failed` (with
   * `namespaceRevision`) otherwise, and the request is stale. Permissions are the caller's to check.
   */
  async applyApproved(approver: Principal, namespace: string, approved: ApprovedCommit): Promise<CommitOutcome> {
    return this.#commitChanges(approver, namespace, approved.changes, approved.message, {
      callerNamespaceRevision: approved.baseRevision,
      action: 'entries.commit',
      author: approved.author,
      approved: approved.changeRequestId,
    });
  }

  /**
   * Makes the namespace (or one key, or one label) look as it did at `revision`, as a new commit:
   * every later commit there is discarded. Guarded by the namespace revision read here, so a
   * concurrent change fails the restore rather than being silently undone.
   */
  async restore(
    principal: Principal,
    namespace: string,
    input: { revision: number; key?: string; label?: string; message?: string; dryRun?: boolean },
  ): Promise<{ revision: number | null; changes: DiffItem[] }> {
    requirePermission(principal, 'write', namespace);
    const ns = await requireNamespace(this.#store, namespace);
    const scope = {
      ...(input.label === undefined ? {} : { labels: [input.label] }),
      ...(input.key === undefined ? {} : { key: input.key }),
    };
    const [current, target] = await Promise.all([
      this.#store.readEntries({ namespace, ...scope }),
      this.#store.readEntries({ namespace, asOf: input.revision, ...scope }),
    ]);
    const diffs = diffStates(current, target);
    const secrets = canReadSecrets(principal, namespace);
    const shown = diffs.map((d) => diffItem(this.#codec, d, secrets));
    if (input.dryRun || diffs.length === 0) return { revision: null, changes: shown };
    const changes: Change[] = diffs.map((d) =>
      d.after
        ? {
            op: 'set',
            key: d.key,
            label: d.label,
            text: d.after.text,
            contentType: d.after.contentType,
            tags: d.after.tags,
            secret: d.after.secret,
          }
        : { op: 'delete', key: d.key, label: d.label },
    );
    const message = input.message ?? `restore to revision ${input.revision}`;
    // The audit action keeps its first name: audit filters and alerts match on it.
    const outcome = await this.#commitChanges(principal, namespace, changes, message, {
      callerNamespaceRevision: ns.revision,
      action: 'entries.revert',
    });
    return { revision: outcome.revision, changes: shown };
  }

  /**
   * Undoes one commit, as a new commit: the inverse of each of its changes, each guarded by the
   * entry's current revision, leaving every other commit in place. `revert_conflict` when a later
   * commit touched one of its entries (undoing it there would discard that later change too).
   */
  async revertCommit(
    principal: Principal,
    namespace: string,
    input: { revision: number; message?: string; dryRun?: boolean },
  ): Promise<{ revision: number | null; reverted: number; changes: DiffItem[] }> {
    requirePermission(principal, 'write', namespace);
    await requireNamespace(this.#store, namespace);
    const [commit] = await this.#store.listCommits({
      namespace,
      order: 'oldest',
      afterRevision: input.revision - 1,
      limit: 1,
    });
    if (commit?.revision !== input.revision)
      throw new HeraldError('commit_not_found', `no commit of "${namespace}" has revision ${input.revision}`);
    const touched = new Set(commit.changes.map((c) => addressId(c)));
    const inScope = (versions: EntryVersion[]) => versions.filter((v) => touched.has(addressId(v)));
    const [before, atCommit, current] = await Promise.all([
      this.#store.readEntries({ namespace, asOf: input.revision - 1 }).then(inScope),
      this.#store.readEntries({ namespace, asOf: input.revision }).then(inScope),
      this.#store.readEntries({ namespace }).then(inScope),
    ]);
    const inverse = inverseOfCommit(commit.changes, { before, atCommit, current });
    if (inverse.conflicts.length > 0) {
      const names = inverse.conflicts.map((c) => describeAddress(c)).join(', ');
      throw new HeraldError(
        'revert_conflict',
        `cannot revert r${input.revision}: a later commit changed ${names}; restore to a revision instead, or change them by hand`,
        { extensions: { conflicts: inverse.conflicts } },
      );
    }
    const secrets = canReadSecrets(principal, namespace);
    const shown = diffStates(atCommit, before).map((d) => diffItem(this.#codec, d, secrets));
    if (input.dryRun || inverse.changes.length === 0)
      return { revision: null, reverted: input.revision, changes: shown };
    const message = input.message ?? `revert r${input.revision}${commit.message ? `: ${commit.message}` : ''}`;
    const outcome = await this.#commitChanges(principal, namespace, inverse.changes, message, {
      callerNamespaceRevision: undefined,
      action: 'entries.revert_commit',
    });
    return { revision: outcome.revision, reverted: input.revision, changes: shown };
  }

  async #commitChanges(
    principal: Principal,
    namespace: string,
    changes: Change[],
    message: string,
    options: {
      callerNamespaceRevision: number | undefined;
      action: string;
      /** The commit's author when not the caller (an approved change request's). */
      author?: string;
      /** The id of the approved change request it applies: change control has had its say. */
      approved?: string;
    },
  ): Promise<CommitOutcome> {
    const { callerNamespaceRevision, action } = options;
    if (changes.length === 0) throw new HeraldError('invalid_request', 'a commit needs at least one change');
    // PostgreSQL text cannot hold U+0000; refuse it on every store alike.
    if (message.includes('\u0000'))
      throw new HeraldError('invalid_request', 'the commit message must not contain U+0000');
    if (changes.length > this.#limits.maxChangesPerCommit) {
      throw new HeraldError(
        'too_many_changes',
        `${changes.length} changes; the limit is ${this.#limits.maxChangesPerCommit} per commit`,
      );
    }
    checkDistinctChanges(changes);
    await this.#flags.ofChanges(namespace, changes);
    for (let attempt = 1; ; attempt += 1) {
      const ns = await requireNamespace(this.#store, namespace);
      const schemaGuard = ns.schema ? await this.#schemas.ofChanges(ns, ns.schema, changes) : undefined;
      const ifNamespaceRevision = callerNamespaceRevision ?? schemaGuard;
      const gate = this.#gate();
      // Asked once the changes are known to be valid, so a change request never holds a change that could not be made.
      const controlled =
        options.approved !== undefined
          ? { audit: { changeRequest: options.approved } }
          : gate
            ? await gate.beforeCommit(principal, ns, {
                changes,
                message,
                baseRevision: callerNamespaceRevision ?? ns.revision,
                action,
              })
            : { audit: {} };
      const committed = controlled.note ? `${message}${message ? ' ' : ''}[${controlled.note}]` : message;
      try {
        const started = performance.now();
        const result = await this.#store.commit(
          {
            namespace,
            changes,
            author: options.author ?? actorOf(principal),
            message: committed,
            release: releasesOnCommit(ns.policy),
            ...(ifNamespaceRevision === undefined ? {} : { ifNamespaceRevision }),
          },
          auditBy(principal, action, `namespace:${namespace}`, {
            message,
            changes: changes.map((c) => ({ op: c.op, key: c.key, label: c.label })),
            ...controlled.audit,
          }),
          this.#limits,
        );
        this.#onCommit(result.revision, changes.length, (performance.now() - started) / 1000);
        const secrets = canReadSecrets(principal, namespace);
        return {
          revision: result.revision,
          entries: result.versions.map((v) => this.#codec.view(v, secrets)),
          ...(result.release ? { releaseSeq: result.release.seq } : {}),
        };
      } catch (error) {
        // Only our own schema guard is retried; a revision the caller asked for is the caller's to handle.
        const schemaRace =
          error instanceof HeraldError &&
          error.code === 'precondition_failed' &&
          callerNamespaceRevision === undefined &&
          schemaGuard !== undefined &&
          'namespaceRevision' in error.extensions;
        if (!schemaRace || attempt >= schemaCheckRetries) throw error;
      }
    }
  }
}
