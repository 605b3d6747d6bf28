import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorCatalogue, HeraldError } from '@herald/core';
import { noteRefusal } from '../http/request-log.js';
import { mediaTypes } from './model.js';

/** Azure problem types for Herald codes that have one; other codes keep Herald's own type. */
const azureErrorTypes: Partial<Record<string, string>> = {
  invalid_request: 'invalid-argument',
  invalid_json: 'invalid-argument',
  invalid_utf8: 'invalid-argument',
  json_too_deep: 'invalid-argument',
  invalid_key: 'invalid-argument',
  invalid_label: 'invalid-argument',
  invalid_tags: 'invalid-argument',
  invalid_value: 'invalid-argument',
  entry_locked: 'key-locked',
  snapshot_exists: 'already-exists',
  body_too_large: 'payload-too-large',
  value_too_large: 'payload-too-large',
};

/** Errors as problem+json in the service's shape (type, title, name, detail, status), with Herald's code and request id too. */
export function sendAzureError(
  error: FastifyError | HeraldError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const herald = toHeraldError(error);
  noteRefusal(request, herald, error);
  const { wwwAuthenticate, name, ...extensions } = herald.extensions;
  if (herald.status === 401) {
    const reason = typeof wwwAuthenticate === 'string' ? wwwAuthenticate : 'Invalid access token';
    void reply.header(
      'www-authenticate',
      `HMAC-SHA256 error="invalid_token" error_description="${reason.replace(/["\\]/gu, '')}", Bearer`,
    );
  }
  if (herald.retryAfter !== undefined || herald.status === 503)
    void reply.header('retry-after', String(herald.retryAfter ?? 1));
  const kind = azureErrorTypes[herald.code];
  const locked = herald.code === 'entry_locked';
  const title = locked
    ? `Modifying key '${typeof extensions.key === 'string' ? extensions.key : ''}' is not allowed`
    : kind === 'invalid-argument' && typeof name === 'string'
      ? `Invalid request parameter '${name}'`
      : errorCatalogue[herald.code].title;
  const problem = {
    ...extensions,
    type: kind ? `https://azconfig.io/errors/${kind}` : `urn:herald:error:${herald.code}`,
    title,
    ...(typeof name === 'string' ? { name } : locked ? { name: extensions.key } : {}),
    detail: locked ? 'The key is read-only. To allow modification unlock it first.' : herald.message,
    status: herald.status,
    code: herald.code,
    instance: request.id,
  };
  return reply.code(herald.status).type(mediaTypes.problem).send(JSON.stringify(problem));
}

function toHeraldError(error: FastifyError | HeraldError): HeraldError {
  if (error instanceof HeraldError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('body_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('invalid_request', error.message);
    default:
      break;
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500)
    return new HeraldError('invalid_request', error.message);
  return new HeraldError('internal', 'internal error; the request id is in the server log', { cause: error });
}
