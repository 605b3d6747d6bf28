import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SecretCipher, systemClock } from '@herald/core';
// Only the start path statically: the server and the store drivers are imported once the node's
// socket answers (listenEarly), so a restarting node tells its clients when to come back at once.
import {
  connectionLimitsOf,
  defaultServerConfig,
  httpsOptions,
  isLogFormat,
  listenEarly,
  maxWatchWorkers,
  resolveServerConfig,
  type LogFormat,
  type ServerConfigInput,
} from '@herald/server/start-path';
import { randomBytes } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import type { Leadership, Store } from '@herald/store';
import {
  corsOption,
  corsOrigins,
  parseCount,
  parseListen,
  tokenCapOptions,
  tokenCaps,
  type CorsFlags,
  type TokenCapFlags,
} from '../flags.js';
import { listenerTls, listenerTlsOptions, type ListenerTlsFlags } from '../tls-flags.js';
import { CliError, printLine, warn } from '../output.js';
import { runUntilSignal } from '../run-until-signal.js';

export const defaultDataDir = './herald-data';
export const defaultListen = '127.0.0.1:8420';

/** The web UI's build in this checkout (packages/ui/dist, made by `npm run build`), when there is one. */
export const builtUiDir = fileURLToPath(new URL('../../../../ui/dist', import.meta.url));

/**
 * The secret-encryption key: HERALD_SECRET_KEY (base64 of 32 bytes), else --secret-key-file, else
 * a key generated on first start in the data folder (readable by the owner only).
 */
function loadSecretKey(dataDir: string, keyFile: string | undefined): Buffer {
  const fromEnv = process.env.HERALD_SECRET_KEY;
  const decode = (text: string, origin: string) => {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new CliError(`${origin} must hold 32 bytes in base64 (openssl rand -base64 32)`);
    return key;
  };
  if (fromEnv) return decode(fromEnv, 'HERALD_SECRET_KEY');
  if (keyFile) return decode(readFileSync(keyFile, 'utf8'), `--secret-key-file ${keyFile}`);
  const path = join(dataDir, 'secret.key');
  if (existsSync(path)) return decode(readFileSync(path, 'utf8'), path);
  const key = SecretCipher.generateKey();
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  warn(`generated the secret-encryption key ${path}; back it up, and keep it away from backups of the database`);
  return key;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

interface ServerFlags extends ListenerTlsFlags, TokenCapFlags, CorsFlags {
  data: string;
  listen: string;
  postgres?: string;
  pgConnectTimeout: string;
  pgStatementTimeout: string;
  requestDeadline: string;
  nodeId?: string;
  secretKeyFile?: string;
  logLevel: string;
  logFormat?: string;
  uiDir?: string;
  ui: boolean;
  prometheusUrl?: string;
  watchWorkers?: string;
}

/** The name of the leadership that runs singleton jobs (rollout controller, sweeps). */
const controllerLeadership = 'controller';

export function registerServerCommand(program: Command): void {
  const command = program
    .command('server')
    .description(
      'run a control-plane node: embedded SQLite by default, or one of several stateless nodes on PostgreSQL',
    )
    .option('--data <dir>', 'data folder (the SQLite store, and the secret key unless given)', defaultDataDir)
    .option('--listen <host:port>', 'address to listen on', defaultListen)
    .option('--postgres <url>', 'use PostgreSQL instead of SQLite (env HERALD_POSTGRES_URL); schema migrated on start')
    .option(
      '--pg-connect-timeout <ms>',
      'with --postgres: give up opening a connection or waiting for a pooled one after this',
      '5000',
    )
    .option(
      '--pg-statement-timeout <ms>',
      'with --postgres: bound on one statement (server side; the client gives up 5 s later); a request then gets 503',
      '30000',
    )
    .option(
      '--request-deadline <ms>',
      'answer every request within this (503 deadline_exceeded past it); with --postgres, below --pg-statement-timeout',
      String(defaultServerConfig.requestDeadlineMs),
    )
    .option('--node-id <id>', 'name of this node in /v1/cluster and logs (default host:pid)')
    .option(
      '--secret-key-file <file>',
      'file with the base64 AES-256 key for secrets (env HERALD_SECRET_KEY); every node of a cluster needs the same',
    )
    .option(
      '--log-level <level>',
      'fatal, error, warn, info (failures, slow requests, transitions), debug (every request) or trace',
      'info',
    )
    .option('--log-format <format>', 'json or pretty (short human lines); default: pretty on a terminal, else json')
    .option('--ui-dir <dir>', 'serve the web UI from this build folder (default: packages/ui/dist when it was built)')
    .option('--no-ui', 'serve no web UI')
    .option(
      '--prometheus-url <url>',
      "the Prometheus-compatible server staged rollouts' metric checks query (env HERALD_PROMETHEUS_URL)",
    );
  command.option(
    '--watch-workers <n>',
    'child processes that hold the watch sockets and write the fan-out, so commits never wait behind it; auto: one per core but one, at most 8 (env HERALD_WATCH_WORKERS; default 0: this process)',
  );
  listenerTlsOptions(command);
  tokenCapOptions(command, defaultServerConfig);
  corsOption(command);
  command.action(async (flags: ServerFlags) => {
    const { host, port } = parseListen(flags.listen);
    const watchWorkers = parseWatchWorkers(flags.watchWorkers ?? process.env.HERALD_WATCH_WORKERS ?? '0');
    const logFormat = pickLogFormat(flags.logFormat);
    const tls = listenerTls(flags);
    const dataDir = resolve(flags.data);
    let uiDir: string | null = null;
    if (flags.ui && flags.uiDir !== undefined) {
      uiDir = resolve(flags.uiDir);
      if (!existsSync(join(uiDir, 'index.html'))) throw new CliError(`--ui-dir ${flags.uiDir} has no index.html`, 2);
    } else if (flags.ui && existsSync(join(builtUiDir, 'index.html'))) {
      uiDir = builtUiDir;
    }
    const requestDeadlineMs = parseCount(flags.requestDeadline, '--request-deadline', 3_000, 3_600_000);
    const config: ServerConfigInput = {
      host,
      port,
      logLevel: flags.logLevel as 'info',
      logFormat,
      tls,
      uiDir,
      requestDeadlineMs,
      ...tokenCaps(flags),
      prometheusUrl: flags.prometheusUrl ?? process.env.HERALD_PROMETHEUS_URL ?? null,
      corsOrigins: corsOrigins(flags),
      watchWorkers,
    };
    const resolved = resolveServerConfig(config);
    let listener;
    try {
      listener = await listenEarly({
        host,
        port,
        tls: resolved.tls ? httpsOptions(resolved.tls) : null,
        limits: connectionLimitsOf(resolved),
        backlog: resolved.listenBacklog,
        retryAfterSeconds: 1,
        watchAdmission: { perSecond: resolved.watchAdmissionsPerSecond, clock: systemClock },
        holdWatchesMs: 3000,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      throw new CliError(
        `${flags.listen} is already in use (another herald server?); pick another address with --listen HOST:PORT`,
      );
    }
    const postgresUrl = flags.postgres ?? process.env.HERALD_POSTGRES_URL;
    const serverModule = import('@herald/server');
    const nodeId = flags.nodeId ?? `${hostname()}:${process.pid}`;
    const dbPath = join(dataDir, 'herald.db');
    let store: Store;
    let leadership: Leadership;
    let storeSize: (() => Promise<number>) | undefined;
    // The data folder holds the store and the secret key: 0700, whatever the umask.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    if (postgresUrl) {
      const statementTimeoutMs = parseCount(flags.pgStatementTimeout, '--pg-statement-timeout', 100, 3_600_000);
      // The node must answer before the database gives up on a statement, or the client waits for the database.
      if (requestDeadlineMs >= statementTimeoutMs)
        throw new CliError(
          `--request-deadline (${requestDeadlineMs} ms) must be shorter than --pg-statement-timeout (${statementTimeoutMs} ms)`,
          2,
        );
      const stores = await import('@herald/store');
      store = await stores.PostgresStore.open({
        connectionString: postgresUrl,
        connectionTimeoutMs: parseCount(flags.pgConnectTimeout, '--pg-connect-timeout', 100, 600_000),
        statementTimeoutMs,
      });
      leadership = new stores.PostgresLeadership({
        connectionString: postgresUrl,
        name: controllerLeadership,
        holder: `${nodeId}:${randomBytes(3).toString('hex')}`,
      });
    } else {
      // Not the package's index: the embedded store's start path does not load the PostgreSQL driver.
      const [{ SqliteStore }, { LocalLeadership }] = await Promise.all([
        import('@herald/store/sqlite'),
        import('@herald/store/local-leadership'),
      ]);
      store = SqliteStore.open({ path: dbPath });
      leadership = new LocalLeadership();
      storeSize = async () => fileSize(dbPath) + fileSize(`${dbPath}-wal`);
    }
    const { checkSecretKey, createServer, ensureBootstrapAdmin } = await serverModule;
    const cipher = new SecretCipher(loadSecretKey(dataDir, flags.secretKeyFile));
    await checkSecretKey(store, cipher);
    const bootstrap = await ensureBootstrapAdmin(store, systemClock, process.env.HERALD_ADMIN_TOKEN);
    const server = createServer({
      store,
      clock: systemClock,
      cipher,
      leadership,
      nodeId,
      config,
      listener,
      ...(storeSize ? { storeSize, dataDir } : {}),
    });
    const url = await server.listen();
    await leadership.start();
    printLine(
      `herald: control plane listening on ${url} (node ${nodeId}, store: ${postgresUrl ? `postgres ${redactUrl(postgresUrl)}` : `sqlite ${dbPath}`})`,
    );
    if (uiDir) printLine(`herald: web UI at ${url}/`);
    if (bootstrap.generatedToken) {
      const file = writeAdminTokenFile(dataDir, bootstrap.generatedToken);
      printLine(`herald: admin token (shown once; also in ${file}, readable by you only): ${bootstrap.generatedToken}`);
      printLine(
        `herald: lost it? restart the server with HERALD_ADMIN_TOKEN=<a secret of 8+ characters>: that secret is then registered with admin rights too`,
      );
      printLine(
        `herald: next: export HERALD_URL=${url} HERALD_TOKEN=$(cat ${shellQuote(file)}); herald ns create demo`,
      );
    } else if (bootstrap.registeredId) {
      printLine(
        `herald: registered the token in HERALD_ADMIN_TOKEN with admin rights on every namespace (id ${bootstrap.registeredId})`,
      );
    }
    await runUntilSignal({
      // Order: stop taking requests and drain them, hand leadership over, then release the store.
      close: async () => {
        await server.close();
        await leadership.close();
        await store.close();
      },
    });
    printLine('herald: control plane stopped');
    // Stopped: nothing the store or its pool left scheduled may keep the process alive.
    process.exit(0);
  });

  program
    .command('migrate')
    .description('create or upgrade the PostgreSQL schema (servers also do it when they start)')
    .requiredOption('--postgres <url>', 'PostgreSQL connection URL')
    .action(async (flags: { postgres: string }) => {
      const { migratePostgres } = await import('@herald/store');
      const result = await migratePostgres(flags.postgres);
      printLine(
        result.from === result.to
          ? `schema already at version ${result.to}`
          : `schema migrated from version ${result.from} to ${result.to}`,
      );
    });
}

/**
 * --watch-workers: a count, or `auto`: every core but the one the primary commits on, up to 8
 * (past that, a node's fan-out is bound by its network and its open-files limit, not its cores).
 */
function parseWatchWorkers(text: string): number {
  if (text === 'auto') return Math.min(8, Math.max(1, availableParallelism() - 1));
  return parseCount(text, '--watch-workers', 0, maxWatchWorkers);
}

/** --log-format, else pretty when a person reads stdout, else JSON for whatever collects it. */
function pickLogFormat(flag: string | undefined): LogFormat {
  if (flag === undefined) return process.stdout.isTTY ? 'pretty' : 'json';
  if (!isLogFormat(flag)) throw new CliError(`--log-format must be json or pretty, got "${flag}"`, 2);
  return flag;
}

/**
 * The generated admin token, also kept in the data folder (mode 0600), so that a token that
 * scrolled away is not lost; delete the file once it is stored somewhere safer.
 */
function writeAdminTokenFile(dataDir: string, token: string): string {
  const path = join(dataDir, 'admin-token');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  // An older file keeps its mode through writeFileSync: make sure of it.
  chmodSync(path, 0o600);
  return path;
}

function shellQuote(text: string): string {
  return /^[\w./:@%+-]+$/u.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** Connection URLs may carry a password; never print it. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<postgres url>';
  }
}
