import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually } from './eventually.js';

/** A real Prometheus child process (Debian's `prometheus`), on a loopback port of its own. */
export interface PrometheusProcess {
  url: string;
  pid: number | undefined;
  /** Stops it by its PID and waits for it to exit. */
  kill(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts `prometheus` with its own config and storage in `folder`, scraping `targets` (host:port)
 * every second as job `service`, and resolves once it has scraped them (`up` is 1 for each).
 */
export async function startPrometheus(
  folder: string,
  targets: string[],
  timeoutMs = 60_000,
): Promise<PrometheusProcess> {
  const port = await freePort();
  const config = join(folder, 'prometheus.yml');
  writeFileSync(
    config,
    // JSON is YAML: no YAML library needed here.
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [{ job_name: 'service', static_configs: [{ targets }] }],
    }),
  );
  const child = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(folder, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const errors: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${errors.join('')}`);
        const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent('up{job="service"} == 1')}`);
        const body = (await response.json()) as { data?: { result?: unknown[] } };
        return (body.data?.result?.length ?? 0) >= targets.length;
      },
      { message: 'prometheus to scrape its targets', timeoutMs, intervalMs: 250 },
    );
  } catch (error) {
    await kill();
    throw error;
  }
  return { url, pid: child.pid, kill };
}
