import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, sha256, type PublicKeyInfo, type TrustStore } from '@herald/core';
import { writeFileAtomic } from './atomic-file.js';
import { verifySnapshot, type RejectionCode, type VerifiedView, type ViewRef } from './verify.js';

/**
 * The verified on-disk cache: one file per view holding `{manifest, signature, values}` exactly as
 * verified, and one file of pinned and published keys. Files are written atomically (a temp file in
 * the same folder, fsync, rename, fsync of the folder), so a crash leaves the old file or the new
 * one, never a mix. Nothing read back is trusted: every view file is verified again (signature under
 * a trusted key, view, digest) before use, and a file that fails is ignored, never repaired.
 */

export const cacheFormat = 1;

/** A view file as stored. */
export interface CachedViewFile {
  format: typeof cacheFormat;
  view: { namespace: string; labels: string[] };
  manifest: VerifiedView['manifest'];
  signature: string;
  values: VerifiedView['values'];
}

/** The keys file: `pinned` are trust roots taken on first use ('tofu' only); `published` are keys the server published, trusted only through endorsement. */
export interface CachedKeysFile {
  format: typeof cacheFormat;
  pinned: PublicKeyInfo[];
  published: PublicKeyInfo[];
}

export type CacheRead<T> =
  | { status: 'missing' }
  | { status: 'ok'; value: T }
  /** Unreadable, unparsable or failing verification: ignored; `reason` says why. */
  | { status: 'ignored'; code: RejectionCode | 'unreadable'; reason: string; file: string };

/** The file name for a view: a hash of [namespace, labels], so any namespace or label is a safe name. */
export function viewFileName(view: ViewRef): string {
  const id = sha256(canonicalJson([view.namespace, view.labels]), 'hex').slice(0, 32);
  return `view-${id}.json`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isKeyInfo(value: unknown): value is PublicKeyInfo {
  if (!isObject(value)) return false;
  if (typeof value.keyId !== 'string' || typeof value.publicKey !== 'string' || typeof value.createdAt !== 'number')
    return false;
  if (value.endorsedBy === undefined) return true;
  return (
    isObject(value.endorsedBy) &&
    typeof value.endorsedBy.keyId === 'string' &&
    typeof value.endorsedBy.signature === 'string'
  );
}

export class DiskCache {
  readonly dir: string;
  /** Writes to one file are queued, so an older view can never overwrite a newer one. */
  readonly #writes = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the folder (owner-only) when missing. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // The mode above is filtered by the umask and skipped for an existing folder.
    await chmod(this.dir, 0o700);
  }

  viewPath(view: ViewRef): string {
    return join(this.dir, viewFileName(view));
  }

  get keysPath(): string {
    return join(this.dir, 'keys.json');
  }

  async #readJson(path: string): Promise<CacheRead<unknown>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
      return { status: 'ignored', code: 'unreadable', reason: `cannot read: ${(error as Error).message}`, file: path };
    }
    try {
      return { status: 'ok', value: JSON.parse(text) as unknown };
    } catch {
      return { status: 'ignored', code: 'malformed', reason: 'not valid JSON', file: path };
    }
  }

  /** Reads a view file and verifies it in full against `trust`; a file that fails is ignored. */
  async readView(view: ViewRef, trust: TrustStore): Promise<CacheRead<VerifiedView>> {
    const path = this.viewPath(view);
    const read = await this.#readJson(path);
    if (read.status !== 'ok') return read;
    const data = read.value;
    if (!isObject(data) || data.format !== cacheFormat)
      return { status: 'ignored', code: 'malformed', reason: 'not a Herald view cache file', file: path };
    const verdict = verifySnapshot(data, { view, held: undefined, trust });
    if (verdict.outcome === 'accept') return { status: 'ok', value: verdict.view };
    if (verdict.outcome === 'reject')
      return { status: 'ignored', code: verdict.code, reason: verdict.reason, file: path };
    return { status: 'ignored', code: 'malformed', reason: 'unexpected verdict', file: path };
  }

  async writeView(view: ViewRef, verified: VerifiedView): Promise<void> {
    const file: CachedViewFile = {
      format: cacheFormat,
      view: { namespace: view.namespace, labels: [...view.labels] },
      manifest: verified.manifest,
      signature: verified.signature,
      values: verified.values,
    };
    await this.#write(this.viewPath(view), `${JSON.stringify(file)}\n`);
  }

  /** Reads the keys file; entries that are not well-formed keys are dropped (they could not verify anyway). */
  async readKeys(): Promise<CacheRead<CachedKeysFile>> {
    const path = this.keysPath;
    const read = await this.#readJson(path);
    if (read.status !== 'ok') return read;
    const data = read.value;
    if (
      !isObject(data) ||
      data.format !== cacheFormat ||
      !Array.isArray(data.pinned) ||
      !Array.isArray(data.published)
    ) {
      return { status: 'ignored', code: 'malformed', reason: 'not a Herald keys cache file', file: path };
    }
    return {
      status: 'ok',
      value: {
        format: cacheFormat,
        pinned: data.pinned.filter(isKeyInfo),
        published: data.published.filter(isKeyInfo),
      },
    };
  }

  async writeKeys(keys: { pinned: readonly PublicKeyInfo[]; published: readonly PublicKeyInfo[] }): Promise<void> {
    const file: CachedKeysFile = { format: cacheFormat, pinned: [...keys.pinned], published: [...keys.published] };
    await this.#write(this.keysPath, `${JSON.stringify(file, null, 2)}\n`);
  }

  /** Resolves once every write queued so far has finished (successfully or not). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()]);
  }

  #write(path: string, data: string): Promise<void> {
    const previous = this.#writes.get(path) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => writeFileAtomic(path, data));
    const settled = next.catch(() => undefined);
    this.#writes.set(path, settled);
    void settled.then(() => {
      if (this.#writes.get(path) === settled) this.#writes.delete(path);
    });
    return next;
  }
}
