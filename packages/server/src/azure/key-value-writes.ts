import { entryEtag, HeraldError, printable, type EntryVersion, type Limits } from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import type { ChangeInput } from '../services/change-input.js';
import type { EntryService } from '../services/entry-service.js';
import type { AccessKeyCaller } from './access-keys.js';
import { parseKeyValueBody } from './bodies.js';
import { checkAddress, keyValueFor } from './caller.js';
import type { EntrySource } from './entry-source.js';
import type { AzureKeyValue } from './model.js';

/**
 * Writes of the Azure data plane: set, delete, lock and unlock a key-value. Each is a commit of
 * the EntryService, so it gets a revision, history, an audit record, schema validation and
 * delivery like any other; If-Match and If-None-Match become its preconditions.
 */

/** If-Match / If-None-Match as sent, unquoted; `*` stays `*`. */
export interface Conditions {
  ifMatch?: string;
  ifNoneMatch?: string;
}

/** The key-value a write left, and the revision it made. */
export interface Written {
  kv: AzureKeyValue;
  revision: number;
}

export class KeyValueWrites {
  readonly #entries: EntryService;
  readonly #store: Pick<Store, 'entryHistory'>;
  readonly #source: EntrySource;
  readonly #limits: Limits;
  readonly #codec: EntryCodec;

  constructor(deps: {
    entries: EntryService;
    store: Pick<Store, 'entryHistory'>;
    source: EntrySource;
    limits: Limits;
    codec: EntryCodec;
  }) {
    this.#entries = deps.entries;
    this.#store = deps.store;
    this.#source = deps.source;
    this.#limits = deps.limits;
    this.#codec = deps.codec;
  }

  async putKeyValue(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    body: unknown,
    conditions: Conditions,
  ): Promise<Written> {
    checkAddress(caller, 'write', key, label, this.#limits);
    const input = parseKeyValueBody(body, this.#limits);
    const current = await this.#source.live(caller.namespace, key, label);
    const change: ChangeInput = {
      op: 'set',
      key,
      label,
      value: undefined,
      text: input.value,
      contentType: input.contentType,
      tags: input.tags,
      // A secret entry stays secret when the Azure API (which has no such notion) writes it.
      ...(current?.secret ? { secret: true } : {}),
      ...guard(current, conditions),
    };
    return this.#commitOne(caller, change);
  }

  /** The deleted key-value, or undefined when there was none (the service answers 204). */
  async deleteKeyValue(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    conditions: Conditions,
  ): Promise<Written | undefined> {
    checkAddress(caller, 'write', key, label, this.#limits);
    const current = await this.#source.live(caller.namespace, key, label);
    if (!current && conditions.ifMatch === undefined) return undefined;
    try {
      return await this.#commitOne(caller, { op: 'delete', key, label, ...guard(current, conditions) });
    } catch (error) {
      if (error instanceof HeraldError && error.code === 'entry_not_found' && conditions.ifMatch === undefined)
        return undefined;
      throw error;
    }
  }

  async setLock(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    locked: boolean,
    conditions: Conditions,
  ): Promise<Written> {
    checkAddress(caller, 'write', key, label, this.#limits);
    const current =
      conditions.ifMatch === undefined && conditions.ifNoneMatch === undefined
        ? undefined
        : await this.#source.live(caller.namespace, key, label);
    if (!current && (conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined)) {
      throw new HeraldError(
        'entry_not_found',
        `key-value "${printable(key)}"${label ? ` (label "${printable(label)}")` : ''} does not exist`,
      );
    }
    return this.#commitOne(caller, { op: locked ? 'lock' : 'unlock', key, label, ...guard(current, conditions) });
  }

  async #commitOne(caller: AccessKeyCaller, change: ChangeInput): Promise<Written> {
    const outcome = await this.#entries.commit(caller.principal, caller.namespace, { changes: [change] });
    // The version this commit wrote, as stored: its text is the verbatim value (and a tombstone keeps the deleted one).
    const [version] = await this.#store.entryHistory({
      namespace: caller.namespace,
      key: change.key,
      label: change.label ?? '',
      beforeRevision: outcome.revision + 1,
      limit: 1,
    });
    if (!version || version.revision !== outcome.revision)
      throw new HeraldError('internal', 'the version just written could not be read back');
    return { kv: keyValueFor(caller, version, this.#codec), revision: outcome.revision };
  }
}

/** Turns If-Match / If-None-Match into commit preconditions, failing at once when the entry read now does not satisfy them. */
function guard(current: EntryVersion | undefined, conditions: Conditions): Pick<ChangeInput, 'ifEtag' | 'ifAbsent'> {
  const etag = current ? entryEtag(current, current.revision) : undefined;
  const failed = (expected: string) =>
    new HeraldError('precondition_failed', `precondition failed, nothing changed: expected ${expected}`, {
      extensions: {
        conflicts: current
          ? [{ key: current.key, label: current.label, expected, actualRevision: current.revision }]
          : [],
      },
    });
  if (conditions.ifMatch !== undefined) {
    if (!etag) throw failed(conditions.ifMatch === '*' ? 'an existing key-value' : `etag "${conditions.ifMatch}"`);
    if (conditions.ifMatch !== '*' && conditions.ifMatch !== etag) throw failed(`etag "${conditions.ifMatch}"`);
    return { ifEtag: etag };
  }
  if (conditions.ifNoneMatch !== undefined) {
    if (conditions.ifNoneMatch === '*' || conditions.ifNoneMatch === etag) {
      if (etag) throw failed(conditions.ifNoneMatch === '*' ? 'no key-value' : `an etag other than "${etag}"`);
    }
    return etag ? { ifEtag: etag } : { ifAbsent: true };
  }
  return {};
}
