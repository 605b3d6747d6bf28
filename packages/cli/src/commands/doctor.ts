// `herald doctor`: gathers the facts of the role it is pointed at (a data folder, a PostgreSQL
// store, a running server or relay, an agent's or relay's upstream and cache, certificates) and
// runs the checks of doctor-checks.ts on them: one line per check, exit 1 when any is a problem.
import { existsSync, readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import pg from 'pg';
import { AgentError, loadAgentConfig, readTrustFile } from '@herald/agent';
import { SecretCipher, sha256, TrustStore, type PublicKeyInfo } from '@herald/core';
import { postgresMigrations, sqliteMigrations, type SigningKeyRecord } from '@herald/store';
import { DiskCache, type ViewRef } from '@herald/sdk/internal';
import { parseCount } from '../flags.js';
import { CliError, printJson, printLine } from '../output.js';
import { checkSigningKeys } from '../release-check.js';
import { readSecretKey } from '../secret-key.js';
import {
  checkCertificates,
  checkClockSkew,
  checkFreeSpace,
  checkMigrations,
  checkMode,
  checkOpenFiles,
  checkSecretKey,
  checkSigningKeyAge,
  ok,
  parseOpenFilesLimit,
  problem,
  warning,
  type Finding,
} from './doctor-checks.js';

interface DoctorFlags {
  data?: string;
  secretKeyFile?: string;
  postgres?: string;
  url?: string;
  agent?: string;
  upstream?: string;
  trust?: string;
  upstreamTlsCa?: string;
  cert: string[];
  streams: string;
  json?: boolean;
}

/** PEM text of the CA, client certificate and key for the doctor's own requests. */
interface TlsPem {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** What a store says about itself, from SQLite or PostgreSQL alike. */
interface StoreFacts {
  fingerprint: string | undefined;
  signingKeys: SigningKeyRecord[];
}

const controllerLeadership = 'controller';
const timeoutMs = 5_000;

interface SigningKeyRow {
  key_id: string;
  public_key: string;
  encrypted_private_key: string;
  created_at: number | string;
  endorsed_by: string | null;
}

function signingKey(row: SigningKeyRow): SigningKeyRecord {
  return {
    keyId: row.key_id,
    publicKey: row.public_key,
    encryptedPrivateKey: row.encrypted_private_key,
    createdAt: Number(row.created_at),
    endorsedBy: row.endorsed_by === null ? null : (JSON.parse(row.endorsed_by) as SigningKeyRecord['endorsedBy']),
  };
}

function dataFolderChecks(dir: string, streams: number): { findings: Finding[]; facts: StoreFacts | undefined } {
  const findings: Finding[] = [];
  if (!existsSync(dir))
    return {
      findings: [problem('data folder', `${dir} does not exist`, 'give the folder the server runs on with --data')],
      facts: undefined,
    };
  findings.push(checkMode(dir, statSync(dir).mode, 'folder'));
  for (const name of ['herald.db', 'secret.key', 'admin.token']) {
    const path = join(dir, name);
    if (existsSync(path)) {
      const finding = checkMode(path, statSync(path).mode, 'file');
      if (finding.status !== 'ok') findings.push(finding);
    }
  }
  const space = statfsSync(dir);
  findings.push(checkFreeSpace(dir, space.bavail * space.bsize, space.blocks * space.bsize));
  let limits = '';
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    // Not Linux: the check says it could not tell.
  }
  const { soft, hard } = parseOpenFilesLimit(limits);
  findings.push(checkOpenFiles(soft, hard, streams));
  const path = join(dir, 'herald.db');
  if (!existsSync(path)) {
    findings.push(ok('store', `no ${path} yet; the server makes it on first start`));
    return { findings, facts: { fingerprint: undefined, signingKeys: [] } };
  }
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const version = Number(db.pragma('user_version', { simple: true }));
    const migrations = checkMigrations(
      'SQLite',
      version,
      sqliteMigrations.length,
      'herald server migrates it on start',
    );
    // SQLite is migrated by the server itself on start: behind is only a warning here.
    findings.push(
      migrations.status === 'problem' && version < sqliteMigrations.length
        ? { ...migrations, status: 'warning' }
        : migrations,
    );
    const setting = db.prepare("SELECT value FROM settings WHERE name = 'secret_key_fingerprint'").get() as
      { value: string } | undefined;
    const rows = db
      .prepare(
        'SELECT key_id, public_key, encrypted_private_key, created_at, endorsed_by FROM signing_keys ORDER BY rowid',
      )
      .all() as SigningKeyRow[];
    return { findings, facts: { fingerprint: setting?.value, signingKeys: rows.map(signingKey) } };
  } catch (error) {
    findings.push(problem('store', `${path} cannot be read: ${(error as Error).message}`, 'restore it from a backup'));
    return { findings, facts: undefined };
  } finally {
    db.close();
  }
}

function advisoryKey64(name: string): string {
  return sha256(name, 'buffer').readBigInt64BE(0).toString();
}

async function postgresChecks(url: string): Promise<{ findings: Finding[]; facts: StoreFacts | undefined }> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'herald-doctor',
  });
  client.on('error', () => undefined);
  const shown = url.replace(/\/\/[^@/]*@/u, '//…@');
  try {
    await client.connect();
  } catch (error) {
    return {
      findings: [
        problem(
          'PostgreSQL',
          `${shown} is not reachable: ${(error as Error).message}`,
          'check the URL, the network and that PostgreSQL runs',
        ),
      ],
      facts: undefined,
    };
  }
  const findings: Finding[] = [ok('PostgreSQL', `${shown} answers`)];
  try {
    const table = await client.query<{ present: boolean }>(
      "SELECT to_regclass('schema_migrations') IS NOT NULL AS present",
    );
    if (!table.rows[0]?.present) {
      findings.push(
        problem('PostgreSQL migrations', 'the database has no Herald schema', `herald migrate --postgres URL`),
      );
      return { findings, facts: undefined };
    }
    const version = await client.query<{ version: number }>(
      'SELECT coalesce(max(version), 0)::integer AS version FROM schema_migrations',
    );
    const applied = version.rows[0]?.version ?? 0;
    findings.push(checkMigrations('PostgreSQL', applied, postgresMigrations.length, 'herald migrate --postgres URL'));
    if (applied < postgresMigrations.length) return { findings, facts: undefined };
    const locks = await client.query<{ holders: number }>(
      `SELECT count(*)::integer AS holders FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1::bigint`,
      [advisoryKey64(`herald:leadership:${controllerLeadership}`)],
    );
    const holder = await client.query<{ holder: string; fence: string }>(
      'SELECT holder, fence FROM leadership WHERE name = $1',
      [controllerLeadership],
    );
    const holders = locks.rows[0]?.holders ?? 0;
    if (holders === 1)
      findings.push(
        ok('leader', `one leader: ${holder.rows[0]?.holder ?? 'unknown'} (fence ${holder.rows[0]?.fence ?? '?'})`),
      );
    else
      findings.push(
        warning(
          'leader',
          'no node leads (rollouts do not advance)',
          'start herald server on this database, or see why its nodes lost the database',
        ),
      );
    const setting = await client.query<{ value: string }>(
      "SELECT value FROM settings WHERE name = 'secret_key_fingerprint'",
    );
    const keys = await client.query<SigningKeyRow>(
      'SELECT key_id, public_key, encrypted_private_key, created_at, endorsed_by FROM signing_keys ORDER BY created_at, key_id',
    );
    return { findings, facts: { fingerprint: setting.rows[0]?.value, signingKeys: keys.rows.map(signingKey) } };
  } catch (error) {
    findings.push(
      problem(
        'PostgreSQL',
        `a query failed: ${(error as Error).message}`,
        'check the role has rights on the Herald schema',
      ),
    );
    return { findings, facts: undefined };
  } finally {
    await client.end().catch(() => undefined);
  }
}

function keyChecks(facts: StoreFacts, secret: ReturnType<typeof readSecretKey>, now: number): Finding[] {
  const cipher = secret ? new SecretCipher(secret.key) : undefined;
  const findings = [
    checkSecretKey(
      cipher && secret ? { origin: secret.origin, fingerprint: cipher.fingerprint() } : undefined,
      facts.fingerprint,
    ),
  ];
  const matching =
    cipher !== undefined && (facts.fingerprint === undefined || facts.fingerprint === cipher.fingerprint());
  const verdict = checkSigningKeys(facts.signingKeys, matching ? cipher : undefined);
  if (!verdict.ok)
    findings.push(problem('signing keys', verdict.problem, 'restore the store from a backup that verifies'));
  else if (verdict.check.keys > 0)
    findings.push(
      ok(
        'signing keys',
        `${verdict.check.keys} key(s), each endorsed by the one before${verdict.check.privateKeysChecked ? ', private halves match' : ''}`,
      ),
    );
  findings.push(checkSigningKeyAge(facts.signingKeys.at(-1), now));
  return findings;
}

/** One GET, bounded in time; TLS files when the URL is https. */
function get(
  url: string,
  tls: TlsPem = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'GET',
        timeout: timeoutMs,
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert }),
        ...(tls.key === undefined ? {} : { key: tls.key }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

function peerCertificate(url: string, ca: string | undefined): Promise<string | undefined> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: target.hostname,
      port: Number(target.port || 443),
      servername: target.hostname,
      rejectUnauthorized: false,
      ...(ca === undefined ? {} : { ca }),
    });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw as Buffer | undefined;
      socket.destroy();
      resolve(raw ? `-----BEGIN CERTIFICATE-----\n${raw.toString('base64')}\n-----END CERTIFICATE-----` : undefined);
    });
    socket.once('error', () => resolve(undefined));
  });
}

async function serverChecks(url: string, ca: string | undefined, now: () => number): Promise<Finding[]> {
  let health;
  try {
    health = await get(new URL('/healthz', url).toString(), { ca });
  } catch (error) {
    return [
      problem('reachable', `${url}: ${(error as Error).message}`, `is herald server (or the relay) running at ${url}?`),
    ];
  }
  const findings: Finding[] = [];
  findings.push(
    health.status === 200
      ? ok('reachable', `${url} answers`)
      : problem(
          'reachable',
          `${url}/healthz answered ${health.status}`,
          'check that the URL is a Herald server or relay',
        ),
  );
  const date = health.headers.date;
  findings.push(checkClockSkew(url, typeof date === 'string' ? date : null, now()));
  try {
    const ready = await get(new URL('/readyz', url).toString(), { ca });
    findings.push(
      ready.status === 200
        ? ok('ready', ready.body.length > 0 && ready.body.length < 200 ? ready.body : 'ready')
        : problem(
            'ready',
            `not ready (${ready.status}): ${ready.body.slice(0, 200)}`,
            'see its log; /readyz says what it waits for',
          ),
    );
  } catch (error) {
    findings.push(problem('ready', (error as Error).message, 'see its log'));
  }
  if (url.startsWith('https:')) {
    const pem = await peerCertificate(url, ca);
    if (pem) findings.push(...checkCertificates(`of ${url}`, pem, now()));
  }
  return findings;
}

/** The upstream's published keys, and whether the pinned trust reaches the key it signs with now. */
async function upstreamChecks(
  url: string,
  pinned: readonly PublicKeyInfo[] | 'tofu',
  tls: TlsPem,
  cached: readonly PublicKeyInfo[],
): Promise<Finding[]> {
  let published: PublicKeyInfo[];
  try {
    const answer = await get(new URL('/v1/keys', url).toString(), tls);
    if (answer.status !== 200) throw new Error(`GET /v1/keys answered ${answer.status}`);
    published = (JSON.parse(answer.body) as { keys: PublicKeyInfo[] }).keys;
  } catch (error) {
    return [
      problem(
        'upstream',
        `${url} is not reachable: ${(error as Error).message}`,
        'check the URL and the network; meanwhile it serves what its cache holds',
      ),
    ];
  }
  const findings = [ok('upstream', `${url} answers (${published.length} signing key(s))`)];
  const roots = pinned === 'tofu' ? cached : pinned;
  if (pinned === 'tofu' && roots.length === 0) {
    findings.push(
      warning(
        'trust',
        'trust on first use: the first keys it sees are pinned',
        'pin them: herald keys list --json > keys.json, then trust: keys.json (--trust)',
      ),
    );
    return findings;
  }
  const trust = new TrustStore(roots);
  trust.learn(published);
  const signing = published.at(-1);
  if (signing === undefined || trust.has(signing.keyId))
    findings.push(
      ok(
        'trust',
        `the upstream signs with ${signing?.keyId ?? 'no key'}, trusted${pinned === 'tofu' ? ' (pinned on first use)' : ''}`,
      ),
    );
  else
    findings.push(
      problem(
        'trust',
        `the upstream signs with ${signing.keyId}, which the pinned keys do not trust (not even by endorsement): every view is refused`,
        'check the upstream is the right control plane; if its keys were replaced, update the trust file',
      ),
    );
  return findings;
}

/** Every view file of an SDK/agent cache, verified as the client would before using it. */
async function cacheChecks(
  dir: string,
  pinned: readonly PublicKeyInfo[] | 'tofu',
): Promise<{ findings: Finding[]; cachedKeys: PublicKeyInfo[] }> {
  if (!existsSync(dir))
    return {
      findings: [warning('cache', `${dir} does not exist yet`, 'it fills once the agent has run')],
      cachedKeys: [],
    };
  const cache = new DiskCache(dir);
  const keys = await cache.readKeys();
  const cachedKeys = keys.status === 'ok' ? [...keys.value.pinned] : [];
  const trust = new TrustStore(pinned === 'tofu' ? cachedKeys : pinned);
  if (keys.status === 'ok') trust.learn(keys.value.published);
  const findings: Finding[] = [];
  if (keys.status === 'ignored')
    findings.push(problem('cache keys', `${keys.file}: ${keys.reason}`, `delete ${keys.file}; it is fetched again`));
  let good = 0;
  for (const name of readdirSync(dir).filter((file) => /^view-[0-9a-f]+\.json$/u.test(file))) {
    const path = join(dir, name);
    let view: ViewRef;
    try {
      view = (JSON.parse(readFileSync(path, 'utf8')) as { view: ViewRef }).view;
      if (typeof view?.namespace !== 'string' || !Array.isArray(view.labels)) throw new Error('no view');
    } catch {
      findings.push(problem('cache', `${path} is not a Herald view file`, `delete ${path}; the view is fetched again`));
      continue;
    }
    const read = await cache.readView(view, trust);
    if (read.status === 'ok' && cache.viewPath(view) === path) good += 1;
    else
      findings.push(
        problem(
          'cache',
          `${path} (${view.namespace}) does not verify: ${read.status === 'ignored' ? `${read.reason} [${read.code}]` : 'misnamed'}`,
          `delete ${path}; the view is fetched again (and find what altered it)`,
        ),
      );
  }
  if (findings.length === 0)
    findings.push(ok('cache', `${good} view(s) in ${dir}, each verified (signature, view, digest)`));
  return { findings, cachedKeys };
}

async function agentChecks(file: string, now: number): Promise<Finding[]> {
  let config;
  try {
    config = loadAgentConfig(file);
  } catch (error) {
    const detail = error instanceof AgentError ? error.message : (error as Error).message;
    return [problem('agent config', detail, `fix ${file}`)];
  }
  const findings: Finding[] = [ok('agent config', `${file}: ${config.subscriptions.length} subscription(s)`)];
  const pinned = config.trust === 'tofu' ? 'tofu' : config.trust.keys;
  let cachedKeys: PublicKeyInfo[] = [];
  if (config.cacheDir === undefined)
    findings.push(warning('cache', 'no cacheDir: a restart needs the control plane', 'set cacheDir in the config'));
  else {
    const cache = await cacheChecks(config.cacheDir, pinned);
    findings.push(...cache.findings);
    cachedKeys = cache.cachedKeys;
  }
  findings.push(...(await upstreamChecks(config.url, pinned, config.tls ?? {}, cachedKeys)));
  if (config.tls?.cert) findings.push(...checkCertificates('agent client (tls.cert)', config.tls.cert, now));
  if (config.tls?.ca) findings.push(...checkCertificates('agent CA (tls.ca)', config.tls.ca, now));
  return findings;
}

export async function runDoctor(flags: DoctorFlags, now: () => number): Promise<Finding[]> {
  const streams = parseCount(flags.streams, '--streams');
  const findings: Finding[] = [];
  const ca = flags.upstreamTlsCa === undefined ? undefined : readFileSync(flags.upstreamTlsCa, 'utf8');
  const secret = () => readSecretKey(flags.data ?? '.', flags.secretKeyFile);
  if (flags.data !== undefined) {
    const data = dataFolderChecks(flags.data, streams);
    findings.push(...data.findings);
    if (data.facts && flags.postgres === undefined) findings.push(...keyChecks(data.facts, secret(), now()));
  }
  if (flags.postgres !== undefined) {
    const store = await postgresChecks(flags.postgres);
    findings.push(...store.findings);
    if (store.facts) findings.push(...keyChecks(store.facts, secret(), now()));
  }
  if (flags.url !== undefined) findings.push(...(await serverChecks(flags.url, ca, now)));
  if (flags.agent !== undefined) findings.push(...(await agentChecks(flags.agent, now())));
  if (flags.upstream !== undefined) {
    const pinned = flags.trust === undefined ? 'tofu' : readTrustFile(flags.trust);
    findings.push(...(await upstreamChecks(flags.upstream, pinned, { ca }, [])));
  }
  for (const file of flags.cert) {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (error) {
      findings.push(problem(`certificate ${file}`, (error as Error).message, 'give a readable PEM file'));
      continue;
    }
    findings.push(...checkCertificates(file, pem, now()));
  }
  return findings;
}

const marks: Record<Finding['status'], string> = { ok: 'ok     ', warning: 'warning', problem: 'problem' };

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check a setup: data folder, PostgreSQL, a running server or relay, an agent or relay upstream and cache, certificates',
    )
    .option('--data <dir>', 'a server data folder: permissions, free space, open files, secret key, signing keys')
    .option('--secret-key-file <file>', 'the secret key, when it is not DATA/secret.key (or HERALD_SECRET_KEY)')
    .option('--postgres <url>', 'a PostgreSQL store: reachable, migrations current, one leader, keys')
    .option('--url <url>', 'a running server or relay: reachable, clock skew, readiness, its TLS certificate')
    .option(
      '--agent <file>',
      "an agent's config: upstream reachable, trust pinning, its cache verified, its certificates",
    )
    .option('--upstream <url>', "a relay's upstream: reachable and trusted (with --trust)")
    .option('--trust <file>', 'with --upstream: the pinned keys (the relay --trust file)')
    .option('--upstream-tls-ca <file>', "the CA (PEM) of --url's or --upstream's certificate")
    .option(
      '--cert <file>',
      'a PEM certificate (or bundle) to check for expiry (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option('--streams <n>', 'watch streams this node is expected to hold (for the open-files check)', '10000')
    .option('--json', 'the findings as JSON')
    .action(async (flags: DoctorFlags) => {
      if (
        flags.data === undefined &&
        flags.postgres === undefined &&
        flags.url === undefined &&
        flags.agent === undefined &&
        flags.upstream === undefined &&
        flags.cert.length === 0
      ) {
        if (!existsSync('herald-data'))
          throw new CliError(
            'say what to check: --data DIR, --postgres URL, --url URL, --agent FILE, --upstream URL or --cert FILE',
            2,
          );
        flags.data = 'herald-data';
      }
      const findings = await runDoctor(flags, () => Date.now());
      const problems = findings.filter((f) => f.status === 'problem').length;
      const warnings = findings.filter((f) => f.status === 'warning').length;
      if (flags.json) printJson({ ok: problems === 0, problems, warnings, findings });
      else
        for (const f of findings)
          printLine(`${marks[f.status]}  ${f.check}: ${f.detail}${f.next === undefined ? '' : ` — ${f.next}`}`);
      if (problems > 0)
        throw new CliError(`${problems} problem(s) found${warnings > 0 ? `, ${warnings} warning(s)` : ''}`);
    });
}
