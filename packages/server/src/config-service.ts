import {
  addressId,
  AuditChainVerifier,
  checkDistinctChanges,
  checkKey,
  checkLabel,
  checkLabels,
  checkNamespaceName,
  checkTags,
  decodeCursor,
  diffStates,
  encodeCursor,
  hashToken,
  HeraldError,
  issueToken,
  schemaViolation,
  SchemaValidator,
  textContentType,
  type AuditInput,
  type AuditRecord,
  type AuditVerification,
  type Change,
  type Clock,
  type CommitRecord,
  type EntryDiff,
  type EntryVersion,
  type Limits,
  type NamespaceSchema,
  type Page,
  type Scope,
  type SecretCipher,
  type Violation,
} from '@herald/core';
import type { NamespaceRecord, Store, TokenRecord } from '@herald/store';
import { EntryCodec, secretAssociatedData, type EntryView } from './entry-codec.js';
import { releasesOnCommit } from './delivery/policy.js';
import { actorOf, canReadSecrets, requirePermission, requireSystemAdmin, type Principal } from './principal.js';

export type ChangeInput =
  | {
      op: 'set';
      key: string;
      label?: string;
      value: unknown;
      /**
       * The value as text, stored verbatim (the Azure App Configuration API sends strings): checked
       * against the content type (JSON types must parse), and `value` is then ignored.
       */
      text?: string;
      contentType?: string;
      tags?: Record<string, string>;
      secret?: boolean;
      ifRevision?: number;
      ifEtag?: string;
      ifAbsent?: boolean;
    }
  | {
      op: 'delete' | 'lock' | 'unlock';
      key: string;
      label?: string;
      ifRevision?: number;
      ifEtag?: string;
      ifAbsent?: boolean;
    };

export interface CommitInput {
  message?: string;
  changes: ChangeInput[];
  ifNamespaceRevision?: number;
}

export interface CommitOutcome {
  revision: number;
  entries: EntryView[];
  /** The release made with the commit (namespaces with the `immediate` policy). */
  releaseSeq?: number;
}

export interface NamespaceView {
  name: string;
  description: string;
  revision: number;
  entryCount: number;
  hasSchema: boolean;
  createdAt: string;
}

export interface HistoryItem {
  revision: number;
  author: string;
  message: string;
  at: string;
  changes: Array<{ op: Change['op']; key: string; label: string; entry?: EntryView }>;
}

export interface DiffItem {
  key: string;
  label: string;
  kind: EntryDiff['kind'];
  before?: EntryView;
  after?: EntryView;
}

export interface TokenView {
  id: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

const maxCachedTokens = 10_000;

/** How often a commit is retried when a concurrent commit changed a namespace whose document schema it checked. */
const schemaCheckRetries = 5;

/**
 * Herald's admin operations, independent of HTTP: authorisation, input limits, schema
 * validation, secret encryption and audit records happen here, so every interface (REST, CLI
 * through REST, later the Azure-compatible API) gets the same rules.
 */
export class ConfigService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #limits: Limits;
  readonly #cipher: SecretCipher;
  readonly #codec: EntryCodec;
  readonly #onCommit: (revision: number, changes: number) => void;
  /**
   * Token lookups are cached briefly: a store query per request would be most of a small
   * request's cost on PostgreSQL. A revocation on this node takes effect at once; on other nodes
   * within `tokenCacheMs`.
   */
  readonly #tokenCache = new Map<string, { record: TokenRecord | undefined; until: number }>();
  readonly #tokenCacheMs: number;

  constructor(deps: {
    store: Store;
    clock: Clock;
    limits: Limits;
    cipher: SecretCipher;
    tokenCacheMs?: number;
    onCommit?: (revision: number, changes: number) => void;
  }) {
    this.#tokenCacheMs = deps.tokenCacheMs ?? 0;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#limits = deps.limits;
    this.#cipher = deps.cipher;
    this.#codec = new EntryCodec(deps.cipher, deps.limits);
    this.#onCommit = deps.onCommit ?? (() => undefined);
  }

  get limits(): Limits {
    return this.#limits;
  }

  get codec(): EntryCodec {
    return this.#codec;
  }

  // --- authentication ---

  /** The principal behind a bearer token, or `unauthenticated` for a missing, unknown, revoked or expired one. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) throw new HeraldError('unauthenticated', 'send a bearer token in the Authorization header');
    const hash = hashToken(token);
    const now = this.#clock.now();
    let cached = this.#tokenCache.get(hash);
    if (!cached || cached.until <= now) {
      const record = await this.#store.findToken(hash);
      if (this.#tokenCache.size >= maxCachedTokens) this.#tokenCache.clear();
      cached = { record, until: now + this.#tokenCacheMs };
      this.#tokenCache.set(hash, cached);
    }
    const { record } = cached;
    if (!record || record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= now)) {
      throw new HeraldError('unauthenticated', 'the token is unknown, revoked or expired');
    }
    return { tokenId: record.id, name: record.name, scopes: record.scopes };
  }

  // --- namespaces ---

  async createNamespace(
    principal: Principal,
    input: { name: string; description?: string; schema?: NamespaceSchema | null },
  ): Promise<NamespaceView> {
    checkNamespaceName(input.name);
    if (input.description?.includes('\u0000'))
      throw new HeraldError('invalid_request', 'the description must not contain U+0000');
    requirePermission(principal, 'manage', input.name);
    const schema = input.schema ?? null;
    if (schema) this.#compileSchema(schema);
    const record = await this.#store.createNamespace(
      { name: input.name, description: input.description ?? '', schema },
      this.#audit(principal, 'namespace.create', `namespace:${input.name}`, { hasSchema: schema !== null }),
    );
    return namespaceView(record);
  }

  async listNamespaces(principal: Principal, query: { cursor?: string; limit: number }): Promise<Page<NamespaceView>> {
    const after = query.cursor === undefined ? undefined : String(decodeCursor(query.cursor, ['string'])[0]);
    const records = await this.#store.listNamespaces({ after, limit: query.limit + 1 });
    const page = records.slice(0, query.limit);
    const last = page.at(-1);
    return {
      // Namespaces the token cannot see are left out; a page may then be short, but paging stays correct.
      items: page.filter((ns) => canSee(principal, ns.name)).map(namespaceView),
      ...(records.length > query.limit && last ? { next: encodeCursor([last.name]) } : {}),
    };
  }

  async getNamespace(principal: Principal, name: string): Promise<NamespaceView> {
    requirePermission(principal, 'read', name);
    return namespaceView(await this.#requireNamespace(name));
  }

  async deleteNamespace(principal: Principal, name: string, force: boolean): Promise<void> {
    requirePermission(principal, 'manage', name);
    await this.#store.deleteNamespace(
      name,
      { force },
      this.#audit(principal, 'namespace.delete', `namespace:${name}`, { force }),
    );
  }

  async getSchema(principal: Principal, name: string): Promise<NamespaceSchema | null> {
    requirePermission(principal, 'read', name);
    return (await this.#requireNamespace(name)).schema;
  }

  /** Sets (or with null, removes) the schema; refused with the violations when the current entries do not satisfy it. */
  async setSchema(principal: Principal, name: string, schema: NamespaceSchema | null): Promise<NamespaceView> {
    requirePermission(principal, 'manage', name);
    const schemaBytes = Buffer.byteLength(JSON.stringify(schema), 'utf8');
    if (schemaBytes > this.#limits.maxSchemaBytes) {
      throw new HeraldError(
        'invalid_schema',
        `the schema is ${schemaBytes} bytes; the limit is ${this.#limits.maxSchemaBytes}`,
      );
    }
    if (schema) {
      const validator = this.#compileSchema(schema);
      const entries = await this.#store.readEntries({ namespace: name });
      const violations = this.#violationsOfState(validator, entries);
      if (violations.length > 0) throw schemaViolation(violations);
    }
    const record = await this.#store.updateNamespace(
      name,
      { schema },
      this.#audit(principal, schema ? 'namespace.schema.set' : 'namespace.schema.remove', `namespace:${name}`),
    );
    return namespaceView(record);
  }

  // --- entries ---

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
    await this.#requireNamespace(namespace);
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

  async listEntries(
    principal: Principal,
    namespace: string,
    query: { prefix?: string; labels?: string[]; asOf?: number; cursor?: string; limit: number },
  ): Promise<Page<EntryView> & { revision: number }> {
    requirePermission(principal, 'read', namespace);
    if (query.labels) checkLabels(query.labels, this.#limits);
    await this.#requireNamespace(namespace);
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
    const page = versions.slice(0, query.limit);
    const last = page.at(-1);
    return {
      revision,
      items: page.map((v) => this.#codec.view(v, secrets)),
      ...(versions.length > query.limit && last ? { next: encodeCursor([last.key, last.label]) } : {}),
    };
  }

  async commit(principal: Principal, namespace: string, input: CommitInput): Promise<CommitOutcome> {
    requirePermission(principal, 'write', namespace);
    const changes = input.changes.map((change) => this.#toChange(namespace, change));
    return this.#commitChanges(
      principal,
      namespace,
      changes,
      input.message ?? '',
      input.ifNamespaceRevision,
      'entries.commit',
    );
  }

  async history(
    principal: Principal,
    namespace: string,
    query: { key?: string; label?: string; order: 'newest' | 'oldest'; cursor?: string; limit: number },
  ): Promise<Page<HistoryItem>> {
    requirePermission(principal, 'read', namespace);
    await this.#requireNamespace(namespace);
    const secrets = canReadSecrets(principal, namespace);
    const afterRevision = query.cursor === undefined ? undefined : Number(decodeCursor(query.cursor, ['number'])[0]);
    if (query.key !== undefined)
      return this.#keyHistory(namespace, query.key, query.label, query.order, afterRevision, query.limit, secrets);
    const commits = await this.#store.listCommits({
      namespace,
      order: query.order,
      limit: query.limit + 1,
      ...(afterRevision === undefined ? {} : { afterRevision }),
    });
    const page = commits.slice(0, query.limit);
    const versions =
      page.length === 0 ? new Map<string, EntryVersion>() : await this.#versionsOfCommits(namespace, page);
    const items = page.map((commit) => ({
      ...commitHeader(commit),
      changes: commit.changes.map((change) => {
        const version = versions.get(`${commit.revision}\u0000${addressId(change)}`);
        return { ...change, ...(version ? { entry: this.#codec.view(version, secrets) } : {}) };
      }),
    }));
    const last = page.at(-1);
    return { items, ...(commits.length > query.limit && last ? { next: encodeCursor([last.revision]) } : {}) };
  }

  async diff(
    principal: Principal,
    namespace: string,
    query: { from: number; to?: number; label?: string; key?: string },
  ): Promise<{ from: number; to: number; changes: DiffItem[] }> {
    requirePermission(principal, 'read', namespace);
    await this.#requireNamespace(namespace);
    const to = query.to ?? (await this.#store.currentRevision());
    const scope = {
      ...(query.label === undefined ? {} : { labels: [query.label] }),
      ...(query.key === undefined ? {} : { key: query.key }),
    };
    const [before, after] = await Promise.all([
      this.#store.readEntries({ namespace, asOf: query.from, ...scope }),
      this.#store.readEntries({ namespace, asOf: to, ...scope }),
    ]);
    const secrets = canReadSecrets(principal, namespace);
    return {
      from: query.from,
      to,
      changes: diffStates(before, after).map((d) => ({
        key: d.key,
        label: d.label,
        kind: d.kind,
        ...(d.before ? { before: this.#codec.view(d.before, secrets) } : {}),
        ...(d.after ? { after: this.#codec.view(d.after, secrets) } : {}),
      })),
    };
  }

  /**
   * Makes the namespace (or one key, or one label) look as it did at `revision`, as a new commit.
   * Guarded by the namespace revision read here, so a concurrent change fails the revert rather
   * than being silently undone.
   */
  async revert(
    principal: Principal,
    namespace: string,
    input: { revision: number; key?: string; label?: string; message?: string; dryRun?: boolean },
  ): Promise<{ revision: number | null; changes: DiffItem[] }> {
    requirePermission(principal, 'write', namespace);
    const ns = await this.#requireNamespace(namespace);
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
    const shown = diffs.map((d) => ({
      key: d.key,
      label: d.label,
      kind: d.kind,
      ...(d.before ? { before: this.#codec.view(d.before, secrets) } : {}),
      ...(d.after ? { after: this.#codec.view(d.after, secrets) } : {}),
    }));
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
    const message = input.message ?? `revert to revision ${input.revision}`;
    const outcome = await this.#commitChanges(principal, namespace, changes, message, ns.revision, 'entries.revert');
    return { revision: outcome.revision, changes: shown };
  }

  async compact(principal: Principal, revision: number): Promise<{ revision: number; removedVersions: number }> {
    requireSystemAdmin(principal);
    return this.#store.compact(
      revision,
      this.#audit(principal, 'store.compact', 'store', { requestedRevision: revision }),
    );
  }

  // --- tokens ---

  async createToken(
    principal: Principal,
    input: { name?: string; scopes: Scope[]; expiresInSeconds?: number },
  ): Promise<{ token: string; info: TokenView }> {
    requireSystemAdmin(principal);
    if (input.scopes.length === 0) throw new HeraldError('invalid_request', 'a token needs at least one scope');
    if (input.name?.includes('\u0000'))
      throw new HeraldError('invalid_request', 'the token name must not contain U+0000');
    const issued = issueToken();
    const now = this.#clock.now();
    const record: TokenRecord = {
      id: issued.id,
      name: input.name ?? '',
      scopes: input.scopes,
      tokenHash: issued.tokenHash,
      createdAt: now,
      createdBy: actorOf(principal),
      expiresAt: input.expiresInSeconds === undefined ? null : now + input.expiresInSeconds * 1000,
      revokedAt: null,
    };
    await this.#store.createToken(
      record,
      this.#audit(principal, 'token.create', `token:${issued.id}`, { name: record.name, scopes: record.scopes }),
    );
    return { token: issued.token, info: tokenView(record) };
  }

  async listTokens(principal: Principal): Promise<TokenView[]> {
    requireSystemAdmin(principal);
    return (await this.#store.listTokens()).map(tokenView);
  }

  async revokeToken(principal: Principal, id: string): Promise<TokenView> {
    requireSystemAdmin(principal);
    const revoked = tokenView(
      await this.#store.revokeToken(id, this.#clock.now(), this.#audit(principal, 'token.revoke', `token:${id}`)),
    );
    this.#tokenCache.clear();
    return revoked;
  }

  // --- audit ---

  async listAudit(principal: Principal, query: { cursor?: string; limit: number }): Promise<Page<AuditRecord>> {
    requireSystemAdmin(principal);
    const afterSeq = query.cursor === undefined ? undefined : Number(decodeCursor(query.cursor, ['number'])[0]);
    const records = await this.#store.listAudit({
      limit: query.limit + 1,
      ...(afterSeq === undefined ? {} : { afterSeq }),
    });
    const page = records.slice(0, query.limit);
    const last = page.at(-1);
    return { items: page, ...(records.length > query.limit && last ? { next: encodeCursor([last.seq]) } : {}) };
  }

  async verifyAudit(principal: Principal): Promise<AuditVerification> {
    requireSystemAdmin(principal);
    const verifier = new AuditChainVerifier();
    let afterSeq = 0;
    for (;;) {
      const page = await this.#store.listAudit({ afterSeq, limit: 1000 });
      for (const record of page) verifier.add(record);
      const last = page.at(-1);
      if (!last || page.length < 1000) break;
      afterSeq = last.seq;
    }
    return verifier.result();
  }

  // --- internals ---

  async #commitChanges(
    principal: Principal,
    namespace: string,
    changes: Change[],
    message: string,
    callerNamespaceRevision: number | undefined,
    action: string,
  ): Promise<CommitOutcome> {
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
    for (let attempt = 1; ; attempt += 1) {
      const ns = await this.#requireNamespace(namespace);
      const schemaGuard = ns.schema ? await this.#checkSchema(ns, changes) : undefined;
      const ifNamespaceRevision = callerNamespaceRevision ?? schemaGuard;
      try {
        const result = await this.#store.commit(
          {
            namespace,
            changes,
            author: actorOf(principal),
            message,
            release: releasesOnCommit(ns.policy),
            ...(ifNamespaceRevision === undefined ? {} : { ifNamespaceRevision }),
          },
          this.#audit(principal, action, `namespace:${namespace}`, {
            message,
            changes: changes.map((c) => ({ op: c.op, key: c.key, label: c.label })),
          }),
          this.#limits,
        );
        this.#onCommit(result.revision, changes.length);
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

  /** Validates the changes against the namespace schema; returns the namespace revision the check was made at when it read the namespace. */
  async #checkSchema(ns: NamespaceRecord, changes: Change[]): Promise<number | undefined> {
    const validator = this.#compileSchema(ns.schema as NamespaceSchema);
    const violations: Violation[] = [];
    const newValues = new Map<string, unknown>();
    for (const change of changes) {
      if (change.op !== 'set') continue;
      const plain = change.secret
        ? this.#cipher.decrypt(change.text, secretAssociatedData({ ...change, namespace: ns.name }))
        : change.text;
      const value = this.#codec.checkText(change.key, plain, change.contentType);
      newValues.set(addressId(change), value);
      violations.push(...validator.valueViolations(change.key, value));
    }
    let checkedAt: number | undefined;
    if (validator.hasDocumentSchema) {
      checkedAt = ns.revision;
      const labels = [...new Set(changes.map((c) => c.label))];
      const current = await this.#store.readEntries({ namespace: ns.name, labels });
      for (const label of labels) {
        // Null prototype: a key named __proto__ must be a plain member, not the prototype.
        const document = Object.create(null) as Record<string, unknown>;
        for (const version of current)
          if (version.label === label) document[version.key] = this.#codec.decodedValue(version);
        for (const change of changes) {
          if (change.label !== label) continue;
          if (change.op === 'set') document[change.key] = newValues.get(addressId(change));
          else if (change.op === 'delete') delete document[change.key];
        }
        violations.push(...validator.documentViolations(label, document));
      }
    }
    if (violations.length > 0) throw schemaViolation(violations);
    return checkedAt;
  }

  #violationsOfState(validator: SchemaValidator, entries: EntryVersion[]): Violation[] {
    const violations: Violation[] = [];
    const documents = new Map<string, Record<string, unknown>>();
    for (const version of entries) {
      const value = this.#codec.decodedValue(version);
      violations.push(...validator.valueViolations(version.key, value));
      const document = documents.get(version.label) ?? (Object.create(null) as Record<string, unknown>);
      document[version.key] = value;
      documents.set(version.label, document);
    }
    if (validator.hasDocumentSchema) {
      if (!documents.has('')) documents.set('', Object.create(null) as Record<string, unknown>);
      for (const [label, document] of documents) violations.push(...validator.documentViolations(label, document));
    }
    return violations;
  }

  #compileSchema(schema: NamespaceSchema): SchemaValidator {
    return new SchemaValidator(schema);
  }

  #toChange(namespace: string, input: ChangeInput): Change {
    const label = input.label ?? '';
    checkKey(input.key, this.#limits);
    checkLabel(label, this.#limits);
    const preconditions = {
      ...(input.ifRevision === undefined ? {} : { ifRevision: input.ifRevision }),
      ...(input.ifEtag === undefined ? {} : { ifEtag: input.ifEtag }),
      ...(input.ifAbsent ? { ifAbsent: true } : {}),
    };
    if (input.op !== 'set') return { op: input.op, key: input.key, label, ...preconditions };
    const tags = input.tags ?? {};
    checkTags(tags, this.#limits);
    const { text, contentType } =
      input.text === undefined
        ? this.#codec.encodeValue(input.key, input.value, input.contentType)
        : this.#verbatimText(input.key, input.text, input.contentType);
    const secret = input.secret ?? false;
    const stored = secret
      ? this.#cipher.encrypt(text, secretAssociatedData({ namespace, key: input.key, label }))
      : text;
    return { op: 'set', key: input.key, label, text: stored, contentType, tags, secret, ...preconditions };
  }

  #verbatimText(key: string, text: string, contentType = textContentType): { text: string; contentType: string } {
    this.#codec.checkText(key, text, contentType);
    return { text, contentType };
  }

  async #keyHistory(
    namespace: string,
    key: string,
    label: string | undefined,
    order: 'newest' | 'oldest',
    afterRevision: number | undefined,
    limit: number,
    secrets: boolean,
  ): Promise<Page<HistoryItem>> {
    checkKey(key, this.#limits);
    // The cursor is the last revision shown: page on from it in the order asked for.
    const paging =
      afterRevision === undefined
        ? {}
        : order === 'oldest'
          ? { sinceRevision: afterRevision + 1 }
          : { beforeRevision: afterRevision };
    const versions = await this.#store.entryHistory({
      namespace,
      key,
      order,
      limit: limit + 1,
      ...(label === undefined ? {} : { label }),
      ...paging,
    });
    const page = versions.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((v) => ({
        revision: v.revision,
        author: v.author,
        message: '',
        at: new Date(v.createdAt).toISOString(),
        changes: [
          { op: v.deleted ? 'delete' : 'set', key: v.key, label: v.label, entry: this.#codec.view(v, secrets) },
        ],
      })),
      ...(versions.length > limit && last ? { next: encodeCursor([last.revision]) } : {}),
    };
  }

  /** The versions written by a page of commits, fetched in one query over their revision range. */
  async #versionsOfCommits(namespace: string, commits: CommitRecord[]): Promise<Map<string, EntryVersion>> {
    const revisions = commits.map((c) => c.revision);
    const lowest = Math.min(...revisions);
    const highest = Math.max(...revisions);
    const versions = await this.#store.entryHistory({
      namespace,
      beforeRevision: highest + 1,
      sinceRevision: lowest,
      limit: commits.reduce((sum, c) => sum + c.changes.length, 0) + 1,
    });
    return new Map(versions.map((v) => [`${v.revision}\u0000${addressId(v)}`, v]));
  }

  async #requireNamespace(name: string): Promise<NamespaceRecord> {
    const ns = await this.#store.getNamespace(name);
    if (!ns) throw new HeraldError('namespace_not_found', `namespace "${name}" does not exist`);
    return ns;
  }

  #audit(principal: Principal, action: string, target: string, details: Record<string, unknown> = {}): AuditInput {
    return { actor: actorOf(principal), action, target, details };
  }
}

function canSee(principal: Principal, namespace: string): boolean {
  try {
    requirePermission(principal, 'view', namespace);
    return true;
  } catch {
    return false;
  }
}

function namespaceView(record: NamespaceRecord): NamespaceView {
  return {
    name: record.name,
    description: record.description,
    revision: record.revision,
    entryCount: record.entryCount,
    hasSchema: record.schema !== null,
    createdAt: new Date(record.createdAt).toISOString(),
  };
}

function commitHeader(commit: CommitRecord): Omit<HistoryItem, 'changes'> {
  return {
    revision: commit.revision,
    author: commit.author,
    message: commit.message,
    at: new Date(commit.createdAt).toISOString(),
  };
}

function tokenView(record: TokenRecord): TokenView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: record.id,
    name: record.name,
    scopes: record.scopes,
    createdAt: new Date(record.createdAt).toISOString(),
    createdBy: record.createdBy,
    expiresAt: iso(record.expiresAt),
    revokedAt: iso(record.revokedAt),
  };
}
