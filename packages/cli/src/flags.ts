// The flags several commands share, and the parsing of flag values, in one place: how the URL and
// the token are found (flag, then environment, then default), repeatable flags, NAME=VALUE pairs,
// numbers, listen addresses and trust files. A bad value is a usage error (exit 2) naming the flag.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { PublicKeyInfo } from '@herald/core';
import { CliError } from './output.js';

export const defaultUrl = 'http://127.0.0.1:8420';

/** The flags every command that talks to Herald has. */
export interface ConnectionFlags {
  url?: string;
  token?: string;
  /** Change control's emergency paths (changeControlCommand), each needing --reason. */
  bypassApproval?: boolean;
  overrideWindow?: boolean;
  reason?: string;
  json?: boolean;
}

export interface ClientFlags extends ConnectionFlags {
  json?: boolean;
}

/** For a repeatable flag: `.option('--label <label>', '…', collect)`. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * The label stack a view command resolves: the default label under the labels given (`--label prod`
 * means ["", "prod"], as SDK users write it), unless `--exact-labels` asks for the stack literally.
 */
export function labelStack(labels: readonly string[] | undefined, exact = false): string[] {
  const given = labels ?? [];
  if (exact || given.length === 0 || given[0] === '') return [...given];
  return ['', ...given];
}

export const labelFlagHelp = 'label over the default label, lowest priority first (repeatable)';
export const exactLabelsFlagHelp = 'take the --label stack literally, without the default label under it';

/** --url, else HERALD_URL, else the default; an empty HERALD_URL counts as unset, as an empty HERALD_TOKEN does. */
export function resolveUrl(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): string {
  return flags.url ?? (env.HERALD_URL || defaultUrl);
}

/** --token, else HERALD_TOKEN; undefined when neither is set. */
export function optionalToken(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flags.token ?? (env.HERALD_TOKEN || undefined);
}

/** The token of a command that cannot work without one. */
export function requireToken(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): string {
  const token = optionalToken(flags, env);
  if (!token) throw new CliError('a token is needed: set HERALD_TOKEN or pass --token', 2);
  return token;
}

/** Adds --url, --token and --json to an admin command. */
export function clientCommand(command: Command): Command {
  return command
    .option('--url <url>', `control plane URL (env HERALD_URL, default ${defaultUrl})`)
    .option('--token <token>', 'bearer token (env HERALD_TOKEN)')
    .option('--json', 'machine-readable output');
}

/**
 * Adds change control's emergency paths to a command that writes or releases: an admin bypasses
 * the namespace's approval, or a change window, with a reason (both audited).
 */
export function changeControlCommand(command: Command): Command {
  return command
    .option('--bypass-approval', 'admin: commit or release now though the namespace requires approval (needs --reason)')
    .option('--override-window', 'admin: release inside a change window (needs --reason)')
    .option('--reason <text>', 'why, for --bypass-approval, --override-window and (release) --force (audited)');
}

/** Adds --url and --token to a command that follows views as a client (watch, simulate, agent). */
export function viewerCommand(command: Command): Command {
  return command
    .option('--url <url>', `control plane or relay URL (env HERALD_URL, default ${defaultUrl})`)
    .option('--token <token>', 'token with the client role (env HERALD_TOKEN)');
}

/** `NAME=VALUE` → [NAME, VALUE]; the value may be empty or hold "=", the name may not be empty. */
export function parsePair(text: string, flag: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new CliError(`${flag} must be NAME=VALUE, got "${text}"`, 2);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** Repeated `NAME=VALUE` flags as one record (a later NAME wins). */
export function parsePairs(texts: readonly string[], flag: string): Record<string, string> {
  return Object.fromEntries(texts.map((text) => parsePair(text, flag)));
}

/** A revision number (0 or more). */
export function parseRevision(text: string, flag: string): number {
  if (!/^\d+$/u.test(text)) throw new CliError(`${flag} must be a revision number, got "${text}"`, 2);
  return Number(text);
}

/** `--since`: a time (anything Date.parse reads, e.g. 2026-05-01T12:00Z) or a duration back from `now` (30s, 30m, 2h, 7d). */
export function parseSince(text: string, flag: string, now = Date.now()): number {
  const duration = /^(\d+)\s*(s|m|min|h|d)$/u.exec(text);
  if (duration) {
    const unit = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[
      duration[2] as 's' | 'm' | 'min' | 'h' | 'd'
    ];
    return now - Number(duration[1]) * unit;
  }
  const time = Date.parse(text);
  if (Number.isNaN(time))
    throw new CliError(`${flag} must be a time (2026-05-01T12:00Z) or a duration (30m, 2h, 7d), got "${text}"`, 2);
  return time;
}

/** A whole number from `min` to `max`. */
export function parseCount(text: string, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\d+$/u.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new CliError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`, 2);
  return value;
}

/** `HOST:PORT`, the host in brackets when it is an IPv6 address. */
export function parseListen(value: string, flag = '--listen'): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/u.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new CliError(`${flag} must be HOST:PORT, got "${value}"`, 2);
  return { host: (match[1] as string).replace(/^\[|\]$/gu, ''), port };
}

/** A trust file holds `{"keys": [...]}` as `GET /v1/keys` answers, or just the array. */
export function readTrustFile(path: string): PublicKeyInfo[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read trusted keys from ${path}: ${(error as Error).message}`);
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new CliError(`${path} holds no keys (expected {"keys": [...]} as GET /v1/keys answers)`);
  return keys as PublicKeyInfo[];
}

/** --trust FILE, or trust on first use without it. */
export function trustFlag(path: string | undefined): PublicKeyInfo[] | 'tofu' {
  return path ? readTrustFile(path) : 'tofu';
}

/** The per-token caps of a node that serves the watch API (server and relay alike). */
export interface TokenCapFlags {
  maxStreamsPerToken: string;
  reportsPerSecondPerToken: string;
  reportBurstPerToken: string;
}

type TokenCaps = { maxStreamsPerToken: number; reportsPerSecondPerToken: number; reportBurstPerToken: number };

export function tokenCapOptions(command: Command, defaults: TokenCaps): Command {
  return command
    .option(
      '--max-streams-per-token <n>',
      'watch streams one token (or client certificate) may hold on this node; past it 429 too_many_streams',
      String(defaults.maxStreamsPerToken),
    )
    .option(
      '--reports-per-second-per-token <n>',
      'reports one token may send per second once its burst is spent; past it 429 report_rate_limited',
      String(defaults.reportsPerSecondPerToken),
    )
    .option(
      '--report-burst-per-token <n>',
      'reports one token may send at once (a fleet on one token reporting a release together)',
      String(defaults.reportBurstPerToken),
    );
}

export function tokenCaps(flags: TokenCapFlags): TokenCaps {
  return {
    maxStreamsPerToken: parseCount(flags.maxStreamsPerToken, '--max-streams-per-token', 1, 1_000_000),
    reportsPerSecondPerToken: parseCount(
      flags.reportsPerSecondPerToken,
      '--reports-per-second-per-token',
      1,
      1_000_000,
    ),
    reportBurstPerToken: parseCount(flags.reportBurstPerToken, '--report-burst-per-token', 1, 10_000_000),
  };
}

export interface CorsFlags {
  corsOrigin?: string[];
}

/** `--cors-origin`, shared by the server and the relay: browser pages allowed to call OFREP across origins. */
export function corsOption(command: Command): Command {
  return command.option(
    '--cors-origin <origin>',
    'a browser origin (https://app.example.com, or *) allowed to call OFREP evaluation across origins; repeatable (env HERALD_CORS_ORIGINS, comma-separated)',
    collect,
  );
}

/** The flags' origins, else HERALD_CORS_ORIGINS; the configuration check names a malformed one. */
export function corsOrigins(flags: CorsFlags, env: NodeJS.ProcessEnv = process.env): string[] {
  if (flags.corsOrigin !== undefined) return flags.corsOrigin;
  return (env.HERALD_CORS_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
}
