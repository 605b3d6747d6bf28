import { HeraldError } from './errors.js';

/**
 * Cursors are opaque to clients: base64url of a small JSON array holding the sort key of the last
 * item returned. Decoding checks the shape, so a forged cursor is a 400, not a query error.
 */
export function encodeCursor(position: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, shape: ReadonlyArray<'string' | 'number'>): Array<string | number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new HeraldError('invalid_cursor', 'the cursor is not one this server issued');
  }
  // JSON.parse reads 1e999 as Infinity, which no database can bind: only safe integers pass (every
  // number a cursor holds is a revision, a sequence number or a time in milliseconds).
  const fits = (part: unknown, i: number): boolean =>
    typeof part === shape[i] && (typeof part !== 'number' || Number.isSafeInteger(part));
  if (!Array.isArray(parsed) || parsed.length !== shape.length || !parsed.every(fits)) {
    throw new HeraldError('invalid_cursor', 'the cursor is not one this server issued');
  }
  return parsed as Array<string | number>;
}

export interface Page<T> {
  items: T[];
  /** Cursor for the next page; absent on the last page. */
  next?: string;
}
