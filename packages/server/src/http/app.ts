import { randomFillSync } from 'node:crypto';
import { ChangeRequestOpened } from '../change-control/change-requests.js';
import { createRequire } from 'node:module';
import type { AjvCompiler as AjvCompilerFactory, ValidatorFactory } from '@fastify/ajv-compiler';
import type { SerializerSelector as SerializerSelectorFactory } from '@fastify/fast-json-stringify-compiler';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { HeraldError, type Limits, type TimerClock } from '@herald/core';
import { parseJsonBody } from './body.js';
import {
  answerClientError,
  createLimitedServer,
  httpsOptions,
  type ConnectionLimits,
  type TlsSettings,
} from './connection-limits.js';

export type { TlsSettings } from './connection-limits.js';
import { boundRequestNumbers, refuseNonFinite } from './number-bounds.js';
import type { HeraldApp } from './context.js';
import type { EarlyListener } from './early-listener.js';
import { prettyLogDestination, type LogFormat } from './log-format.js';
import { problemContentType, toProblem } from './problem.js';
import { lazySerializerFactory, lazyValidatorFactory } from './lazy-schemas.js';
import { logRequest, noteRefusal } from './request-log.js';
import { enforceRequestDeadline } from './request-deadline.js';
import { ChangeRequest, Entry, Namespace, Problem } from './schemas.js';
import type { StaticUi } from './static-ui.js';

export interface AppOptions {
  limits: Limits;
  logLevel: string;
  /** JSON lines (for collectors), or short human lines (for a terminal). */
  logFormat?: LogFormat;
  /** A successful request slower than this (milliseconds) is logged as a warning. */
  slowRequestMs?: number;
  /** Where logs go; process stdout when absent. */
  logStream?: NodeJS.WritableStream;
  /** Answers 503 `shutting_down` to new requests once true. */
  isClosing: () => boolean;
  retryAfterSeconds: number;
  /** Certificate and key (PEM) to serve HTTPS instead of HTTP; with clientCa, client certificates are asked for. */
  tls?: TlsSettings | null;
  /** The web UI's build, served to GET/HEAD requests that no API route matches. */
  ui?: StaticUi | null;
  /** Timeouts and the connection cap; Node's defaults (no cap) when absent. */
  connections?: ConnectionLimits;
  /**
   * The socket bound before the server was built (early-listener.ts), taken over instead of making
   * a server; it was made with its own connection limits and TLS, so `connections` is not used.
   */
  listener?: EarlyListener | undefined;
  /** Called for each connection refused at the cap (a metric). */
  onConnectionRefused?: () => void;
  /**
   * Milliseconds from a request's arrival to its answer, at most, on `clock`; then 503
   * `deadline_exceeded` (request-deadline.ts). A route may set its own in `config.deadlineMs`.
   */
  deadline?: { ms: number; clock: TimerClock };
}

/**
 * A request id: 6 random bytes in hex, as before, but taken from a pool filled 4 KiB at a time:
 * one call into the system's random source per request was a measurable part of a small commit.
 */
const idPool = Buffer.alloc(4096);
let idOffset = idPool.length;
function requestId(): string {
  if (idOffset + 6 > idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  idOffset += 6;
  return `req-${idPool.toString('hex', idOffset - 6, idOffset)}`;
}

/** Maps fastify's own errors onto Herald codes, so every error a client sees has a stable code. */
function toHeraldError(error: FastifyError): HeraldError {
  if (error instanceof HeraldError) return error;
  if (error.validation) {
    const violations = error.validation.map((v) => ({
      path: v.instancePath || '/',
      message:
        v.keyword === 'additionalProperties' && typeof v.params.additionalProperty === 'string'
          ? `unknown field "${v.params.additionalProperty}"`
          : (v.message ?? v.keyword),
    }));
    return new HeraldError(
      'invalid_request',
      `${error.validationContext ?? 'request'}: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
      {
        extensions: { violations },
      },
    );
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('body_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HeraldError('invalid_json', 'the request body is empty; send a JSON document');
    case 'FST_ERR_BAD_URL':
      return new HeraldError('invalid_path', 'the path has a malformed percent-encoding');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new HeraldError('invalid_request', 'a path parameter is longer than allowed');
    default:
      break;
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new HeraldError('invalid_request', error.message);
  }
  return new HeraldError('internal', 'internal error; the request id is in the server log', { cause: error });
}

/**
 * fastify gives every part of a request one ajv, so `coerceTypes` (which query strings and path
 * parameters need: they arrive as strings) would also turn a JSON body's `{"name": 7}` into
 * `"7"`. Bodies get an ajv of their own that coerces nothing, so a wrong type is `invalid_request`.
 */
// The compilers (ajv and fast-json-stringify, some 300 CommonJS files) are required when the first
// route compiles its schema (lazy-schemas.ts), not when the server starts.
const require = createRequire(import.meta.url);

const strictBodyValidator: ValidatorFactory = (externalSchemas, options) => {
  const { AjvCompiler } = require('@fastify/ajv-compiler') as { AjvCompiler: typeof AjvCompilerFactory };
  const build = AjvCompiler();
  const lenient = build(externalSchemas, options);
  const strictOptions = { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } } as Parameters<
    typeof build
  >[1];
  const strict = build(externalSchemas, strictOptions);
  return (route) =>
    refuseNonFinite(route.schema, route.httpPart === 'body' ? strict(route) : lenient(route)) as ReturnType<
      typeof strict
    >;
};

export function buildApp(options: AppOptions): HeraldApp {
  const destination = options.logStream ?? process.stdout;
  const stream = options.logFormat === 'pretty' ? prettyLogDestination(destination) : options.logStream;
  const app = Fastify({
    // The https server type differs from http's only in TLS; the routes and hooks are the same.
    ...((options.tls ? { https: httpsOptions(options.tls) } : {}) as object),
    ...(options.listener
      ? {
          serverFactory: (handler: Parameters<typeof createLimitedServer>[0]) =>
            (options.listener as EarlyListener).adopt(handler, options.onConnectionRefused ?? (() => undefined)),
        }
      : options.connections === undefined
        ? {}
        : {
            serverFactory: (handler: Parameters<typeof createLimitedServer>[0]) =>
              createLimitedServer(handler, options.connections as ConnectionLimits, {
                tls: options.tls ? httpsOptions(options.tls) : null,
                retryAfterSeconds: options.retryAfterSeconds,
                onRefused: options.onConnectionRefused ?? (() => undefined),
              }),
          }),
    clientErrorHandler: answerClientError,
    // A malformed percent-encoding or an over-long parameter, found by the router before any route.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const herald = toHeraldError(error);
      void reply
        .code(herald.status)
        .type(problemContentType)
        .send(JSON.stringify(toProblem(herald, request.id)));
    },
    logger: {
      level: options.logLevel,
      ...(stream ? { stream } : {}),
      // Request bodies are never logged; headers only without credentials.
      redact: ['req.headers.authorization', 'req.headers["x-ms-content-sha256"]'],
    },
    bodyLimit: options.limits.maxBodyBytes,

    genReqId: requestId,
    // fastify's own request lines ("incoming request", "request completed") are replaced by one
    // line per request at a level that fits it (request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // The onRequest hook below answers a request that arrives while closing (problem+json,
    // Retry-After, no log line at the default level); fastify's own fast path would log "request
    // aborted" at info for each one, dozens at every shutdown.
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: options.limits.maxKeyLength * 3 + 16 },
    ajv: {
      // Unknown fields are errors, not silently dropped, and nothing is coerced except query strings.
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: true },
    },
    // Compiled on each route's first request, not at start (lazy-schemas.ts): a restart listens sooner.
    schemaController: {
      compilersFactory: {
        buildValidator: lazyValidatorFactory(strictBodyValidator) as ValidatorFactory,
        buildSerializer: lazySerializerFactory((externalSchemas, serializerOptions) =>
          (
            require('@fastify/fast-json-stringify-compiler') as { SerializerSelector: typeof SerializerSelectorFactory }
          ).SerializerSelector()(externalSchemas, serializerOptions as never),
        ),
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer, options.limits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  for (const schema of [Problem, Entry, Namespace, ChangeRequest]) app.addSchema(schema);

  // Every route can answer a problem+json error; say so in the OpenAPI document, or a client
  // generated from it knows of no error responses at all. (The error handlers send strings, so
  // these schemas are never used to serialise.)
  const problemResponse = (description: string) => ({
    description,
    content: { 'application/problem+json': { schema: { $ref: 'Problem' } } },
  });
  app.addHook('onRoute', (route) => {
    if (!route.schema) return;
    for (const part of [route.schema.querystring, route.schema.params, route.schema.headers, route.schema.body])
      boundRequestNumbers(part);
    route.schema.response = {
      '4xx': problemResponse('Client error; the code is in docs/errors.md'),
      '5xx': problemResponse('Server error; retry when Retry-After is given'),
      ...(route.schema.response as Record<string, unknown> | undefined),
    };
  });

  app.addHook('onRequest', async (_request, reply) => {
    if (options.isClosing()) {
      void reply.header('retry-after', String(options.retryAfterSeconds));
      throw new HeraldError('shutting_down', 'the server is shutting down; retry on another node or later');
    }
  });

  if (options.deadline) enforceRequestDeadline(app, options.deadline);

  const slowRequestMs = options.slowRequestMs ?? 1000;
  app.addHook('onResponse', async (request, reply) => logRequest(request, reply, slowRequestMs));

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply) => {
    // Not a failure: the namespace requires approval, and a change request now holds the change.
    if ((error as unknown) instanceof ChangeRequestOpened) {
      const opened = error as unknown as ChangeRequestOpened;
      return reply
        .code(202)
        .type('application/json; charset=utf-8')
        .send(JSON.stringify({ changeRequest: opened.changeRequest, message: opened.message }));
    }
    const herald = toHeraldError(error);
    // Logged once the answer is sent, in the request's one line (with the stack of a server error).
    noteRefusal(request, herald, error);
    // RFC 9110 §15.5.2: a 401 must say which authentication scheme the server wants.
    if (herald.status === 401) void reply.header('www-authenticate', 'Bearer realm="herald"');
    if (herald.retryAfter !== undefined) void reply.header('retry-after', String(herald.retryAfter));
    else if (herald.status === 503) void reply.header('retry-after', String(options.retryAfterSeconds));
    return reply
      .code(herald.status)
      .type(problemContentType)
      .send(JSON.stringify(toProblem(herald, request.id)));
  });

  app.setNotFoundHandler(async (request, reply) => {
    if (options.ui && (request.method === 'GET' || request.method === 'HEAD')) {
      const file = await options.ui.resolve(request.url.split('?')[0] ?? '/');
      if (file) return reply.code(file.status).headers(file.headers).send(file.body);
    }
    const herald = new HeraldError('route_not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`);
    noteRefusal(request, herald);
    return reply
      .code(herald.status)
      .type(problemContentType)
      .send(JSON.stringify(toProblem(herald, request.id)));
  });

  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Herald admin API',
        version: '1',
        description: 'Errors are application/problem+json with a stable code (docs/errors.md).',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          azureHmac: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: 'Azure App Configuration HMAC-SHA256 with an access key (docs/azure-compat.md)',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });

  return app;
}
