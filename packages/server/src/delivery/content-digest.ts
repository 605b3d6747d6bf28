import { sha256 } from '@herald/core';
import type { Store } from '@herald/store';

/**
 * A digest of a namespace's content at a revision: every live entry's address, type and value.
 * Two revisions with the same content have the same digest however they came about, so a
 * rolled-back candidate is recognised when its content comes back (a commit that redoes it, or
 * no commit at all). Secrets are compared by ciphertext: one set again is a different digest.
 */
export async function contentDigest(store: Store, namespace: string, revision: number): Promise<string> {
  const entries = await store.readEntries({ namespace, asOf: revision });
  const items = entries
    .filter((e) => !e.deleted)
    .map((e) => [e.key, e.label, e.contentType, e.secret, e.text] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));
  return sha256(JSON.stringify(items), 'hex');
}
