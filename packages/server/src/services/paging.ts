import { encodeCursor, type Page } from '@herald/core';

/**
 * The page out of `limit + 1` rows read from the store: the extra row only says that more follow,
 * and the cursor is the position of the last row shown.
 */
export function pageOf<T>(
  rows: readonly T[],
  limit: number,
  position: (last: T) => ReadonlyArray<string | number>,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, ...(rows.length > limit && last !== undefined ? { next: encodeCursor(position(last)) } : {}) };
}
