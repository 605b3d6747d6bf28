import { addressId, type EntryVersion } from './entry.js';

export interface EntryDiff {
  key: string;
  label: string;
  kind: 'added' | 'removed' | 'changed';
  before?: EntryVersion;
  after?: EntryVersion;
}

/**
 * What changed between two states of a namespace (live versions only). A version that differs
 * only in revision is not a change: reverting or re-applying the same value shows no diff.
 */
export function diffStates(before: readonly EntryVersion[], after: readonly EntryVersion[]): EntryDiff[] {
  const beforeById = new Map(before.filter((v) => !v.deleted).map((v) => [addressId(v), v]));
  const afterById = new Map(after.filter((v) => !v.deleted).map((v) => [addressId(v), v]));
  const diffs: EntryDiff[] = [];
  for (const [id, old] of beforeById) {
    const next = afterById.get(id);
    if (!next) diffs.push({ key: old.key, label: old.label, kind: 'removed', before: old });
    else if (!sameContent(old, next))
      diffs.push({ key: old.key, label: old.label, kind: 'changed', before: old, after: next });
  }
  for (const [id, next] of afterById) {
    if (!beforeById.has(id)) diffs.push({ key: next.key, label: next.label, kind: 'added', after: next });
  }
  return diffs.sort(compareAddresses);
}

export function sameContent(a: EntryVersion, b: EntryVersion): boolean {
  return (
    a.text === b.text &&
    a.contentType === b.contentType &&
    a.secret === b.secret &&
    a.locked === b.locked &&
    sameTags(a.tags, b.tags)
  );
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => b[name] === a[name]);
}

export function compareAddresses(a: { key: string; label: string }, b: { key: string; label: string }): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  if (a.label !== b.label) return a.label < b.label ? -1 : 1;
  return 0;
}
