import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, type PublicKeyInfo, type Scope } from '@herald/core';
import { writeFileAtomic } from '@herald/sdk/internal';
import type { RouteDescription } from '../delivery/backend.js';

/**
 * What a relay keeps on disk so that it serves with no upstream: verified signed views (one file
 * per view and release), the last route of each namespace, the pinned keys, and the scopes of
 * tokens it has seen validated (by hash only). Files are written atomically; views are verified
 * again when read. Some writes are not awaited by their callers (a route or a token learned while
 * serving): `settled()` waits for every write in flight, so a closed relay writes nothing more.
 */
export class RelayCache {
  readonly #dir: string;
  readonly #writing = new Set<Promise<void>>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async open(): Promise<void> {
    // mkdir's mode is filtered by the umask and leaves an existing folder alone: chmod says it.
    for (const sub of ['', 'views', 'routes']) {
      await mkdir(join(this.#dir, sub), { recursive: true, mode: 0o700 });
      await chmod(join(this.#dir, sub), 0o700);
    }
  }

  static #name(parts: unknown): string {
    return sha256(JSON.stringify(parts), 'hex').slice(0, 32);
  }

  #viewPath(namespace: string, labels: readonly string[], seq: number): string {
    return join(this.#dir, 'views', `${RelayCache.#name([namespace, labels])}-${seq}.json`);
  }

  async readView(namespace: string, labels: readonly string[], seq: number): Promise<unknown> {
    return this.#read(this.#viewPath(namespace, labels, seq));
  }

  async writeView(namespace: string, labels: readonly string[], seq: number, signedView: unknown): Promise<void> {
    await this.#write(this.#viewPath(namespace, labels, seq), JSON.stringify(signedView));
  }

  async countViews(): Promise<number> {
    return (await readdir(join(this.#dir, 'views'))).filter((f) => f.endsWith('.json')).length;
  }

  async readRoute(namespace: string): Promise<RouteDescription | undefined> {
    return (await this.#read(join(this.#dir, 'routes', `${RelayCache.#name(namespace)}.json`))) as
      RouteDescription | undefined;
  }

  async writeRoute(namespace: string, route: RouteDescription): Promise<void> {
    await this.#write(join(this.#dir, 'routes', `${RelayCache.#name(namespace)}.json`), JSON.stringify(route));
  }

  async readKeys(): Promise<PublicKeyInfo[] | undefined> {
    return (await this.#read(join(this.#dir, 'keys.json'))) as PublicKeyInfo[] | undefined;
  }

  async writeKeys(keys: readonly PublicKeyInfo[]): Promise<void> {
    await this.#write(join(this.#dir, 'keys.json'), JSON.stringify(keys, null, 2));
  }

  /** The relay's own token's scopes: which namespaces it receives with secrets, also when it restarts with no upstream. */
  async readAudience(): Promise<Scope[] | undefined> {
    return (await this.#read(join(this.#dir, 'audience.json'))) as Scope[] | undefined;
  }

  async writeAudience(scopes: readonly Scope[]): Promise<void> {
    await this.#write(join(this.#dir, 'audience.json'), JSON.stringify(scopes));
  }

  async readTokens(): Promise<Record<string, { tokenId: string; name: string; scopes: Scope[] }>> {
    return (
      ((await this.#read(join(this.#dir, 'tokens.json'))) as
        Record<string, { tokenId: string; name: string; scopes: Scope[] }> | undefined) ?? {}
    );
  }

  async writeTokens(tokens: Record<string, { tokenId: string; name: string; scopes: Scope[] }>): Promise<void> {
    await this.#write(join(this.#dir, 'tokens.json'), JSON.stringify(tokens));
  }

  /** Resolves once every write begun so far has ended (failed ones too). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writing]);
  }

  #write(path: string, text: string): Promise<void> {
    const writing = writeFileAtomic(path, text);
    this.#writing.add(writing);
    const done = (): void => {
      this.#writing.delete(writing);
    };
    writing.then(done, done);
    return writing;
  }

  async #read(path: string): Promise<unknown> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as unknown;
    } catch {
      return undefined;
    }
  }
}
