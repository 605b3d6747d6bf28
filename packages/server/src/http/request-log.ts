// One log line per request, at a level that says whether anyone needs to read it: a successful
// request is `debug` (the web UI polls every second; at `info` that was thousands of lines an
// hour, and the admin token printed at start scrolled away), a refused one (4xx) `info`, a failed
// one (5xx) `error`, and a success slower than the threshold `warn`. Event streams are long by
// design and never "slow"; a 503 while shutting down is expected and stays at `debug`.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HeraldError } from '@herald/core';

/** What the error handler learnt about a refused request, for its one log line. */
const refusals = new WeakMap<FastifyRequest, { code: string; detail: string; err: unknown }>();

/**
 * Called by the error handlers: the request's log line then names the code and the detail, and
 * for a server error carries `cause` (the original error, with its stack).
 */
export function noteRefusal(request: FastifyRequest, error: HeraldError, cause: unknown = error): void {
  refusals.set(request, { code: error.code, detail: error.message, err: cause });
}

/** Logs `request` once it has been answered (an onResponse hook). */
export function logRequest(request: FastifyRequest, reply: FastifyReply, slowRequestMs: number): void {
  const status = reply.statusCode;
  const ms = Math.round(reply.elapsedTime * 10) / 10;
  const refusal = refusals.get(request);
  const fields = {
    method: request.method,
    url: request.url,
    status,
    ms,
    ...(refusal ? { code: refusal.code, detail: refusal.detail } : {}),
  };
  const streamed = String(reply.getHeader('content-type') ?? '').startsWith('text/event-stream');
  if (refusal?.code === 'shutting_down') request.log.debug(fields, 'request refused');
  else if (status >= 500) request.log.error({ ...fields, err: refusal?.err }, 'request failed');
  else if (status >= 400) request.log.info(fields, 'request refused');
  else if (!streamed && ms > slowRequestMs) request.log.warn(fields, 'slow request');
  else request.log.debug(fields, 'request completed');
}
