// The check of configured CORS origins, apart from cors.ts so that the configuration (on the
// server's start path) does not load @fastify/cors.

/** Problems with configured origins, for the server's and the relay's configuration checks. */
export function checkCorsOrigins(origins: unknown, problems: string[]): void {
  if (!Array.isArray(origins)) {
    problems.push('corsOrigins must be a list of origins');
    return;
  }
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed: URL | undefined;
    try {
      parsed = typeof origin === 'string' ? new URL(origin) : undefined;
    } catch {
      parsed = undefined;
    }
    // An origin is scheme://host[:port] with nothing after it; browsers send it in exactly that form.
    if (!parsed || !/^https?:$/u.test(parsed.protocol) || parsed.origin !== origin)
      problems.push(
        `corsOrigins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path or trailing slash) or *`,
      );
  }
}
