/**
 * The HTTP side of the metric and HTTP checks: an instant query to a Prometheus-compatible server
 * (`/api/v1/query`) and a GET of a check URL, each bounded in time and in the size of what it
 * reads. What the answers mean is decided in the core (checks.ts); these only fetch.
 */

/** The most a probe reads of a response: a query that returns more is refused, not parsed. */
export const maxProbeResponseBytes = 1024 * 1024;

/** What a probe found: the values (one per series; none is no data), or a verdict, or why it failed. */
export interface ProbeResult {
  values: number[];
  pass?: boolean;
  error?: string;
}

async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`the response is over ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`.slice(0, 300);
}

/** An instant query; a vector gives one value per series, a scalar one value; NaN counts as no value. */
export async function queryPrometheus(
  baseUrl: string,
  query: string,
  timeoutMs: number,
  maxBytes = maxProbeResponseBytes,
): Promise<ProbeResult> {
  const url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  url.searchParams.set('query', query);
  url.searchParams.set('timeout', `${Math.max(1, Math.floor(timeoutMs / 1000))}s`);
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    const text = await readBounded(response, maxBytes);
    let body: {
      status?: string;
      error?: string;
      errorType?: string;
      data?: { resultType?: string; result?: unknown };
    };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return { values: [], error: `HTTP ${response.status}: the answer is not JSON` };
    }
    if (body.status !== 'success')
      return {
        values: [],
        error: `${body.errorType ?? `HTTP ${response.status}`}: ${body.error ?? 'query failed'}`.slice(0, 300),
      };
    const { resultType, result } = body.data ?? {};
    const numberOf = (pair: unknown): number => Number(Array.isArray(pair) ? pair[1] : Number.NaN);
    let values: number[];
    if (resultType === 'scalar') values = [numberOf(result)];
    else if (resultType === 'vector' && Array.isArray(result))
      values = result.map((series: { value?: unknown }) => numberOf(series.value));
    else
      return {
        values: [],
        error: `the query returned a ${String(resultType)}; a gate needs an instant vector or scalar`,
      };
    return { values: values.filter((v) => !Number.isNaN(v)) };
  } catch (error) {
    return { values: [], error: reasonOf(error, timeoutMs) };
  }
}

/** A GET of a check URL: 2xx passes, anything else fails; a JSON body `{ "pass": bool, "value": n }` decides instead. */
export async function probeUrl(url: string, timeoutMs: number, maxBytes = maxProbeResponseBytes): Promise<ProbeResult> {
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    const text = await readBounded(response, maxBytes);
    let pass = response.status >= 200 && response.status < 300;
    const values: number[] = [];
    try {
      const body = JSON.parse(text) as { pass?: unknown; value?: unknown };
      if (typeof body.pass === 'boolean') pass = body.pass;
      if (typeof body.value === 'number' && Number.isFinite(body.value)) values.push(body.value);
    } catch {
      // Not JSON: the status code is the answer.
    }
    return { values, pass };
  } catch (error) {
    return { values: [], error: reasonOf(error, timeoutMs) };
  }
}
