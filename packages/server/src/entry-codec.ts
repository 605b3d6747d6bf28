import {
  checkJsonDepth,
  entryEtag,
  HeraldError,
  isJsonContentType,
  jsonContentType,
  printable,
  type EntryVersion,
  type Limits,
  type SecretCipher,
} from '@herald/core';

/** An entry as the admin API shows it. */
export interface EntryView {
  namespace: string;
  key: string;
  label: string;
  /** Parsed JSON for JSON content types, a string otherwise; null when redacted. */
  value: unknown;
  contentType: string;
  tags: Record<string, string>;
  locked: boolean;
  secret: boolean;
  /** True when the value is a secret the caller may not read. */
  redacted: boolean;
  revision: number;
  etag: string;
  author: string;
  updatedAt: string;
}

/** Where an entry lives; a secret's ciphertext is bound to it, so it cannot be moved to another address. */
export interface EntryAddress {
  namespace: string;
  key: string;
  label: string;
}

function secretAssociatedData(address: EntryAddress): string {
  return `${address.namespace}\u0000${address.key}\u0000${address.label}`;
}

/** Turns stored text into the value the API returns, decrypting secrets only for callers allowed to read them. */
export class EntryCodec {
  readonly #cipher: SecretCipher;
  readonly #limits: Limits;

  constructor(cipher: SecretCipher, limits: Limits) {
    this.#cipher = cipher;
    this.#limits = limits;
  }

  /** Plain text of a version (decrypted when secret). Callers decide whether it may be shown. */
  plaintext(version: EntryVersion): string {
    return this.unseal(version, version.text, version.secret);
  }

  /** The text to store for an entry at this address: encrypted, bound to the address, when secret. */
  seal(address: EntryAddress, text: string, secret: boolean): string {
    return secret ? this.#cipher.encrypt(text, secretAssociatedData(address)) : text;
  }

  /** The plain text of text stored for an entry at this address. */
  unseal(address: EntryAddress, text: string, secret: boolean): string {
    return secret ? this.#cipher.decrypt(text, secretAssociatedData(address)) : text;
  }

  decodedValue(version: EntryVersion): unknown {
    const text = this.plaintext(version);
    return isJsonContentType(version.contentType) ? (JSON.parse(text) as unknown) : text;
  }

  view(version: EntryVersion, canReadSecrets: boolean): EntryView {
    const redacted = version.secret && !canReadSecrets;
    return {
      namespace: version.namespace,
      key: version.key,
      label: version.label,
      value: redacted ? null : this.decodedValue(version),
      contentType: version.contentType,
      tags: version.tags,
      locked: version.locked,
      secret: version.secret,
      redacted,
      revision: version.revision,
      etag: entryEtag(version, version.revision),
      author: version.author,
      updatedAt: new Date(version.createdAt).toISOString(),
    };
  }

  /**
   * Encodes a value given through the admin API: JSON content types take any JSON value, others a
   * string. Returns the text to store (before encryption) and checks size and depth limits.
   */
  encodeValue(key: string, value: unknown, contentType: string | undefined): { text: string; contentType: string } {
    const type = contentType ?? jsonContentType;
    let text: string;
    if (isJsonContentType(type)) {
      checkJsonDepth(value, this.#limits);
      // JSON.parse reads 1e400 as Infinity, which JSON.stringify would silently store as null.
      if (hasNonFiniteNumber(value)) {
        throw new HeraldError(
          'invalid_value',
          `the value of "${printable(key)}" has a number too large to store (beyond ±1.8e308)`,
        );
      }
      text = JSON.stringify(value);
    } else if (typeof value === 'string') {
      text = value;
    } else {
      throw new HeraldError(
        'invalid_value',
        `the value of "${printable(key)}" must be a string for content type ${type}`,
      );
    }
    this.checkTextSize(key, text);
    return { text, contentType: type };
  }

  /** Checks stored text as given verbatim (the Azure API sends text): size, and JSON well-formedness for JSON types. */
  checkText(key: string, text: string, contentType: string): unknown {
    this.checkTextSize(key, text);
    if (!isJsonContentType(contentType)) return text;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HeraldError(
        'invalid_value',
        `the value of "${printable(key)}" is not valid JSON, as content type ${contentType} requires`,
      );
    }
    checkJsonDepth(parsed, this.#limits);
    return parsed;
  }

  checkTextSize(key: string, text: string): void {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > this.#limits.maxValueBytes) {
      throw new HeraldError(
        'value_too_large',
        `the value of "${printable(key)}" is ${bytes} bytes; the limit is ${this.#limits.maxValueBytes}`,
      );
    }
  }
}

/** True when a parsed JSON value holds Infinity or -Infinity anywhere. Iterative, like jsonDepth. */
function hasNonFiniteNumber(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current === 'number' && !Number.isFinite(current)) return true;
    if (current === null || typeof current !== 'object') continue;
    const children: unknown[] = Array.isArray(current) ? current : Object.values(current as Record<string, unknown>);
    for (const child of children) pending.push(child);
  }
  return false;
}
