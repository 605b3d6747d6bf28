import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { AuditChainVerifier, SecretCipher } from '@herald/core';
import { SqliteStore, type Store } from '@herald/store';
import type { CliErrorCode } from '../cli-codes.js';
import { CliError, printJson } from '../output.js';
import { checkReleases, checkSigningKeys, ReleaseLedger, type SigningKeysCheck } from '../release-check.js';
import { readSecretKey } from '../secret-key.js';

const unverifiedCode: CliErrorCode = 'backup_unverified';
/** A backup that does not verify: nothing is put in place. */
const unverified = (message: string): CliError => new CliError(message, 1, unverifiedCode);

/** What a restored (or backed-up) store was checked for before it is put in place. */
export interface StoreCheck {
  revision: number;
  namespaces: number;
  auditRecords: number;
  releases: number;
  signingKeys: SigningKeysCheck;
}

/**
 * Checks a store end to end: the audit chain verifies from its first record to its head; every
 * namespace's revision is its newest commit's and no later than the store's revision (no commit
 * lost from the middle of a namespace's history); every release is the one the audit chain recorded
 * (same seq, same revision, none missing); the signing keys' endorsements verify, each by the key
 * before it, and, with the secret key, each private key belongs to its public key.
 */
export async function checkStore(store: Store, cipher?: SecretCipher): Promise<StoreCheck> {
  const verifier = new AuditChainVerifier();
  const ledger = new ReleaseLedger();
  let afterSeq = 0;
  for (;;) {
    const page = await store.listAudit({ afterSeq, limit: 1000 });
    for (const record of page) {
      verifier.add(record);
      ledger.add(record);
    }
    const last = page.at(-1);
    if (!last || page.length < 1000) break;
    afterSeq = last.seq;
  }
  const audit = verifier.result();
  if (!audit.ok) throw unverified(`the audit chain does not verify: ${JSON.stringify(audit.firstBad)}`);
  const revision = await store.currentRevision();
  const namespaces = await store.listNamespaces({ limit: 100_000 });
  let releaseCount = 0;
  for (const ns of namespaces) {
    if (ns.revision > revision)
      throw unverified(`namespace ${ns.name} is at ${ns.revision}, past the store's ${revision}`);
    const [newest] = await store.listCommits({ namespace: ns.name, order: 'newest', limit: 1 });
    if (newest !== undefined && newest.revision !== ns.revision)
      throw unverified(`namespace ${ns.name} is at ${ns.revision} but its newest commit is ${newest.revision}`);
    const releases = await checkReleases(store, ns.name, ledger);
    if (!releases.ok) throw unverified(releases.problem);
    releaseCount += releases.releases;
  }
  if (cipher) {
    const recorded = await store.getSetting('secret_key_fingerprint');
    if (recorded !== undefined && recorded !== cipher.fingerprint())
      throw unverified(
        `the secret key (fingerprint ${cipher.fingerprint()}) is not this store's (fingerprint ${recorded}); give the server's key with --secret-key-file`,
      );
  }
  const keys = checkSigningKeys(await store.listSigningKeys(), cipher);
  if (!keys.ok) throw unverified(keys.problem);
  return {
    revision,
    namespaces: namespaces.length,
    auditRecords: audit.count,
    releases: releaseCount,
    signingKeys: keys.check,
  };
}

async function checkFile(path: string, cipher?: SecretCipher): Promise<StoreCheck> {
  const store = SqliteStore.open({ path });
  try {
    return await checkStore(store, cipher);
  } finally {
    await store.close();
  }
}

/** The secret key a server on this folder would use, to check the private signing keys with; none is fine. */
function cipherFor(data: string, keyFile: string | undefined): SecretCipher | undefined {
  const source = readSecretKey(data, keyFile);
  return source ? new SecretCipher(source.key) : undefined;
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('an online, consistent copy of the SQLite store (PostgreSQL: use pg_dump); checked after it is made')
    .option('--data <dir>', 'data folder of the server', 'herald-data')
    .requiredOption('--out <file>', 'the backup file to write (must not exist)')
    .action(async (flags: { data: string; out: string }) => {
      const source = join(flags.data, 'herald.db');
      if (!existsSync(source)) throw new CliError(`no store at ${source}`);
      if (existsSync(flags.out)) throw new CliError(`${flags.out} exists; choose a new file`);
      mkdirSync(dirname(flags.out), { recursive: true, mode: 0o700 });
      // SQLite's online backup copies one consistent snapshot while the server goes on writing.
      const db = new Database(source, { fileMustExist: true });
      try {
        await db.backup(flags.out);
      } finally {
        db.close();
      }
      chmodSync(flags.out, 0o600);
      printJson({ backup: flags.out, ...(await checkFile(flags.out)) });
    });
}

/**
 * `herald restore --from FILE`: puts a backup in place as the data folder's store after checking it
 * (the server must be stopped). Reached through the one `restore` command, which also restores a
 * namespace to a revision (`herald restore NS --to REV`); the contract keeps both forms.
 */
export async function restoreBackup(flags: {
  from: string;
  data: string;
  force?: boolean | undefined;
  secretKeyFile?: string | undefined;
}): Promise<void> {
  if (!existsSync(flags.from)) throw new CliError(`no backup at ${flags.from}`);
  const target = join(flags.data, 'herald.db');
  if (existsSync(target) && !flags.force) throw new CliError(`${target} exists; pass --force to replace it`);
  mkdirSync(flags.data, { recursive: true, mode: 0o700 });
  chmodSync(flags.data, 0o700);
  const staged = `${target}.restoring`;
  rmSync(staged, { force: true });
  const db = new Database(flags.from, { readonly: true, fileMustExist: true });
  try {
    await db.backup(staged);
  } finally {
    db.close();
  }
  chmodSync(staged, 0o600);
  let check: StoreCheck;
  try {
    check = await checkFile(staged, cipherFor(flags.data, flags.secretKeyFile));
  } catch (error) {
    rmSync(staged, { force: true });
    throw error;
  }
  for (const file of [target, `${target}-wal`, `${target}-shm`]) rmSync(file, { force: true });
  renameSync(staged, target);
  printJson({ restored: target, ...check });
}
