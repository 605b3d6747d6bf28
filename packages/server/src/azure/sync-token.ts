/**
 * Sync-Token: the revision a response reflects, under an id that differs between deployments (so a
 * client that talked to another one never waits for a revision this one will not reach). The SDK
 * echoes it back; the request then waits (briefly) until this node has that revision.
 */

/** The id of this deployment's tokens, from the fingerprint of its secret key (the same on every node). */
export function syncTokenId(keyFingerprint: string): string {
  return `herald-${keyFingerprint.slice(0, 8)}`;
}

export function syncToken(id: string, revision: number): string {
  return `${id}=${revision};sn=${revision}`;
}

/** The revision in a Sync-Token header the SDK echoes back (`id=value[,id=value]`), for this deployment's id. */
export function syncTokenRevision(value: string | string[] | undefined, id: string): number | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  if (!text) return undefined;
  for (const token of text.split(',')) {
    const [name, rest] = token.trim().split('=', 2);
    if (name !== id || rest === undefined) continue;
    const revision = Number(rest.split(';')[0]);
    if (Number.isSafeInteger(revision) && revision > 0) return revision;
  }
  return undefined;
}
