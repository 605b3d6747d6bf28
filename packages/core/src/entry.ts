import { sha256 } from './sha256.js';

export const jsonContentType = 'application/json';
export const textContentType = 'text/plain';

/**
 * True for `application/json` and any `application/*+json` type (feature flags and Key Vault
 * references use those), with or without parameters: their text must parse as JSON.
 */
export function isJsonContentType(contentType: string): boolean {
  const mediaType = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return mediaType === jsonContentType || (mediaType.startsWith('application/') && mediaType.endsWith('+json'));
}

/** Where an entry lives: the identity that preconditions, history and ETags are about. */
export interface EntryAddress {
  namespace: string;
  key: string;
  /** The empty string is the "no label" label. */
  label: string;
}

/**
 * One version of an entry as the store keeps it. Every write appends a version; `deleted`
 * versions are tombstones, so history and as-of reads see deletions too.
 */
export interface EntryVersion extends EntryAddress {
  revision: number;
  /** The value as text: JSON text for JSON content types, ciphertext (base64) when secret. */
  text: string;
  contentType: string;
  tags: Record<string, string>;
  locked: boolean;
  secret: boolean;
  deleted: boolean;
  author: string;
  /** Milliseconds since the epoch, from the server's clock at commit time. */
  createdAt: number;
}

/**
 * A strong ETag for one version of one entry. It is derived from the address and revision, so it
 * is the same on every node and never repeats for a different version.
 */
export function entryEtag(address: EntryAddress, revision: number): string {
  const text = `${address.namespace}\u0000${address.key}\u0000${address.label}\u0000${revision}`;
  return sha256(text, 'base64url').slice(0, 27);
}

export function addressId(address: Pick<EntryAddress, 'key' | 'label'>): string {
  return `${address.key}\u0000${address.label}`;
}

export function describeAddress(address: Pick<EntryAddress, 'key' | 'label'>): string {
  return address.label === '' ? `"${address.key}"` : `"${address.key}" (label "${address.label}")`;
}
