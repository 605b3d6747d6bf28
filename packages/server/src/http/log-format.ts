// How the server's log lines look. pino writes one JSON object per line; on a terminal that is
// noise, so `logFormat: 'pretty'` turns each into one short human line ("12:04:05 warn  GET
// /v1/x 404 3 ms namespace_not_found: …"), with an error's stack indented below it. JSON stays
// the default for files, pipes and log collectors.

export type LogFormat = 'json' | 'pretty';

export const logFormats: readonly LogFormat[] = ['json', 'pretty'];

export function isLogFormat(value: unknown): value is LogFormat {
  return value === 'json' || value === 'pretty';
}

/** Where pino writes: anything with write(string). */
export interface LogDestination {
  write(line: string): unknown;
}

const levelNames: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Fields a line shows in its own words; every other field is appended as key=value. */
const shownFields = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'msg',
  'reqId',
  'err',
  'method',
  'url',
  'status',
  'ms',
  'code',
  'detail',
]);

/** The record's own time (pino stamps every record); a record without one says so rather than guess. */
function clock(time: unknown): string {
  if (typeof time !== 'number') return '--:--:--';
  const date = new Date(time);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

function scalar(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** One pino record as one human line (plus an error's stack, indented, for errors). */
export function formatLogRecord(record: Record<string, unknown>): string {
  const level = levelNames[record.level as number] ?? String(record.level);
  const parts = [clock(record.time), level.padEnd(5)];
  if (typeof record.method === 'string' && typeof record.url === 'string') {
    parts.push(`${record.method} ${record.url} ${String(record.status)} ${String(record.ms)} ms`);
    if (typeof record.code === 'string')
      parts.push(typeof record.detail === 'string' ? `${record.code}: ${record.detail}` : record.code);
    if (record.msg === 'slow request') parts.push('(slow)');
  } else {
    parts.push(typeof record.msg === 'string' ? record.msg : scalar(record.msg ?? ''));
    if (typeof record.code === 'string') parts.push(`[${record.code}]`);
  }
  const err = record.err as { message?: unknown; stack?: unknown } | undefined;
  if (err && typeof err.message === 'string') parts.push(`: ${err.message}`);
  for (const [name, value] of Object.entries(record)) {
    if (!shownFields.has(name) && value !== undefined) parts.push(`${name}=${scalar(value)}`);
  }
  if (typeof record.reqId === 'string' && level !== 'debug' && level !== 'trace') parts.push(`(${record.reqId})`);
  let line = parts.join(' ').replace(/ : /u, ': ');
  if ((level === 'error' || level === 'fatal') && err && typeof err.stack === 'string') {
    const stack = err.stack.split('\n').slice(1, 8);
    if (stack.length > 0) line += `\n${stack.map((l) => `    ${l.trim()}`).join('\n')}`;
  }
  return line;
}

/**
 * fastify's own "Server listening at URL": whoever starts the server says where it listens, in
 * more detail (the CLI: node, store, web UI); on a terminal the line would only repeat it.
 */
const listeningLine = /^Server listening at /u;

/** A pino destination that writes human lines to `out`; a line that is not JSON passes through. */
export function prettyLogDestination(out: LogDestination): LogDestination {
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) {
        if (text.length === 0) continue;
        let record: unknown;
        try {
          record = JSON.parse(text);
        } catch {
          out.write(`${text}\n`);
          continue;
        }
        if (
          typeof record === 'object' &&
          record !== null &&
          listeningLine.test(String((record as { msg?: unknown }).msg))
        )
          continue;
        out.write(
          `${typeof record === 'object' && record !== null ? formatLogRecord(record as Record<string, unknown>) : text}\n`,
        );
      }
      return true;
    },
  };
}
