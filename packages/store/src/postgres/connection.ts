import pg from 'pg';
import { HeraldError, sha256 } from '@herald/core';

/** Bounds every wait on PostgreSQL, so that no call can hang for ever on a dead server or network. */
export interface PostgresTimeouts {
  /** Giving up on opening a connection. */
  connectionTimeoutMs: number;
  /** Server-side bound on one statement; the client-side bound is a little longer. */
  statementTimeoutMs: number;
}

export const defaultTimeouts: Readonly<PostgresTimeouts> = Object.freeze({
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 30_000,
});

/** int8 as a JavaScript number: revisions, sequence numbers and times stay far below 2^53. */
function typeOverrides(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (text: string) => Number(text));
  return types;
}

export function clientConfig(
  connectionString: string,
  timeouts: PostgresTimeouts,
  applicationName: string,
): pg.ClientConfig {
  return {
    connectionString,
    application_name: applicationName,
    connectionTimeoutMillis: timeouts.connectionTimeoutMs,
    statement_timeout: timeouts.statementTimeoutMs,
    // The client-side bound catches what the server cannot: a network that silently dropped us.
    query_timeout: timeouts.statementTimeoutMs + 5_000,
    // A node that stalls inside a transaction must not hold its locks for ever.
    idle_in_transaction_session_timeout: Math.max(60_000, timeouts.statementTimeoutMs * 2),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    types: typeOverrides(),
  };
}

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

// SQLSTATEs that mean "the server or the connection is not usable now; retry later". Deadlock and
// serialization failures are included because a retry is the right answer to them too, and so is
// 25006 (read-only transaction): a connection that landed on a standby, as during a failover.
const retryableStates = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53400',
  '57014',
  '25P03',
  '40001',
  '40P01',
  '55P03',
  '25006',
]);

const connectionMessages = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'not queryable',
  'Connection terminated due to connection timeout',
  'the database system is',
  // 55000 at connect: the database is closed to connections (ALTER DATABASE … ALLOW_CONNECTIONS false).
  'is not currently accepting connections',
];

/** True when `error` means PostgreSQL or the way to it is (for now) gone, rather than a bad request. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (connectionErrorCodes.has(code) || retryableStates.has(code) || code.startsWith('08')) return true;
  }
  return connectionMessages.some((m) => error.message.includes(m));
}

/**
 * What a caller sees when PostgreSQL cannot be used: a retryable 503. Errors that are not about the
 * connection (bugs, constraint violations) pass through unchanged, as the SQLite adapter's do.
 */
export function toStoreError(error: unknown): unknown {
  if (error instanceof HeraldError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '22021' || code === '22P05') {
    // PostgreSQL text cannot hold U+0000 (entry values are bytea and can; names and messages cannot).
    return new HeraldError('invalid_request', 'the request contains a character the database cannot store (U+0000)', {
      cause: error,
    });
  }
  if (isConnectionError(error)) {
    return new HeraldError('unavailable', `PostgreSQL is unavailable: ${(error as Error).message}`, {
      cause: error,
      retryAfter: 1,
    });
  }
  return error;
}

/** A signed 64-bit advisory-lock key (as text, for a `$1::bigint` parameter) derived from a name. */
export function advisoryKey64(name: string): string {
  return sha256(name, 'buffer').readBigInt64BE(0).toString();
}

/** A signed 32-bit key, for the two-key advisory lock space. */
export function advisoryKey32(name: string): number {
  return sha256(name, 'buffer').readInt32BE(0);
}
