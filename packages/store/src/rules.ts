import { HeraldError, type CommitRequest } from '@herald/core';
import type { NamespaceRecord, SnapshotRecord, TokenRecord } from './types.js';

/**
 * The rules of the storage contract that both adapters enforce, each decided and worded once so
 * that SQLite and PostgreSQL refuse the same things with the same code and message. Pure: the
 * adapters read what a rule needs inside their transaction and pass it in.
 */

export function storeClosed(): HeraldError {
  return new HeraldError('shutting_down', 'the store is closed');
}

export function namespaceExists(name: string): HeraldError {
  return new HeraldError('namespace_exists', `namespace "${name}" already exists`);
}

export function namespaceNotFound(name: string): HeraldError {
  return new HeraldError('namespace_not_found', `namespace "${name}" does not exist`);
}

/** A namespace with live entries is deleted only when forced. */
export function checkNamespaceDeletable(namespace: NamespaceRecord, force: boolean): void {
  if (namespace.entryCount > 0 && !force) {
    throw new HeraldError(
      'namespace_not_empty',
      `namespace "${namespace.name}" has ${namespace.entryCount} entries; delete them first or force`,
    );
  }
}

/**
 * The whole-namespace precondition of a commit (`ifNamespaceRevision`): the error to throw when a
 * commit after that revision touched the namespace, else undefined. `changedUnseen` says that a
 * commit not yet reflected in `revision` touched it (an earlier commit of the same group-commit
 * round, whose revision is not allocated yet); `namespaceRevision` then names `revision` until the
 * caller sets it.
 */
export function namespaceRevisionConflict(
  request: CommitRequest,
  revision: number,
  changedUnseen = false,
): HeraldError | undefined {
  const expected = request.ifNamespaceRevision;
  if (expected === undefined || (!changedUnseen && revision <= expected)) return undefined;
  return new HeraldError('precondition_failed', `namespace "${request.namespace}" changed after revision ${expected}`, {
    extensions: { conflicts: [], namespaceRevision: revision },
  });
}

/**
 * The entry-count limit of a namespace: returns the count after a commit that changes the number
 * of live entries by `liveDelta`, or throws `namespace_full`. A commit that does not add entries
 * is never refused, so a namespace over a lowered limit can still shrink.
 */
export function checkEntryLimit(namespace: string, entryCount: number, liveDelta: number, limit: number): number {
  const after = entryCount + liveDelta;
  if (liveDelta > 0 && after > limit) {
    throw new HeraldError(
      'namespace_full',
      `namespace "${namespace}" would hold ${after} entries; the limit is ${limit}`,
    );
  }
  return after;
}

export function checkRevisionNumber(revision: number): void {
  if (!Number.isInteger(revision) || revision < 0)
    throw new HeraldError('invalid_revision', `revision ${revision} is not a revision`);
}

/** A read as of `asOf` needs a revision that exists and whose history is not compacted. */
export function checkAsOf(asOf: number, current: number, compacted: number): void {
  checkRevisionNumber(asOf);
  if (asOf < compacted) {
    throw new HeraldError('revision_compacted', `history before revision ${compacted} was compacted`, {
      extensions: { compactedRevision: compacted },
    });
  }
  if (asOf > current)
    throw new HeraldError('revision_not_found', `revision ${asOf} is newer than the current revision ${current}`);
}

/**
 * Compaction goes up to a revision that exists, and never past the revision of any namespace's
 * newest release (`pinned`: the lowest of them), whose content must stay deliverable.
 */
export function checkCompaction(
  revision: number,
  current: number,
  pinned: { namespace: string; revision: number } | undefined,
): void {
  if (!Number.isInteger(revision) || revision < 1 || revision > current) {
    throw new HeraldError(
      'invalid_revision',
      `compaction revision must be between 1 and the current revision ${current}`,
    );
  }
  if (pinned && revision > pinned.revision) {
    throw new HeraldError(
      'invalid_revision',
      `cannot compact past revision ${pinned.revision}: the newest release of "${pinned.namespace}" is at that revision`,
    );
  }
}

/** A rollout is saved only over the version its writer read, and only one per namespace is active. */
export function checkRolloutVersion(id: string, version: number, expectedVersion: number): void {
  if (version !== expectedVersion) {
    throw new HeraldError('precondition_failed', `rollout ${id} is at version ${version}, not ${expectedVersion}`);
  }
}

/** A change-control record is saved only over the version its writer read. */
export function checkControlVersion(id: string, version: number, expectedVersion: number): void {
  if (version !== expectedVersion) {
    throw new HeraldError('precondition_failed', `${id} is at version ${version}, not ${expectedVersion}`);
  }
}

export function rolloutActive(activeId: string, namespace: string): HeraldError {
  return new HeraldError('rollout_active', `rollout ${activeId} of "${namespace}" is still active`, {
    extensions: { rolloutId: activeId },
  });
}

export function tokenNotFound(id: string): HeraldError {
  return new HeraldError('token_not_found', `token ${id} does not exist`);
}

/** Only a live token is rotated: a revoked or expired one has nothing left to hand over. */
export function assertRotatable(token: TokenRecord, now: number): void {
  if (token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= now)) {
    throw new HeraldError('token_not_rotatable', `token ${token.id} is revoked or expired; create a new one instead`);
  }
}

export function snapshotExists(namespace: string, name: string): HeraldError {
  return new HeraldError('snapshot_exists', `snapshot "${name}" already exists in "${namespace}"`);
}

export function snapshotNotFound(namespace: string, name: string): HeraldError {
  return new HeraldError('snapshot_not_found', `snapshot "${name}" does not exist in "${namespace}"`);
}

export function checkSnapshotEtag(name: string, etag: string, ifEtag: string | undefined): void {
  if (ifEtag !== undefined && etag !== ifEtag) {
    throw new HeraldError('precondition_failed', `snapshot "${name}" has etag "${etag}", not "${ifEtag}"`, {
      extensions: { conflicts: [] },
    });
  }
}

/** An archived snapshot past its expiry is gone: its name may be used again. */
export function snapshotExpired(snapshot: Pick<SnapshotRecord, 'status' | 'expiresAt'>, now: number): boolean {
  return snapshot.status === 'archived' && snapshot.expiresAt !== null && snapshot.expiresAt <= now;
}
