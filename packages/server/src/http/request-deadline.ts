import type { FastifyInstance, FastifyReply } from 'fastify';
import { HeraldError, type TimerClock } from '@herald/core';

/** What a route may set in its `config` to have a deadline of its own (a long poll: its longest wait on top). */
export interface RouteDeadline {
  deadlineMs?: number;
}

const quiet = { level: 'silent' } as const;

/** Each pending deadline's cancel, by reply: a stream that starts ends its deadline (endDeadline). */
const pending = new WeakMap<FastifyReply, () => void>();

/**
 * Ends the deadline of a request whose answer is a stream, once the stream has started: its timer
 * would find nothing to do, and until then it held the request, the reply and their logger (a few
 * KiB per watch stream, for ten seconds, across a reconnect storm of thousands).
 */
export function endDeadline(reply: FastifyReply): void {
  pending.get(reply)?.();
  pending.delete(reply);
}

/**
 * Answers every request within its deadline: when a request has had no answer `ms` after it
 * arrived in full (a store that stopped answering, a lock held too long), it gets 503 `deadline_exceeded`
 * with Retry-After through the error handler, like any refusal. The handler is not stopped (a
 * statement in flight ends at the store's own timeout); whatever it answers later is dropped
 * without a log line per request, the request's one line having said it already.
 *
 * Not fastify's `handlerTimeout`: on Node 20 it is cleared when a request's body has been read
 * (the request's 'close' event), so a write, the request that most needs it, had no deadline.
 * A watch stream ends its deadline when it starts (endDeadline).
 */
export function enforceRequestDeadline(app: FastifyInstance, deadline: { ms: number; clock: TimerClock }): void {
  const { clock } = deadline;
  // From the moment the request has arrived (its body parsed): arriving is bounded by the node's
  // request timeout (408), so a slow upload is not mistaken for a slow store.
  app.addHook('preValidation', async (request, reply) => {
    const ms = (request.routeOptions.config as RouteDeadline | undefined)?.deadlineMs ?? deadline.ms;
    const timer = clock.setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      // The late answer's "reply already sent" warning is not news: the request line said 503.
      reply.log = reply.log.child({}, quiet);
      void reply.send(
        new HeraldError(
          'deadline_exceeded',
          `the request was not answered within its deadline (${ms} ms): the store is slow or not answering; it was not acknowledged`,
        ),
      );
    }, ms);
    const cancel = (): void => clock.clearTimeout(timer);
    pending.set(reply, cancel);
    reply.raw.once('close', cancel);
  });
}
