import { canonicalJson } from './canonical.js';

/** Which view: a namespace resolved for a label stack; `secrets` says whether secret entries are in it. */
export interface ViewSpec {
  namespace: string;
  /** Later labels override earlier ones; [''] (the default label) when empty. */
  labels: string[];
}

/** What a view holds: key → value (parsed JSON for JSON content types, a string otherwise). */
export type ViewValues = Record<string, unknown>;

/** A stable name for a view and audience, identical on every node, relay and client. */
export function viewKey(spec: ViewSpec, secrets: boolean): string {
  return canonicalJson([spec.namespace, normaliseLabels(spec.labels), secrets]);
}

export function normaliseLabels(labels: readonly string[]): string[] {
  return labels.length === 0 ? [''] : [...labels];
}

/**
 * Resolves a label stack: for each key, the value under the last label of the stack that has it.
 * `entries` may come in any order; the result has keys in sorted order.
 */
export function resolveView(
  labels: readonly string[],
  entries: ReadonlyArray<{ key: string; label: string; value: unknown }>,
): ViewValues {
  const stack = normaliseLabels(labels);
  const rank = new Map(stack.map((label, i) => [label, i]));
  const chosen = new Map<string, { rank: number; value: unknown }>();
  for (const entry of entries) {
    const r = rank.get(entry.label);
    if (r === undefined) continue;
    const current = chosen.get(entry.key);
    if (!current || r > current.rank) chosen.set(entry.key, { rank: r, value: entry.value });
  }
  const values = Object.create(null) as ViewValues;
  for (const key of [...chosen.keys()].sort()) values[key] = (chosen.get(key) as { value: unknown }).value;
  return values;
}

export interface ViewDelta {
  /** Keys whose value is new or changed, with the new value. */
  set: ViewValues;
  /** Keys that are gone. */
  remove: string[];
}

export function diffViews(from: ViewValues, to: ViewValues): ViewDelta {
  const set = Object.create(null) as ViewValues;
  const remove: string[] = [];
  for (const key of Object.keys(to)) {
    if (!Object.hasOwn(from, key) || canonicalJson(from[key]) !== canonicalJson(to[key])) set[key] = to[key];
  }
  for (const key of Object.keys(from)) if (!Object.hasOwn(to, key)) remove.push(key);
  return { set, remove: remove.sort() };
}

/** Applies a delta to a copy; the caller then checks the digest against the signed manifest. */
export function applyDelta(base: ViewValues, delta: ViewDelta): ViewValues {
  const next = Object.create(null) as ViewValues;
  const removed = new Set(delta.remove);
  for (const key of Object.keys(base)) if (!removed.has(key)) next[key] = base[key];
  for (const key of Object.keys(delta.set)) next[key] = delta.set[key];
  const sorted = Object.create(null) as ViewValues;
  for (const key of Object.keys(next).sort()) sorted[key] = next[key];
  return sorted;
}
