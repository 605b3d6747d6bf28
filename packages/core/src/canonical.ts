import canonicalizeModule from 'canonicalize';

// The package is CommonJS (`module.exports = fn`); its typings describe a namespace.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/** RFC 8785 canonical JSON: the one encoding that hashes and signatures are computed over. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON encoding');
  return text;
}
