// Shared plumbing for the benchmarks: servers as child processes on free loopback ports, etcd
// installed from Debian when missing, percentiles, and tables. Every server started here is
// stopped by stopAll(), also on Ctrl-C.
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const heraldBin = fileURLToPath(new URL('../packages/cli/bin/herald.js', import.meta.url));
export const benchToken = 'bench-admin-token-0123456789';
const children = new Set();
const folders = new Set();

export function tempFolder(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.add(dir);
  return dir;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process and resolves when a stdout/stderr line matches `ready`. */
export function startProcess(command, args, { env = {}, ready, timeoutMs = 30_000, name = command } = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onLine = (line) => {
      const match = ready.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready`));
    });
  });
}

/**
 * A benchmark measures capacity, not policy: every simulated client shares the bench token, so the
 * per-token caps (docs/security.md) are lifted to the node's own bounds.
 */
export const uncappedTokenArgs = [
  '--max-streams-per-token',
  '1000000',
  '--reports-per-second-per-token',
  '1000000',
  '--report-burst-per-token',
  '10000000',
];

export async function startHerald(extraArgs = [], env = {}, nodeArgs = []) {
  const port = await freePort();
  const args = [
    ...nodeArgs,
    heraldBin,
    'server',
    '--listen',
    `127.0.0.1:${port}`,
    '--log-level',
    'warn',
    ...uncappedTokenArgs,
    ...extraArgs,
  ];
  if (!extraArgs.includes('--postgres') && !extraArgs.includes('--data'))
    args.push('--data', tempFolder('herald-bench-'));
  const { child } = await startProcess(process.execPath, args, {
    env: { HERALD_ADMIN_TOKEN: benchToken, ...env },
    ready: /listening on (http\S+)/,
    name: 'herald server',
  });
  return { url: `http://127.0.0.1:${port}`, child, pid: child.pid };
}

export function ensureEtcd() {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error("etcd is missing: installing Debian's etcd-server with apt-get");
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'etcd-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  return execFileSync('etcd', ['--version']).toString().split('\n')[0];
}

export async function startEtcd() {
  const version = ensureEtcd();
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dir = tempFolder('etcd-bench-');
  const { child } = await startProcess(
    'etcd',
    [
      '--data-dir',
      dir,
      '--listen-client-urls',
      `http://127.0.0.1:${clientPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${clientPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${peerPort}`,
      '--quota-backend-bytes',
      String(8 * 1024 ** 3),
    ],
    { ready: /ready to serve client requests|serving insecure client requests/, name: 'etcd' },
  );
  return { url: `http://127.0.0.1:${clientPort}`, child, pid: child.pid, version };
}

/** A `herald relay` of `upstream` on a free loopback port, with a cache folder of its own and the bench token. */
export async function startRelay(upstream) {
  const port = await freePort();
  const { child } = await startProcess(
    process.execPath,
    [
      heraldBin,
      'relay',
      '--upstream',
      upstream,
      '--listen',
      `127.0.0.1:${port}`,
      '--cache',
      tempFolder('herald-relay-bench-'),
      '--log-level',
      'warn',
      ...uncappedTokenArgs,
    ],
    { env: { HERALD_TOKEN: benchToken }, ready: /relay listening on (http\S+)/, name: 'herald relay' },
  );
  return { url: `http://127.0.0.1:${port}`, child, pid: child.pid };
}

/** A Herald `bench` namespace holding one ~1 KiB entry `config`, as the storm and memory runs watch it. */
export async function seedBenchNamespace(url) {
  const headers = { authorization: `Bearer ${benchToken}`, 'content-type': 'application/json' };
  await fetch(`${url}/v1/namespaces`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) });
  const response = await fetch(`${url}/v1/namespaces/bench/entries/config`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ value: { padding: 'x'.repeat(1000) } }),
  });
  if (response.status !== 200) throw new Error(`herald answered ${response.status}`);
  await response.arrayBuffer();
}

/**
 * One etcd put through its v3 JSON gateway: `value` as it is when a string, else its JSON; keys and
 * values base64 as the gateway wants them. Resolves to the gateway's answer (its header has the revision).
 */
export async function etcdPut(url, key, value) {
  const response = await fetch(`${url}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({
      key: Buffer.from(key).toString('base64'),
      value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64'),
    }),
  });
  if (response.status !== 200) throw new Error(`etcd answered ${response.status}`);
  return response.json();
}

/** One request through node:http (keep-alive when `agent` is): its status and body text. */
export function httpSend(url, { method, headers = {}, body, agent }) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method, agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Calls `onFrame` with each complete frame of a streamed response, frames ending with `separator`
 * ('\n\n' for SSE events, '\n' for etcd's watch lines), as the bench's lean watchers read them.
 */
export function onFrames(response, separator, onFrame) {
  let pending = '';
  response.setEncoding('utf8');
  response.on('data', (chunk) => {
    pending += chunk;
    let end;
    while ((end = pending.indexOf(separator)) >= 0) {
      const frame = pending.slice(0, end);
      pending = pending.slice(end + separator.length);
      onFrame(frame);
    }
  });
}

/**
 * `total` watchers spread over `processes` forked watcher processes (a script of this folder,
 * given `args(count, index)`), resolved once every process says it is `ready`; an `error` message
 * rejects.
 */
export async function forkWatchers(script, total, processes, args) {
  const per = Math.ceil(total / processes);
  const clients = [];
  for (let c = 0; c < processes; c += 1) {
    const count = Math.min(per, total - c * per);
    if (count <= 0) break;
    clients.push(fork(new URL(script, import.meta.url).pathname, args(count, c), { stdio: 'inherit' }));
  }
  await Promise.all(
    clients.map(
      (child) =>
        new Promise((resolve, reject) =>
          child.on('message', (m) =>
            m.type === 'ready' ? resolve() : m.type === 'error' ? reject(new Error(JSON.stringify(m))) : undefined,
          ),
        ),
    ),
  );
  return clients;
}

export async function stopAll() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function machine() {
  return `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, node ${process.version}`;
}

export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function rssKiB(pid) {
  try {
    return Number(
      execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
        .toString()
        .trim(),
    );
  } catch {
    return NaN;
  }
}

/** `--name value` from the command line, or `fallback`. */
export function option(name, fallback) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

/** CPU seconds (user + system) a process has used, from /proc (USER_HZ is 100 on Linux). */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
