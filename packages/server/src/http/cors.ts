import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Cross-origin access for browsers, through @fastify/cors, for the routes a web page may call
 * directly (OFREP evaluation): only for origins named in the configuration, only on those paths.
 * Everything else answers as without CORS (no Access-Control-* headers, OPTIONS → 404), so a
 * page from an allowed origin cannot send preflighted requests to the admin API.
 */
export interface CorsPolicy {
  /** Origins exactly as browsers send them (`https://app.example.com`), or `*` for any. Empty: no CORS. */
  origins: readonly string[];
  /** The request paths CORS applies to (the URL's path, without the query). */
  applies(path: string): boolean;
  methods: readonly string[];
  /** Request headers a page may send besides the CORS-safelisted ones. */
  allowedHeaders: readonly string[];
  /** Response headers a page may read besides the CORS-safelisted ones. */
  exposedHeaders: readonly string[];
  /** Seconds a browser may cache a preflight answer. */
  maxAgeSeconds: number;
}

function pathOf(request: FastifyRequest): string {
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
}

/** Adds CORS to `scope` (a fastify plugin scope holding the routes); nothing when no origin is configured. */
export async function registerCors(scope: FastifyInstance, policy: CorsPolicy): Promise<void> {
  if (policy.origins.length === 0) return;
  const any = policy.origins.includes('*');
  const allowed = new Set(policy.origins);
  const fixed = {
    methods: [...policy.methods],
    allowedHeaders: [...policy.allowedHeaders],
    exposedHeaders: [...policy.exposedHeaders],
    maxAge: policy.maxAgeSeconds,
    // Bearer tokens travel in Authorization; no cookies, so no credentialed CORS.
    credentials: false,
  };
  await scope.register(cors, {
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      const granted = policy.applies(pathOf(request)) && origin !== undefined && (any || allowed.has(origin));
      // Reflecting the one origin (not `*`) keeps caches right with Vary: Origin, which the plugin adds.
      callback(null, { ...fixed, origin: granted ? origin : false });
    },
  });
}
