import { canonicalJson, sha256 } from '@herald/core';
import type { EvaluationContext } from '@openfeature/core';
import type { Evaluation, FlagSet } from './flag-set.js';

/**
 * The OpenFeature Remote Evaluation Protocol's answers (open-feature/protocol, service/openapi.yaml),
 * shaped from a FlagSet: the control plane and a relay answer with the same bytes.
 */

export interface OfrepAnswer {
  status: 200 | 304 | 400 | 404;
  body: Record<string, unknown> | undefined;
  etag?: string;
}

/** The request's `context`: absent means `{}`; anything but an object (or a non-string targetingKey) is INVALID_CONTEXT. */
export function ofrepContext(body: unknown): EvaluationContext | { invalid: string } {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) return { invalid: 'the request body must be a JSON object' };
  const context = (body as { context?: unknown }).context;
  if (context === undefined || context === null) return {};
  if (typeof context !== 'object' || Array.isArray(context)) return { invalid: 'context must be a JSON object' };
  const targetingKey = (context as { targetingKey?: unknown }).targetingKey;
  if (targetingKey !== undefined && typeof targetingKey !== 'string')
    return { invalid: 'context.targetingKey must be a string' };
  return context as EvaluationContext;
}

function success(e: Extract<Evaluation, { ok: true }>): Record<string, unknown> {
  return { key: e.key, value: e.value, reason: e.reason, variant: e.variant, metadata: e.metadata };
}

function failure(e: Extract<Evaluation, { ok: false }>): Record<string, unknown> {
  return { key: e.key, errorCode: e.errorCode, errorDetails: e.errorDetails };
}

/** `POST …/ofrep/v1/evaluate/flags/{key}`: 200 success, 404 FLAG_NOT_FOUND, 400 for the other errors. */
export function evaluateOne(flags: FlagSet, key: string, body: unknown): OfrepAnswer {
  const context = ofrepContext(body);
  if ('invalid' in context)
    return { status: 400, body: { key, errorCode: 'INVALID_CONTEXT', errorDetails: context.invalid } };
  const evaluation = flags.evaluate(key, context);
  if (evaluation.ok) return { status: 200, body: success(evaluation) };
  return { status: evaluation.errorCode === 'FLAG_NOT_FOUND' ? 404 : 400, body: failure(evaluation) };
}

/**
 * `POST …/ofrep/v1/evaluate/flags`: every enabled flag. The ETag is a digest of the answer, so an
 * If-None-Match that names it gets a 304 exactly when the same request would get the same flags.
 */
export function evaluateAll(flags: FlagSet, body: unknown, ifNoneMatch: string | undefined): OfrepAnswer {
  const context = ofrepContext(body);
  if ('invalid' in context)
    return { status: 400, body: { errorCode: 'INVALID_CONTEXT', errorDetails: context.invalid } };
  const answer = { flags: flags.evaluateAll(context).map((e) => (e.ok ? success(e) : failure(e))) };
  const etag = `"${sha256(canonicalJson(answer), 'base64url')}"`;
  if (ifNoneMatch !== undefined && matches(ifNoneMatch, etag)) return { status: 304, body: undefined, etag };
  return { status: 200, body: answer, etag };
}

/** If-None-Match: `*`, or a list of (weak or strong) tags; compared weakly, as RFC 9110 says for it. */
function matches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//u, '') === etag);
}
