import { HeraldError } from '@herald/core';

/**
 * The request-target as the Azure SDKs send it, read by hand: fastify's parsing decodes `%2F`
 * before routing and folds `+` to a space, while a key must be read from the raw path (both
 * `/kv/a%2Fb` from SDK 1.13 and `/kv/a/b` from 1.12 mean key `a/b`) and the query as sent.
 */

export class RawQuery {
  readonly #values = new Map<string, string[]>();
  /** Parameters in order as sent, undecoded: for links that carry them on. */
  readonly raw: Array<{ name: string; text: string }> = [];

  constructor(query: string) {
    if (query === '') return;
    for (const text of query.split('&')) {
      if (text === '') continue;
      const at = text.indexOf('=');
      const rawName = at < 0 ? text : text.slice(0, at);
      // Names are case-insensitive: the SDK lowercases them, and sends $select as %24select.
      const name = decode(rawName, 'query parameter name').toLowerCase();
      const value = at < 0 ? '' : decode(text.slice(at + 1), name);
      const list = this.#values.get(name) ?? [];
      list.push(value);
      this.#values.set(name, list);
      this.raw.push({ name, text });
    }
  }

  /** The value of a parameter given once; a repeated one is refused. */
  get(name: string): string | undefined {
    const values = this.#values.get(name);
    if (values && values.length > 1)
      throw invalidArgument(name, `query parameter ${name} is given ${values.length} times`);
    return values?.[0];
  }

  getAll(name: string): string[] {
    return this.#values.get(name) ?? [];
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }
}

export interface RequestTarget {
  /** The path, undecoded. */
  path: string;
  query: RawQuery;
}

export function parseRequestTarget(url: string): RequestTarget {
  const at = url.indexOf('?');
  return at < 0
    ? { path: url, query: new RawQuery('') }
    : { path: url.slice(0, at), query: new RawQuery(url.slice(at + 1)) };
}

/** The decoded rest of the path after `prefix` (e.g. the key after `/kv/`). */
export function pathRest(path: string, prefix: string, what: string): string {
  if (!path.startsWith(prefix)) throw invalidArgument(what, `the path must start with ${prefix}`);
  return decode(path.slice(prefix.length), what);
}

export function invalidArgument(name: string, detail: string): HeraldError {
  return new HeraldError('invalid_request', detail, { extensions: { name } });
}

/** Percent-decoding only: "+" stays a "+" (the SDKs send it raw, meaning itself). */
function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalidArgument(what, `${what} is not valid percent-encoded UTF-8`);
  }
}
