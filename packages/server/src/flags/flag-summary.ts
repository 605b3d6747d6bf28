import { isDeepStrictEqual } from 'node:util';
import { isAzureFlag, isFlagContentType, isFlagDefinition } from '@herald/flags';

/** One flag of `GET /v1/namespaces/{ns}/flags` (docs/flags.md, "The flags summary"). */
export interface FlagSummaryItem {
  key: string;
  kind: 'flagd' | 'azure';
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, unknown>;
  /** Null only for an Azure flag without variants (it is on or off, nothing else). */
  defaultVariant: string | null;
  hasTargeting: boolean;
  /** The revision of the flag's entry. */
  revision: number;
  /** Set while a rollout of the namespace carries a change of this flag. */
  rollout: {
    seq: number;
    state: string;
    wave: string;
    /** The flag in the stable release; null when it is new in the candidate. */
    stable: { state: 'ENABLED' | 'DISABLED'; defaultVariant: string | null } | null;
  } | null;
  evaluations: { hour: Record<string, number>; day: Record<string, number> };
  lastEvaluatedAt: string | null;
  stale: boolean;
}

/** A flag's entry, decoded: what the summary is made from. */
export interface FlagEntry {
  key: string;
  contentType: string;
  value: unknown;
  revision: number;
  /** When its current version was written (ms since the epoch). */
  changedAt: number;
}

/** Evaluation counts of a namespace's flags, by flag then variant. */
export interface FlagUsage {
  hour: ReadonlyMap<string, Record<string, number>>;
  day: ReadonlyMap<string, Record<string, number>>;
  /** When each flag was last evaluated (ms since the epoch). */
  last: ReadonlyMap<string, number>;
}

export const noUsage: FlagUsage = { hour: new Map(), day: new Map(), last: new Map() };

/** Where the namespace's rollout stands, and its releases' flags, for the flags it changes. */
export interface FlagRolloutPosition {
  seq: number;
  state: string;
  wave: string;
  stable: ReadonlyMap<string, FlagEntry>;
  candidate: ReadonlyMap<string, FlagEntry>;
}

type Shape = Pick<FlagSummaryItem, 'kind' | 'state' | 'variants' | 'defaultVariant' | 'hasTargeting'>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The flag's shape; undefined for an entry that is not a flag (or a flag stored unreadable). */
export function shapeOf(entry: Pick<FlagEntry, 'key' | 'contentType' | 'value'>): Shape | undefined {
  const value = entry.value;
  if (isFlagContentType(entry.contentType) && isFlagDefinition(value)) {
    return {
      kind: 'flagd',
      state: value.state === 'ENABLED' ? 'ENABLED' : 'DISABLED',
      variants: { ...(value.variants as Record<string, unknown>) },
      defaultVariant: typeof value.defaultVariant === 'string' ? value.defaultVariant : null,
      hasTargeting: isObject(value.targeting) && Object.keys(value.targeting).length > 0,
    };
  }
  if (isAzureFlag(entry.key, entry.contentType) && isObject(value)) {
    const enabled = value.enabled === true;
    const variants: Record<string, unknown> = {};
    for (const variant of Array.isArray(value.variants) ? (value.variants as unknown[]) : []) {
      if (isObject(variant) && typeof variant.name === 'string')
        variants[variant.name] = variant.configuration_value ?? null;
    }
    const allocation = isObject(value.allocation) ? value.allocation : {};
    const fallback = enabled ? allocation.default_when_enabled : allocation.default_when_disabled;
    const filters = isObject(value.conditions) ? value.conditions.client_filters : undefined;
    const allocated = ['user', 'group', 'percentile'].some(
      (name) => Array.isArray(allocation[name]) && (allocation[name] as unknown[]).length > 0,
    );
    return {
      kind: 'azure',
      state: enabled ? 'ENABLED' : 'DISABLED',
      variants,
      defaultVariant: typeof fallback === 'string' ? fallback : null,
      hasTargeting: (Array.isArray(filters) && filters.length > 0) || allocated,
    };
  }
  return undefined;
}

/**
 * The summary of one label's flags, in key order. A flag is stale when it was not evaluated for
 * `staleAfterDays` days: last evaluated before then, or never and its current version older.
 */
export function summariseFlags(input: {
  entries: readonly FlagEntry[];
  usage: FlagUsage;
  rollout: FlagRolloutPosition | undefined;
  now: number;
  staleAfterDays: number;
}): FlagSummaryItem[] {
  const staleBefore = input.now - input.staleAfterDays * 86_400_000;
  const items: FlagSummaryItem[] = [];
  for (const entry of [...input.entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const shape = shapeOf(entry);
    if (!shape) continue;
    const last = input.usage.last.get(entry.key);
    items.push({
      key: entry.key,
      ...shape,
      revision: entry.revision,
      rollout: rolloutOf(entry.key, input.rollout),
      evaluations: { hour: input.usage.hour.get(entry.key) ?? {}, day: input.usage.day.get(entry.key) ?? {} },
      lastEvaluatedAt: last === undefined ? null : new Date(last).toISOString(),
      stale: last === undefined ? entry.changedAt < staleBefore : last < staleBefore,
    });
  }
  return items;
}

function rolloutOf(key: string, position: FlagRolloutPosition | undefined): FlagSummaryItem['rollout'] {
  if (!position) return null;
  const before = position.stable.get(key);
  const after = position.candidate.get(key);
  // Only a flag the candidate changes is in the rollout: the others serve the same everywhere.
  if (isDeepStrictEqual(before?.value, after?.value) && before?.contentType === after?.contentType) return null;
  const stableShape = before && shapeOf(before);
  return {
    seq: position.seq,
    state: position.state,
    wave: position.wave,
    stable: stableShape ? { state: stableShape.state, defaultVariant: stableShape.defaultVariant } : null,
  };
}
