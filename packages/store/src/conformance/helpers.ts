/** What every area of the conformance suite shares: request builders, assertions and waits. */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import {
  isHeraldError,
  type AuditInput,
  type AuditRecord,
  type Change,
  type CommitRequest,
  type Conflict,
  type EntryVersion,
  type ErrorCode,
  type NamespaceSchema,
} from '@herald/core';
import type { CommitResult, Store, TokenRecord } from '../types.js';

/** Registers one test that runs `body` on a fresh store, closed and cleaned up whatever happens. */
export type ConformanceTest = (title: string, body: (store: Store) => Promise<void>) => void;

export const noLimit = { maxEntriesPerNamespace: 1_000_000 };

export function audit(action: string, target = 'test', details?: Record<string, unknown>): AuditInput {
  return details === undefined ? { actor: 'tester', action, target } : { actor: 'tester', action, target, details };
}

export function set(
  key: string,
  text: string,
  label = '',
  extra: Partial<Extract<Change, { op: 'set' }>> = {},
): Change {
  return { op: 'set', key, label, text, contentType: 'text/plain', tags: {}, secret: false, ...extra };
}

export function op(kind: 'delete' | 'lock' | 'unlock', key: string, label = '', extra: Partial<Change> = {}): Change {
  return { op: kind, key, label, ...extra } as Change;
}

export function request(namespace: string, changes: Change[], extra: Partial<CommitRequest> = {}): CommitRequest {
  return {
    namespace,
    changes,
    author: 'alice',
    message: `change ${changes.map((c) => `${c.op} ${c.key}`).join(', ')}`,
    ...extra,
  };
}

export async function commit(
  store: Store,
  namespace: string,
  changes: Change[],
  extra: Partial<CommitRequest> = {},
): Promise<CommitResult> {
  return store.commit(request(namespace, changes, extra), audit('entries.commit', `namespace:${namespace}`), noLimit);
}

export async function createNs(store: Store, name: string, schema: NamespaceSchema | null = null): Promise<void> {
  await store.createNamespace(
    { name, description: `the ${name} namespace`, schema },
    audit('namespace.create', `namespace:${name}`),
  );
}

/** Asserts that `promise` rejects with a HeraldError of `code`; returns the error for more checks. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<{ code: string; extensions: Record<string, unknown> }> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected a rejection with ${code}, but the call succeeded`);
  assert.ok(isHeraldError(caught), `expected a HeraldError with ${code}, got ${inspect(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  return caught;
}

export async function allAudit(store: Store): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (;;) {
    const page = await store.listAudit({ afterSeq: records.at(-1)?.seq ?? 0, limit: 100 });
    records.push(...page);
    if (page.length < 100) return records;
  }
}

/** Everything a failed mutation must leave as it was. */
export async function snapshot(store: Store, namespace: string): Promise<unknown> {
  return {
    revision: await store.currentRevision(),
    namespace: await store.getNamespace(namespace),
    entries: await store.readEntries({ namespace }),
    history: await store.entryHistory({ namespace, limit: 1000 }),
    commits: await store.listCommits({ namespace, order: 'oldest', limit: 1000 }),
    audit: await allAudit(store),
  };
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sortByAddress<T extends { key: string; label: string }>(items: T[]): T[] {
  return [...items].sort((x, y) => byteOrder(x.key, y.key) || byteOrder(x.label, y.label));
}

export function addresses(versions: readonly EntryVersion[]): string[] {
  return versions.map((v) => `${v.key}|${v.label}`);
}

export function conflictsOf(error: { extensions: Record<string, unknown> }): Conflict[] {
  const conflicts = error.extensions.conflicts;
  assert.ok(Array.isArray(conflicts), 'precondition_failed must list its conflicts in extensions.conflicts');
  return conflicts as Conflict[];
}

export function token(id: string, createdAt: number, extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id,
    name: `token ${id}`,
    scopes: [
      { namespaces: 'pay*', role: 'writer', secrets: true },
      { namespaces: '*', role: 'reader' },
    ],
    tokenHash: `hash-of-${id}`.padEnd(64, '0'),
    createdAt,
    createdBy: 'admin',
    expiresAt: null,
    revokedAt: null,
    ...extra,
  };
}

/** Resolves when `predicate` holds; fails (rather than hangs) after a generous bound. */
export async function eventually(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
