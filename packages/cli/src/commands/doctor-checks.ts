// The checks of `herald doctor` as pure functions: each takes facts gathered elsewhere (a mode, a
// count, a date) and says ok, warning or problem, with the next step. Gathering is in doctor.ts.
import { X509Certificate } from 'node:crypto';

export type FindingStatus = 'ok' | 'warning' | 'problem';

export interface Finding {
  /** What was checked, e.g. `data folder` or `certificate server.pem`. */
  check: string;
  status: FindingStatus;
  /** What was found, in words. */
  detail: string;
  /** The next step, for a warning or a problem. */
  next?: string;
}

export const day = 86_400_000;
/** A signing key older than this is due for rotation (docs/operations.md, "herald doctor"). */
export const signingKeyRotationMs = 365 * day;
export const certificateWarningMs = 30 * day;
export const certificateProblemMs = 7 * day;
/** Descriptors a server needs besides its streams: the store, the listener, logs, peers. */
export const fileDescriptorReserve = 256;

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

export function ok(check: string, detail: string): Finding {
  return { check, status: 'ok', detail };
}

export function warning(check: string, detail: string, next: string): Finding {
  return { check, status: 'warning', detail, next };
}

export function problem(check: string, detail: string, next: string): Finding {
  return { check, status: 'problem', detail, next };
}

/** A folder or file that only its owner may read: no bit for group or others. */
export function checkMode(path: string, mode: number, kind: 'folder' | 'file'): Finding {
  const check = kind === 'folder' ? 'data folder' : `file ${path}`;
  if ((mode & 0o077) === 0) return ok(check, `${path} is ${octal(mode)}`);
  return problem(
    check,
    `${path} is ${octal(mode)}: other local users can read it`,
    `chmod ${kind === 'folder' ? '700' : '600'} ${path}`,
  );
}

export function checkFreeSpace(path: string, available: number, total: number): Finding {
  const share = total > 0 ? available / total : 0;
  const detail = `${formatBytes(available)} free of ${formatBytes(total)} (${Math.round(share * 100)} %) at ${path}`;
  if (available < 256 * 2 ** 20 || share < 0.05)
    return problem(
      'free space',
      detail,
      'free space or grow the volume: a store that cannot write refuses every commit',
    );
  if (available < 2 ** 30 || share < 0.15)
    return warning('free space', detail, 'plan more space (herald compact drops history no release needs)');
  return ok('free space', detail);
}

/** The soft open-files limit against the streams this node is expected to hold. */
export function checkOpenFiles(soft: number | undefined, hard: number | undefined, streams: number): Finding {
  const needed = streams + fileDescriptorReserve;
  if (soft === undefined)
    return warning('open files', 'the open-files limit could not be read', `make sure it is at least ${needed}`);
  const detail = `limit ${soft} (hard ${hard ?? 'unknown'}) for ${streams} expected streams (${needed} needed)`;
  if (soft >= needed) return ok('open files', detail);
  return problem(
    'open files',
    detail,
    hard !== undefined && hard >= needed
      ? `raise it where the server starts: ulimit -n ${needed} (systemd: LimitNOFILE=${needed})`
      : `raise the hard limit too (systemd: LimitNOFILE=${needed}; /etc/security/limits.conf)`,
  );
}

/** The secret key against the fingerprint the store recorded (none recorded: a store without a server yet). */
export function checkSecretKey(
  present: { origin: string; fingerprint: string } | undefined,
  recorded: string | undefined,
): Finding {
  if (present === undefined) {
    if (recorded === undefined)
      return ok('secret key', 'none yet; the server makes one (secret.key, 0600) on first start');
    return problem(
      'secret key',
      `missing: the store's secrets and signing keys are encrypted with the key of fingerprint ${recorded}`,
      'put the key back as DATA/secret.key, or give it with --secret-key-file or HERALD_SECRET_KEY',
    );
  }
  if (recorded === undefined) return ok('secret key', `${present.origin} (fingerprint ${present.fingerprint})`);
  if (present.fingerprint === recorded)
    return ok('secret key', `${present.origin} matches the store (fingerprint ${recorded})`);
  return problem(
    'secret key',
    `${present.origin} (fingerprint ${present.fingerprint}) is not the key of this store (fingerprint ${recorded}): the server refuses to start`,
    'give the key the store was made with (every node needs the same one)',
  );
}

export function checkSigningKeyAge(newest: { keyId: string; createdAt: number } | undefined, now: number): Finding {
  if (newest === undefined) return ok('signing key age', 'no signing key yet; the server makes one on first start');
  const age = now - newest.createdAt;
  const detail = `${newest.keyId} signs, made ${Math.floor(age / day)} days ago`;
  if (age > signingKeyRotationMs)
    return warning('signing key age', `${detail}: past the yearly rotation`, 'herald keys rotate');
  return ok('signing key age', detail);
}

export function checkMigrations(what: string, applied: number, known: number, migrate: string): Finding {
  const check = `${what} migrations`;
  if (applied === known) return ok(check, `at ${applied} of ${known}`);
  if (applied < known) return problem(check, `at ${applied} of ${known}: behind this herald`, migrate);
  return problem(
    check,
    `at ${applied}, past the ${known} this herald knows`,
    'run a herald as new as the one that migrated it',
  );
}

/** The local clock against a server's Date header (one-second resolution, so a second of skew is noise). */
export function checkClockSkew(url: string, serverDate: string | null, now: number): Finding {
  if (serverDate === null) return warning('clock skew', `${url} sent no Date header`, 'check what is in front of it');
  const skew = now - Date.parse(serverDate);
  if (Number.isNaN(skew))
    return warning('clock skew', `${url} sent an unreadable Date: ${serverDate}`, 'check what is in front of it');
  const detail = `${Math.abs(skew) < 1500 ? 'within a second of' : `${(skew / 1000).toFixed(0)} s off`} ${url}`;
  if (Math.abs(skew) > 30_000)
    return problem('clock skew', detail, 'synchronise the clocks (NTP): token expiry and rollout bakes use them');
  if (Math.abs(skew) > 5_000) return warning('clock skew', detail, 'synchronise the clocks (NTP)');
  return ok('clock skew', detail);
}

/** Every certificate of a PEM file (a bundle has several) against its expiry. */
export function checkCertificates(label: string, pem: string, now: number): Finding[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/gu) ?? [];
  if (blocks.length === 0) return [problem(`certificate ${label}`, 'holds no PEM certificate', 'give a PEM file')];
  return blocks.map((block) => {
    const cert = new X509Certificate(block);
    const check = `certificate ${label}${blocks.length > 1 ? ` (${cert.subject.replace(/\n/gu, ', ')})` : ''}`;
    const expires = Date.parse(cert.validTo);
    const left = expires - now;
    const when = new Date(expires).toISOString();
    if (left <= 0) return problem(check, `expired ${when}`, 'issue a new certificate and restart what presents it');
    const detail = `expires ${when}, in ${Math.floor(left / day)} days`;
    if (left < certificateProblemMs) return problem(check, detail, 'renew it now');
    if (left < certificateWarningMs) return warning(check, detail, 'renew it soon');
    return ok(check, detail);
  });
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Soft and hard "Max open files" from /proc/self/limits text. */
export function parseOpenFilesLimit(limits: string): { soft: number | undefined; hard: number | undefined } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/mu.exec(limits);
  const num = (text: string | undefined) =>
    text === undefined ? undefined : text === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(text);
  return { soft: num(line?.[1]), hard: num(line?.[2]) };
}
