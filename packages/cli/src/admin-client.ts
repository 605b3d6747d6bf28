// The admin API client of the admin commands, and the paths they address. Its refusals that a
// first-time user meets most (no token, a wrong one, no server there) say what to do next.
import { AdminClient, HeraldApiError, type RequestOptions } from '@herald/sdk';
import { optionalToken, resolveUrl, type ConnectionFlags } from './flags.js';
import { CliError } from './output.js';

/** AdminClient whose errors name the next step; every other refusal passes through as it is. */
class CliAdminClient extends AdminClient {
  readonly #url: string;
  readonly #hasToken: boolean;

  constructor(url: string, token: string | undefined) {
    super({ url, ...(token ? { token } : {}) });
    this.#url = url;
    this.#hasToken = token !== undefined;
  }

  override async request<T>(
    method: string,
    path: string,
    options?: RequestOptions,
  ): Promise<{ status: number; body: T; headers: Headers }> {
    try {
      return await super.request<T>(method, path, options);
    } catch (error) {
      throw this.#explain(error);
    }
  }

  #explain(error: unknown): unknown {
    if (!(error instanceof HeraldApiError)) return error;
    if (error.code === 'unreachable')
      return new CliError(
        `${error.message}: is \`herald server\` running at ${this.#url}? (--url or HERALD_URL says where)`,
        1,
        error.code,
      );
    if (error.code === 'unauthenticated')
      return new CliError(
        this.#hasToken
          ? `${error.message}: check HERALD_TOKEN or --token`
          : 'no token: set HERALD_TOKEN or pass --token',
        1,
        error.code,
      );
    return error;
  }
}

export function adminClient(flags: ConnectionFlags): AdminClient {
  return new CliAdminClient(resolveUrl(flags), optionalToken(flags));
}

export function nsPath(namespace: string, ...rest: string[]): string {
  return `/v1/namespaces/${[namespace, ...rest].map((s) => encodeURIComponent(s)).join('/')}`;
}

/** The key is encoded whole ("/" too), so URL normalisation can never touch a key with "." or "//" in it. */
export function entryPath(namespace: string, collection: 'entries' | 'locks', key: string): string {
  return `${nsPath(namespace)}/${collection}/${encodeURIComponent(key)}`;
}
