// The admin API client of the admin commands, and the paths they address. Its refusals that a
// first-time user meets most (no token, a wrong one, no server there) say what to do next.
import { AdminClient, HeraldApiError, type RequestOptions } from '@herald/sdk';
import { optionalToken, resolveUrl, type ConnectionFlags } from './flags.js';
import { ChangeRequestPending, CliError } from './output.js';

/** AdminClient whose errors name the next step; every other refusal passes through as it is. */
class CliAdminClient extends AdminClient {
  readonly #url: string;
  readonly #hasToken: boolean;
  readonly #headers: Record<string, string>;
  readonly #json: boolean;

  constructor(url: string, token: string | undefined, headers: Record<string, string>, json: boolean) {
    super({ url, ...(token ? { token } : {}) });
    this.#url = url;
    this.#hasToken = token !== undefined;
    this.#headers = headers;
    this.#json = json;
  }

  override async request<T>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    let answer: { status: number; body: T; headers: Headers };
    try {
      answer = await super.request<T>(method, path, { ...options, headers: { ...this.#headers, ...options.headers } });
    } catch (error) {
      throw this.#explain(error);
    }
    // Any write may answer 202 with a change request: the namespace requires approval.
    const body = answer.body as { changeRequest?: { id: string }; message?: string } | undefined;
    if (answer.status === 202 && body?.changeRequest && typeof body.message === 'string')
      throw new ChangeRequestPending({ changeRequest: body.changeRequest, message: body.message }, this.#json);
    return answer;
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
  return new CliAdminClient(resolveUrl(flags), optionalToken(flags), overrideHeaders(flags), flags.json === true);
}

/** The headers of change control's emergency paths; the reason is percent-encoded (headers are not UTF-8). */
function overrideHeaders(flags: ConnectionFlags): Record<string, string> {
  if (!flags.bypassApproval && !flags.overrideWindow) return {};
  const reason = flags.reason?.trim();
  if (!reason) throw new CliError('--bypass-approval and --override-window need --reason "why"', 2);
  return {
    ...(flags.bypassApproval ? { 'herald-bypass-approval': encodeURIComponent(reason) } : {}),
    ...(flags.overrideWindow ? { 'herald-override-window': encodeURIComponent(reason) } : {}),
  };
}

export function nsPath(namespace: string, ...rest: string[]): string {
  return `/v1/namespaces/${[namespace, ...rest].map((s) => encodeURIComponent(s)).join('/')}`;
}

/** The key is encoded whole ("/" too), so URL normalisation can never touch a key with "." or "//" in it. */
export function entryPath(namespace: string, collection: 'entries' | 'locks', key: string): string {
  return `${nsPath(namespace)}/${collection}/${encodeURIComponent(key)}`;
}
