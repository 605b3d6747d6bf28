import { HeraldError } from '@herald/core';

/**
 * Azure App Configuration filters for keys, labels and names (`key=`, `label=`, `name=`):
 * `*` (anything), `abc` (exactly), `abc*` (starts with), `*abc` (ends with), `*abc*` (contains),
 * and up to five alternatives separated by `,`. A backslash escapes `*`, `,` and `\`. For labels,
 * `\0` (sent as `%00`) and the empty string mean "no label", which is Herald's empty label.
 */

export type NameMatcher =
  | { kind: 'any' }
  | { kind: 'exact'; value: string }
  | { kind: 'prefix'; value: string }
  | { kind: 'suffix'; value: string }
  | { kind: 'contains'; value: string };

/** Alternatives; a value matches when any alternative does. */
export type NameFilter = NameMatcher[];

export const maxFilterAlternatives = 5;
export const maxTagFilters = 5;

export function filterError(parameter: string, detail: string): HeraldError {
  return new HeraldError('invalid_request', `invalid ${parameter} filter: ${detail}`, {
    extensions: { name: parameter },
  });
}

/**
 * Parses a filter; undefined (no parameter) means anything. `nullLabel` makes `\0` and an empty
 * alternative mean the empty label.
 */
export function parseNameFilter(
  raw: string | undefined,
  parameter: string,
  options: { nullLabel?: boolean } = {},
): NameFilter | undefined {
  if (raw === undefined) return undefined;
  const alternatives: NameFilter = [];
  for (const part of splitUnescaped(raw, parameter)) {
    if (options.nullLabel && (part.text === '\u0000' || part.text === '')) {
      alternatives.push({ kind: 'exact', value: '' });
      continue;
    }
    alternatives.push(toMatcher(part, parameter));
  }
  if (alternatives.length > maxFilterAlternatives) {
    throw filterError(
      parameter,
      `at most ${maxFilterAlternatives} alternatives separated by ",", got ${alternatives.length}`,
    );
  }
  return alternatives.some((a) => a.kind === 'any') ? [{ kind: 'any' }] : alternatives;
}

export function matchesName(filter: NameFilter | undefined, value: string): boolean {
  if (!filter) return true;
  return filter.some((m) => {
    switch (m.kind) {
      case 'any':
        return true;
      case 'exact':
        return value === m.value;
      case 'prefix':
        return value.startsWith(m.value);
      case 'suffix':
        return value.endsWith(m.value);
      case 'contains':
        return value.includes(m.value);
    }
  });
}

/** Exact values when every alternative is exact (so a store query can select them); undefined otherwise. */
export function exactValues(filter: NameFilter | undefined): string[] | undefined {
  if (!filter || filter.some((m) => m.kind !== 'exact')) return undefined;
  return [...new Set(filter.map((m) => (m as { value: string }).value))];
}

export interface TagFilter {
  name: string;
  value: string;
}

/** `tags=name=value` (repeated: all must hold). An escaped `\=` belongs to the name; `\0` as value matches an empty value. */
export function parseTagFilters(raw: readonly string[]): TagFilter[] {
  if (raw.length > maxTagFilters) throw filterError('tags', `at most ${maxTagFilters} tag filters, got ${raw.length}`);
  return raw.map((filter) => {
    let name = '';
    let i = 0;
    for (; i < filter.length; i += 1) {
      const c = filter[i] as string;
      if (c === '\\' && i + 1 < filter.length) {
        name += filter[i + 1];
        i += 1;
      } else if (c === '=') {
        break;
      } else {
        name += c;
      }
    }
    if (i >= filter.length || name === '') throw filterError('tags', `"${filter}" must be name=value`);
    const value = filter.slice(i + 1).replace(/\\(.)/gsu, '$1');
    return { name, value: value === '\u0000' ? '' : value };
  });
}

export function matchesTags(filters: readonly TagFilter[], tags: Record<string, string>): boolean {
  return filters.every((f) => Object.hasOwn(tags, f.name) && tags[f.name] === f.value);
}

interface Part {
  text: string;
  /** Positions (in text) of unescaped `*`. */
  stars: number[];
}

function splitUnescaped(raw: string, parameter: string): Part[] {
  const parts: Part[] = [];
  let current: Part = { text: '', stars: [] };
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i] as string;
    if (c === '\\') {
      const next = raw[i + 1];
      if (next === undefined) throw filterError(parameter, 'a "\\" must be followed by the character it escapes');
      current.text += next;
      i += 1;
    } else if (c === ',') {
      parts.push(current);
      current = { text: '', stars: [] };
    } else if (c === '*') {
      current.stars.push(current.text.length);
      current.text += '*';
    } else {
      current.text += c;
    }
  }
  parts.push(current);
  return parts;
}

function toMatcher(part: Part, parameter: string): NameMatcher {
  const { text, stars } = part;
  if (stars.length === 0) return { kind: 'exact', value: text };
  if (text === '*' || text === '**') return { kind: 'any' };
  const leading = stars.includes(0);
  const trailing = stars.includes(text.length - 1);
  const inner = stars.filter((at) => at !== 0 && at !== text.length - 1);
  if (inner.length > 0 || stars.length > (leading ? 1 : 0) + (trailing ? 1 : 0)) {
    throw filterError(parameter, `"*" may only start or end an alternative (escape a literal one as "\\*"): "${text}"`);
  }
  const value = text.slice(leading ? 1 : 0, trailing ? -1 : undefined);
  if (leading && trailing) return { kind: 'contains', value };
  return leading ? { kind: 'suffix', value } : { kind: 'prefix', value };
}
