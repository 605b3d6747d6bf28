import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HeraldError, sha256 } from '@herald/core';

/**
 * HMAC-SHA256 request signing as Azure App Configuration does it (its REST docs, "HMAC
 * authentication"), which is what the official SDKs send for a connection string:
 *
 *     Authorization: HMAC-SHA256 Credential=<id>&SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>
 *     string-to-sign = METHOD \n path-and-query \n signed header values joined by ";"
 *     signature      = base64(HMAC-SHA256(base64decode(secret), string-to-sign))
 *
 * The path and query are the request-target exactly as received (never decoded or re-encoded),
 * and the body must hash to x-ms-content-sha256, so nothing of the request can change unseen.
 */

/** How far the request's date may be from the server's clock, either way (the service's rule). */
export const maxClockSkewMs = 15 * 60 * 1000;

const requiredSignedHeaders = ['host', 'x-ms-content-sha256'] as const;

export interface HmacAuthorization {
  credential: string;
  signedHeaders: string[];
  signature: string;
}

/** A 401 whose reason goes into `WWW-Authenticate` (ASCII, no quotes) as the service words it. */
export function hmacError(reason: string): HeraldError {
  return new HeraldError('unauthenticated', reason, { extensions: { wwwAuthenticate: reason } });
}

/** Parses `HMAC-SHA256 Credential=…&SignedHeaders=…&Signature=…` (", " as separator is accepted too). */
export function parseHmacAuthorization(header: string | undefined): HmacAuthorization {
  if (!header) throw hmacError('Missing Authorization header');
  const match = /^hmac-sha256\s+(.+)$/isu.exec(header.trim());
  if (!match?.[1]) throw hmacError('Unsupported authentication scheme; use HMAC-SHA256');
  const parts = new Map<string, string>();
  for (const part of match[1].split(/&|,\s*/u)) {
    const at = part.indexOf('=');
    if (at <= 0) throw hmacError('Invalid Authorization header');
    parts.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const credential = parts.get('credential');
  const signedHeaders = parts.get('signedheaders');
  const signature = parts.get('signature');
  if (!credential || !signedHeaders || !signature)
    throw hmacError('Invalid Authorization header: Credential, SignedHeaders and Signature are required');
  return { credential, signedHeaders: signedHeaders.split(';').map((h) => h.trim().toLowerCase()), signature };
}

export interface SignedRequest {
  method: string;
  /** The request-target as received: path and query, undecoded. */
  pathAndQuery: string;
  headers: IncomingHttpHeaders;
  /** The raw body bytes; empty or undefined when there is none. */
  body: Buffer | undefined;
}

/** Checks signed headers, date, content hash and signature, in that order; throws a 401 naming the first failure. */
export function verifyHmacRequest(request: SignedRequest, auth: HmacAuthorization, secret: Buffer, now: number): void {
  const signed = auth.signedHeaders;
  for (const name of requiredSignedHeaders) {
    if (!signed.includes(name)) throw hmacError(`Invalid Signed Headers: ${name} must be signed`);
  }
  const dateHeader = signed.includes('x-ms-date') ? 'x-ms-date' : signed.includes('date') ? 'date' : undefined;
  if (!dateHeader) throw hmacError('Invalid Signed Headers: x-ms-date (or date) must be signed');
  const values: string[] = [];
  for (const name of signed) {
    const value = headerValue(request.headers, name);
    if (value === undefined) throw hmacError(`Invalid Signed Headers: header ${name} is missing`);
    values.push(value);
  }
  const date = Date.parse(headerValue(request.headers, dateHeader) ?? '');
  if (Number.isNaN(date)) throw hmacError('Invalid access token date');
  if (Math.abs(now - date) > maxClockSkewMs)
    throw hmacError('The access token has expired: its date is more than 15 minutes from the server time');
  const contentHash = sha256(request.body ?? Buffer.alloc(0), 'base64');
  if (headerValue(request.headers, 'x-ms-content-sha256') !== contentHash)
    throw hmacError('Invalid content hash: x-ms-content-sha256 does not match the body');
  const expected = signature(secret, `${request.method.toUpperCase()}\n${request.pathAndQuery}\n${values.join(';')}`);
  const given = Buffer.from(auth.signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw hmacError('Invalid Signature');
}

export function signature(secret: Buffer, stringToSign: string): Buffer {
  return createHmac('sha256', secret).update(stringToSign, 'utf8').digest();
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
