import { realpathSync, statSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

/**
 * Serves the web UI's build (packages/ui/dist) from the control plane, same origin as the API.
 * It only answers requests no API route matched (it runs from the not-found handler), so it can
 * never shadow an API path; and API-looking paths keep their problem+json 404 instead of getting
 * the app's index.html.
 */

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Paths that belong to the API (here or in the Azure data plane): never answered with the app. */
const apiPrefixes = [
  '/v1',
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/kv',
  '/revisions',
  '/keys',
  '/labels',
  '/locks',
  '/snapshots',
  '/operations',
];

export interface StaticResponse {
  status: 200;
  body: Buffer;
  headers: Record<string, string>;
}

// Ajv compiles the namespace's JSON Schema in the browser (as the server does), which needs eval.
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

export class StaticUi {
  readonly #root: string;

  /** `root` must hold an index.html; checked once, here. */
  constructor(root: string) {
    this.#root = realpathSync(root);
    if (!statSync(join(this.#root, 'index.html')).isFile()) throw new Error(`${root}/index.html is not a file`);
  }

  get root(): string {
    return this.#root;
  }

  /**
   * The file for a GET/HEAD of `urlPath` (no query string), or undefined when the UI has nothing
   * to say (an API path, a missing asset, a path that tries to leave the folder).
   */
  async resolve(urlPath: string): Promise<StaticResponse | undefined> {
    if (isApiPath(urlPath)) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return undefined;
    }
    const segments = decoded.split('/').filter((s) => s.length > 0);
    if (segments.some((s) => s === '..' || s === '.' || s.includes('\\') || s.includes('\0') || s.startsWith('.')))
      return undefined;
    const relative = segments.join('/');
    const file = relative === '' ? undefined : await this.#file(relative);
    if (file) return this.#respond(file, relative.startsWith('assets/'));
    // A path with an extension is a file that is not there; anything else is a route of the app.
    if (extname(segments.at(-1) ?? '') !== '') return undefined;
    const index = await this.#file('index.html');
    return index ? this.#respond(index, false) : undefined;
  }

  async #file(relative: string): Promise<string | undefined> {
    try {
      const real = await realpath(join(this.#root, relative));
      // A symbolic link out of the folder is refused like `..`.
      if (!real.startsWith(this.#root + sep)) return undefined;
      return (await stat(real)).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }

  async #respond(path: string, hashed: boolean): Promise<StaticResponse> {
    const body = await readFile(path);
    const type = contentTypes[extname(path).toLowerCase()] ?? 'application/octet-stream';
    const headers: Record<string, string> = {
      'content-type': type,
      // Vite names every asset after its content hash: it can be kept for ever. index.html (and
      // other unhashed files) is revalidated, so a new build is picked up at once.
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (type.startsWith('text/html')) {
      headers['content-security-policy'] = contentSecurityPolicy;
      headers['x-frame-options'] = 'DENY';
    }
    return { status: 200, body, headers };
  }
}

export function isApiPath(urlPath: string): boolean {
  return apiPrefixes.some(
    (prefix) => urlPath === prefix || urlPath.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`),
  );
}
