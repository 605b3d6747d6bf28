// A man in the middle on the client's own `fetch`: every watch stream from the real server passes
// through an SSE parser here, so a test can count what was on the wire and, like an attacker
// between client and server, drop, alter, replay or inject events. The server is never mocked.
import { SseParser, type SseEvent } from '@herald/sdk/internal';

export interface WireEvent extends SseEvent {
  /** Which watch connection (1-based) carried it. */
  connection: number;
}

export interface Wire {
  fetch: typeof globalThis.fetch;
  /** Events as the server sent them, before any rewrite. */
  readonly events: WireEvent[];
  /** Watch requests made (whatever their answer). */
  readonly connections: number;
  /** Watch request bodies, parsed. */
  readonly requests: unknown[];
  count(type: string, connection?: number): number;
}

export type Rewrite = (event: WireEvent) => SseEvent[];

function urlOf(input: Parameters<typeof fetch>[0]): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

export function wire(rewrite?: Rewrite): Wire {
  const events: WireEvent[] = [];
  const requests: unknown[] = [];
  let connections = 0;
  const encoder = new TextEncoder();
  const intercepting: typeof globalThis.fetch = async (input, init) => {
    const isWatch = urlOf(input).endsWith('/v1/watch');
    if (isWatch) {
      connections += 1;
      requests.push(typeof init?.body === 'string' ? JSON.parse(init.body) : undefined);
    }
    const response = await fetch(input, init);
    if (!isWatch || response.status !== 200 || !response.body) return response;
    const connection = connections;
    const parser = new SseParser();
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          for (const event of parser.push(chunk)) {
            const seen = { ...event, connection };
            events.push(seen);
            for (const out of rewrite ? rewrite(seen) : [event])
              controller.enqueue(encoder.encode(`event: ${out.type}\ndata: ${out.data}\n\n`));
          }
        },
      }),
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  return {
    fetch: intercepting,
    events,
    get connections() {
      return connections;
    },
    requests,
    count: (type, connection) =>
      events.filter((e) => e.type === type && (connection === undefined || e.connection === connection)).length,
  };
}
