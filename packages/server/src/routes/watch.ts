import { Type } from '@sinclair/typebox';
import type { FastifyBaseLogger } from 'fastify';
import { HeraldError, type Clock } from '@herald/core';
import type { ServerConfig } from '../config.js';
import { describeRoute, type WatchBackend } from '../delivery/backend.js';
import { reporterOf } from '../delivery/reports.js';
import { EventStream, encodeEvent } from '../delivery/sse.js';
import type { WatchRequestView } from '../delivery/watch-hub.js';
import type { StreamAdopter } from '../delivery/workers/watch-workers.js';
import type { HeraldApp } from '../http/context.js';
import { ReportRate } from '../http/report-rate.js';
import { endDeadline } from '../http/request-deadline.js';
import { StreamCaps } from '../http/stream-caps.js';
import type { WatchAdmission } from '../http/watch-admission.js';
import type { DeliveryMetrics } from '../metrics.js';
import { NamespaceParams } from '../http/schemas.js';

export const Labels = Type.Array(Type.String(), { maxItems: 64 });
export const SignedView = Type.Object({
  manifest: Type.Object({
    namespace: Type.String(),
    labels: Type.Array(Type.String()),
    secrets: Type.Boolean(),
    seq: Type.Integer(),
    revision: Type.Integer(),
    digest: Type.String(),
    issuedAt: Type.Integer(),
    keyId: Type.String(),
  }),
  signature: Type.String(),
  values: Type.Record(Type.String(), Type.Unknown()),
});
export const PublicKey = Type.Object({
  keyId: Type.String(),
  publicKey: Type.String(),
  createdAt: Type.Integer(),
  endorsedBy: Type.Optional(Type.Object({ keyId: Type.String(), signature: Type.String() })),
});
const maxWatchViews = 64;
const maxLongPollSeconds = 60;
/** Flag evaluations counted since the last report (the OpenFeature provider's, a relay's OFREP's); docs/flags.md. */
const Evaluations = (maxItems: number) =>
  Type.Array(
    Type.Object(
      {
        namespace: Type.String({ minLength: 1, maxLength: 256 }),
        flag: Type.String({ minLength: 1, maxLength: 1024 }),
        variant: Type.String({ minLength: 1, maxLength: 256 }),
        count: Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 }),
      },
      { additionalProperties: false },
    ),
    { maxItems },
  );
const ReportBody = Type.Object(
  {
    instanceId: Type.String({ minLength: 1, maxLength: 256 }),
    attributes: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 }),
    ),
    views: Type.Optional(
      Type.Array(
        Type.Object(
          {
            namespace: Type.String(),
            labels: Type.Optional(Labels),
            seq: Type.Integer({ minimum: 0 }),
            digest: Type.String({ maxLength: 128 }),
            status: Type.Union([Type.Literal('applied'), Type.Literal('rejected')]),
            reason: Type.Optional(Type.String({ maxLength: 1000 })),
            receivedAt: Type.Optional(
              Type.Integer({
                minimum: 0,
                description: 'When the instance received this release (ms since the epoch, its clock)',
              }),
            ),
            appliedAt: Type.Optional(
              Type.Integer({
                minimum: 0,
                description: 'When the instance applied this release (ms since the epoch, its clock)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { maxItems: maxWatchViews },
      ),
    ),
    health: Type.Optional(
      Type.Object(
        {
          status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('failing')]),
          detail: Type.Optional(Type.String({ maxLength: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The instance's last report (it is closing): it leaves the fleet at once. */
    leaving: Type.Optional(Type.Boolean()),
    evaluations: Type.Optional(Evaluations(1000)),
    /** The relays the report came through, nearest the instance first (each relay appends its name). */
    hops: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 16 })),
  },
  { additionalProperties: false },
);

/** A report in a batch: a relay names the client it forwards for. */
const BatchReportBody = Type.Object(
  { ...ReportBody.properties, reporter: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) },
  { additionalProperties: false },
);

/** A relay's receipt of a release (for release traces): when its route announced it and when it held it verified. */
const RelayReceiptBody = Type.Object(
  {
    namespace: Type.String({ minLength: 1, maxLength: 256 }),
    seq: Type.Integer({ minimum: 1 }),
    relay: Type.String({ minLength: 1, maxLength: 128 }),
    path: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 16 })),
    receivedAt: Type.Integer({ minimum: 0 }),
    servedAt: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export interface WatchRouteContext {
  config: Pick<
    ServerConfig,
    | 'maxWatchStreams'
    | 'maxStreamsPerToken'
    | 'reportsPerSecondPerToken'
    | 'reportBurstPerToken'
    | 'maxStreamBufferBytes'
    | 'heartbeatMs'
    | 'retryAfterSeconds'
  > & {
    /** The node's request deadline (the control plane's); long polls get their longest wait on top. */
    requestDeadlineMs?: number | undefined;
  };
  backend: WatchBackend;
  /** Long polls' deadlines, and the report rate's refill. */
  clock: Clock;
  /** Open streams, and the streams and reports refused at their caps. */
  metrics: DeliveryMetrics;
  log: FastifyBaseLogger;
  /** The pace at which watch streams are admitted (the control plane's watchAdmissionsPerSecond); none when absent. */
  admission?: WatchAdmission | undefined;
  /** Watch workers that take the streams' sockets (the control plane's --watch-workers); in this process when absent. */
  workers?: StreamAdopter | undefined;
}

/**
 * The delivery protocol (docs/protocol.md): keys, the watch stream, plain-HTTP views, routes and
 * reports. Served the same way by the control plane and by relays.
 */
export function registerWatchRoutes(app: HeraldApp, ctx: WatchRouteContext): void {
  const { backend, metrics } = ctx;
  // Per credential, on the node that authenticates it: a relay's clients are capped at the relay.
  const streamCaps = new StreamCaps({
    maxPerToken: ctx.config.maxStreamsPerToken,
    retryAfterSeconds: ctx.config.retryAfterSeconds,
  });
  const { admission } = ctx;
  const reportRate = new ReportRate({
    perSecond: ctx.config.reportsPerSecondPerToken,
    burst: ctx.config.reportBurstPerToken,
    clock: ctx.clock,
  });
  // A long poll waits by design: its deadline is the node's plus its longest wait.
  const longPoll =
    ctx.config.requestDeadlineMs === undefined
      ? {}
      : { config: { deadlineMs: ctx.config.requestDeadlineMs + maxLongPollSeconds * 1000 } };
  const takeReport = (key: string): void => {
    try {
      reportRate.take(key);
    } catch (error) {
      metrics.reportsLimited.inc();
      throw error;
    }
  };

  app.get(
    '/v1/keys',
    {
      schema: {
        tags: ['delivery'],
        summary: 'The public keys that sign manifests, each endorsed by the one before',
        security: [],
        response: { 200: Type.Object({ keys: Type.Array(PublicKey) }) },
      },
    },
    async () => ({ keys: backend.publicKeys() }),
  );

  app.post(
    '/v1/watch',
    {
      schema: {
        tags: ['delivery'],
        summary:
          'The watch stream (Server-Sent Events): snapshots, deltas and heartbeats for the views named; see docs/protocol.md',
        body: Type.Object(
          {
            instanceId: Type.Optional(Type.String({ maxLength: 256 })),
            attributes: Type.Optional(
              Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 }),
            ),
            views: Type.Array(
              Type.Object(
                {
                  namespace: Type.String(),
                  labels: Type.Optional(Labels),
                  seq: Type.Optional(Type.Integer({ minimum: 1 })),
                  digest: Type.Optional(Type.String({ maxLength: 128 })),
                },
                { additionalProperties: false },
              ),
              { minItems: 1, maxItems: maxWatchViews },
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.String({ description: 'text/event-stream' }) },
      },
    },
    async (request, reply) => {
      const principal = await backend.authenticate(request);
      // Before any work of attaching: a storm is told when to come back, at the rate the node attaches.
      const retryAfter = admission?.admit();
      if (admission && retryAfter !== undefined) {
        metrics.streamsRefused.inc({ reason: 'admission' });
        throw new HeraldError(
          'watch_deferred',
          `this node admits ${admission.perSecond} watchers a second; come back after Retry-After`,
          { retryAfter },
        );
      }
      const views = await backend.resolveViews(principal, request.body.views);
      if (backend.hub.streamCount >= ctx.config.maxWatchStreams) {
        metrics.streamsRefused.inc({ reason: 'node' });
        throw new HeraldError(
          'unavailable',
          `this node serves ${backend.hub.streamCount} watch streams, its limit; retry, perhaps elsewhere`,
          {
            retryAfter: ctx.config.retryAfterSeconds,
          },
        );
      }
      let release: () => void;
      try {
        release = streamCaps.acquire(principal.tokenId);
      } catch (error) {
        metrics.streamsRefused.inc({ reason: 'token' });
        throw error;
      }
      reply.hijack();
      endDeadline(reply);
      const onCutOff = (): void => metrics.slowClientsCut.inc();
      const socket = request.raw.socket;
      // The response head, hello and first frame leave in one write, not three: in a reconnect
      // storm the writes, not the work, were the largest item of the node's profile.
      const corked = !ctx.workers;
      if (corked) socket.cork();
      // The socket is the stream's from here: the response object (and through its listeners
      // fastify's request, reply and logger) is not kept alive by it for the stream's lifetime.
      reply.raw.detachSocket(socket);
      const stream =
        ctx.workers?.adopt(socket, onCutOff) ?? new EventStream(socket, ctx.config.maxStreamBufferBytes, onCutOff);
      metrics.watchStreams.inc();
      stream.onClose(() => {
        release();
        metrics.watchStreams.dec();
      });
      try {
        stream.write(
          encodeEvent('hello', {
            revision: await backend.currentRevision(),
            heartbeatMs: ctx.config.heartbeatMs,
            keys: backend.publicKeys(),
          }),
        );
        const instance = {
          instanceId: request.body.instanceId ?? `anonymous-${request.id}`,
          attributes: request.body.attributes ?? {},
        };
        await backend.hub.attach(stream, instance, views);
      } catch (error) {
        // The response has started: the only way left to say "failed" is to cut the stream; the client retries.
        request.log.error({ err: error }, 'watch stream failed');
        stream.destroy();
      } finally {
        if (corked) socket.uncork();
      }
    },
  );

  app.get(
    '/v1/views/:ns',
    {
      ...longPoll,
      schema: {
        tags: ['delivery'],
        summary: 'One view, signed (ETag = digest; If-None-Match → 304; wait=N long-polls up to N seconds)',
        params: NamespaceParams,
        querystring: Type.Object(
          {
            label: Type.Optional(Labels),
            wait: Type.Optional(Type.Integer({ minimum: 0, maximum: maxLongPollSeconds })),
            seq: Type.Optional(
              Type.Integer({
                minimum: 1,
                description: 'This release rather than the current one (relays fetch candidates so)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: SignedView, 304: Type.Null() },
      },
    },
    async (request, reply) => {
      const principal = await backend.authenticate(request);
      const labels = request.query.label ?? [];
      const [wanted] = (await backend.resolveViews(principal, [{ namespace: request.params.ns, labels }])) as [
        WatchRequestView,
      ];
      if (request.query.seq !== undefined) {
        const view = await backend.views.atSeq(wanted.spec, wanted.secrets, request.query.seq);
        if (!view)
          throw new HeraldError(
            'revision_not_found',
            `namespace "${request.params.ns}" has no release ${request.query.seq} here`,
          );
        void reply.header('etag', `"${view.digest}"`);
        return { manifest: view.signed.manifest, signature: view.signed.signature, values: view.values };
      }
      const header = request.headers['if-none-match'];
      const held = typeof header === 'string' ? header.replace(/^W\//u, '').replace(/^"(.*)"$/u, '$1') : undefined;
      const deadline = ctx.clock.now() + (request.query.wait ?? 0) * 1000;
      for (;;) {
        const route = await backend.routing.route(request.params.ns);
        const view = route && (await backend.views.at(wanted.spec, wanted.secrets, route.stable));
        if (!view) throw new HeraldError('revision_not_found', `namespace "${request.params.ns}" has no release yet`);
        void reply.header('etag', `"${view.digest}"`);
        if (held !== view.digest)
          return { manifest: view.signed.manifest, signature: view.signed.signature, values: view.values };
        const remaining = deadline - ctx.clock.now();
        if (remaining <= 0) return reply.code(304).send(null);
        await backend.hub.nextRelease(request.params.ns, view.release.seq, remaining);
      }
    },
  );

  app.get(
    '/v1/route/:ns',
    {
      ...longPoll,
      schema: {
        tags: ['delivery'],
        summary:
          'Which releases the namespace routes to now (stable, candidate, rollout state); wait=N long-polls until version changes',
        params: NamespaceParams,
        querystring: Type.Object(
          {
            version: Type.Optional(Type.String({ maxLength: 256 })),
            wait: Type.Optional(Type.Integer({ minimum: 0, maximum: maxLongPollSeconds })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Record(Type.String(), Type.Unknown()), 304: Type.Null() },
      },
    },
    async (request, reply) => {
      const principal = await backend.authenticate(request);
      await backend.resolveViews(principal, [{ namespace: request.params.ns }]);
      const deadline = ctx.clock.now() + (request.query.wait ?? 0) * 1000;
      for (;;) {
        const route = await backend.routing.route(request.params.ns);
        if (!route) throw new HeraldError('revision_not_found', `namespace "${request.params.ns}" has no release yet`);
        if (route.version !== request.query.version) {
          return { ...describeRoute(route), revision: await backend.currentRevision() };
        }
        const remaining = deadline - ctx.clock.now();
        if (remaining <= 0) return reply.code(304).send(null);
        await backend.hub.nextRoute(request.params.ns, route.version, remaining);
      }
    },
  );

  app.post(
    '/v1/reports',
    {
      schema: {
        tags: ['delivery'],
        summary: 'What an instance applied or rejected, and its health; written in batches',
        body: ReportBody,
        response: { 202: Type.Object({ accepted: Type.Boolean() }) },
      },
    },
    async (request, reply) => {
      const principal = await backend.authenticate(request);
      takeReport(reporterOf(principal));
      const { evaluations, ...report } = request.body;
      backend.countEvaluations(principal, evaluations ?? []);
      await backend.report(principal, report);
      return reply.code(202).send({ accepted: true });
    },
  );

  app.post(
    '/v1/reports/batch',
    {
      schema: {
        tags: ['delivery'],
        summary: "Many instances' reports at once (relays forward their clients' reports so)",
        description:
          "A report may name its `reporter`: the id a relay gives the client it forwards for (its token id). The instance is then bound to this token's id and that (or, for a relay's credential, to the client's own). Reports of instances bound to another credential, past a namespace's instance limit, or past the report rate of whom they are bound to (report_rate_limited), are left out and listed in `refused`; the others are taken. `relays` are relays' receipts of releases (when each received and served one), for release traces; each needs `view` on its namespace.",
        body: Type.Object(
          {
            reports: Type.Array(BatchReportBody, { maxItems: 5000 }),
            /** A relay's tally of its clients' and its own OFREP's evaluations. */
            evaluations: Type.Optional(Evaluations(5000)),
            relays: Type.Optional(Type.Array(RelayReceiptBody, { maxItems: 5000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({
            accepted: Type.Integer(),
            refused: Type.Optional(
              Type.Array(Type.Object({ index: Type.Integer(), instanceId: Type.String(), code: Type.String() })),
            ),
          }),
        },
      },
    },
    async (request, reply) => {
      const principal = await backend.authenticate(request);
      const refused: Array<{ index: number; instanceId: string; code: string }> = [];
      backend.countEvaluations(principal, request.body.evaluations ?? []);
      for (const [index, { reporter, evaluations, ...report }] of request.body.reports.entries()) {
        backend.countEvaluations(principal, evaluations ?? []);
        try {
          // Each report counts against whom it is bound to: a relay's clients one by one, never the relay as a whole.
          takeReport(reporterOf(principal, reporter));
          await backend.report(principal, report, reporter);
        } catch (error) {
          // One instance's conflict must not hold back the others a relay forwards with it.
          const code = error instanceof HeraldError ? error.code : undefined;
          if (code !== 'instance_conflict' && code !== 'instance_limit' && code !== 'report_rate_limited') throw error;
          refused.push({ index, instanceId: report.instanceId, code });
        }
      }
      if (request.body.relays?.length) await backend.relayReceipts(principal, request.body.relays);
      return reply
        .code(202)
        .send({ accepted: request.body.reports.length - refused.length, ...(refused.length ? { refused } : {}) });
    },
  );

  app.get(
    '/v1/whoami',
    {
      schema: {
        tags: ['delivery'],
        summary: "The token's id and scopes (relays check their clients' tokens so)",
        response: {
          200: Type.Object({
            tokenId: Type.String(),
            name: Type.String(),
            scopes: Type.Array(
              Type.Object({ namespaces: Type.String(), role: Type.String(), secrets: Type.Optional(Type.Boolean()) }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const principal = await backend.authenticate(request);
      return { tokenId: principal.tokenId, name: principal.name, scopes: [...principal.scopes] };
    },
  );
}
