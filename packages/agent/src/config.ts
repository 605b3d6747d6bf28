import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkDuration, checkLabel, checkNamespaceName, defaultLimits, type PublicKeyInfo } from '@herald/core';
import { isUsableKey, parseEndpointList, viewId } from '@herald/sdk/internal';
import { AgentError } from './errors.js';
import { outputFormats, type OutputFormat } from './render.js';
import { parseTemplate, type Template } from './template.js';

/** One view written to one file. */
export interface SubscriptionInput {
  namespace: string;
  /** The label stack, lowest priority first; a single string is one label. Default: no label. */
  labels?: string[] | string;
  /** The file to write (relative paths: from the config file's folder). */
  out: string;
  /** Default json. */
  format?: OutputFormat;
  /** The template file, for format template (and only then). */
  template?: string;
  /** The file's mode as an octal string ("0640"). Default "0644", or "0600" when the view carries secrets. */
  mode?: string;
  /** A shell command run after the file changed (reload the program). */
  exec?: string;
  /** How long exec may run: "30s" (the default), "2m", or milliseconds. */
  execTimeout?: string | number;
}

/** What `createAgent` takes: the YAML config file's content, or the same object built in code. */
/** Settings from flags or the environment: an absent or undefined one leaves the file's alone. */
export type ConfigOverrides = { [K in keyof AgentConfigInput]?: AgentConfigInput[K] | undefined };

export interface AgentConfigInput {
  /** The control plane or a relay; several in order of preference, separated by commas (or a YAML list). */
  url: string | readonly string[];
  /** A token with the client role on every namespace subscribed (or `tokenFile`). */
  token?: string;
  /** A file holding the token (surrounding whitespace ignored); read again when it changes (a rotation). */
  tokenFile?: string;
  /** A client certificate and key (PEM files) to present (mutual TLS), and the CA file of the server's certificate. */
  tls?: { cert?: string; key?: string; ca?: string };
  /** How the fleet knows this host. Default: the host name. */
  instanceId?: string;
  /** Reported with every report (region, zone, service…). */
  attributes?: Record<string, string>;
  /** A file with the control plane's public keys (`{"keys": [...]}` as `GET /v1/keys` answers). Default: trust on first use. */
  trust?: string;
  /** The verified cache: with it, a restart needs no control plane. */
  cacheDir?: string;
  /** Between periodic reports; default 30s. */
  reportInterval?: string | number;
  /** The local HTTP endpoint (off by default). */
  http?: { listen: string; serveSecrets?: boolean };
  subscriptions: SubscriptionInput[];
}

export interface Subscription {
  readonly namespace: string;
  readonly labels: readonly string[];
  /** The SDK's name for the view (subscriptions of one view share one watch). */
  readonly viewId: string;
  /** Absolute. */
  readonly out: string;
  readonly format: OutputFormat;
  readonly template: { readonly file: string; readonly parsed: Template } | undefined;
  /** undefined: 0o644, or 0o600 when the view carries secrets. */
  readonly mode: number | undefined;
  readonly exec: string | undefined;
  readonly execTimeoutMs: number;
}

/** A validated, frozen configuration. */
export interface AgentConfig {
  readonly url: string;
  /** The token as first read; with tokenFile, the agent follows the file from then on. */
  readonly token: string;
  /** Absolute; undefined when the token was given as such. */
  readonly tokenFile: string | undefined;
  /** The PEM text of the client certificate, its key and the server's CA, as read at start. */
  readonly tls: { readonly cert?: string; readonly key?: string; readonly ca?: string } | undefined;
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly trust: { readonly file: string; readonly keys: readonly PublicKeyInfo[] } | 'tofu';
  readonly cacheDir: string | undefined;
  readonly reportIntervalMs: number;
  readonly http: { readonly host: string; readonly port: number; readonly serveSecrets: boolean } | undefined;
  readonly subscriptions: readonly Subscription[];
}

/** The defaults, in one place. */
export const agentDefaults: Readonly<{
  format: OutputFormat;
  execTimeoutMs: number;
  reportIntervalMs: number;
  fileMode: number;
  secretFileMode: number;
}> = Object.freeze({
  format: 'json',
  execTimeoutMs: 30_000,
  reportIntervalMs: 30_000,
  fileMode: 0o644,
  secretFileMode: 0o600,
});

const topLevelKeys = new Set([
  'url',
  'token',
  'tokenFile',
  'tls',
  'instanceId',
  'attributes',
  'trust',
  'cacheDir',
  'reportInterval',
  'http',
  'subscriptions',
]);
const subscriptionKeys = new Set(['namespace', 'labels', 'out', 'format', 'template', 'mode', 'exec', 'execTimeout']);
const httpKeys = new Set(['listen', 'serveSecrets']);
const maxSubscriptions = 64;

const resolvedConfigs = new WeakSet<object>();

/** Whether `value` came out of resolveAgentConfig (so it need not be checked again). */
export function isAgentConfig(value: unknown): value is AgentConfig {
  return typeof value === 'object' && value !== null && resolvedConfigs.has(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === undefined)
    return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Reads a trust file: `{"keys": [...]}` as `GET /v1/keys` answers (or `herald keys list --json`), or the bare array. */
export function readTrustFile(path: string): PublicKeyInfo[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read trusted keys from ${path}: ${(error as Error).message}`);
  }
  const keys: unknown = Array.isArray(parsed) ? parsed : isObject(parsed) ? parsed.keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error(`${path} holds no keys (expected {"keys": [...]} as GET /v1/keys answers)`);
  keys.forEach((key, i) => {
    if (!isUsableKey(key))
      throw new Error(`${path}: keys[${i}] is not an Ed25519 public key ({keyId, publicKey, createdAt})`);
  });
  return keys as PublicKeyInfo[];
}

/** `127.0.0.1:7401`, `[::1]:7401` or `localhost:7401`; loopback only, since the endpoint has no authentication. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/u.exec(text);
  if (!match) throw new Error(`"${text}" is not HOST:PORT (e.g. 127.0.0.1:7401)`);
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback)
    throw new Error(
      `"${host}" is not a loopback address: the endpoint has no authentication, so it listens on 127.0.0.1, ::1 or localhost only`,
    );
  return { host, port };
}

/** "0640" → 0o640. */
function parseMode(value: unknown): number {
  if (typeof value !== 'string' || !/^0?[0-7]{3}$/u.test(value)) {
    throw new Error(
      `must be an octal string such as "0644" or "0640", not ${describe(value)}${typeof value === 'number' ? ' (quote it: YAML reads 0640 as the decimal number 640)' : ''}`,
    );
  }
  return Number.parseInt(value, 8);
}

/**
 * Validates the configuration once and freezes it. Relative paths (out, template, trust,
 * tokenFile, cacheDir) are taken from `baseDir` (default: the working folder). Reads the template,
 * trust and token files now, so a missing one is a config error, not a failure at the first
 * release. Throws one `invalid_config` AgentError whose `problems` lists every finding.
 */
export function resolveAgentConfig(input: AgentConfigInput, options: { baseDir?: string } = {}): AgentConfig {
  const baseDir = options.baseDir ?? process.cwd();
  const problems: string[] = [];
  const fail = (message: string): undefined => {
    problems.push(message);
    return undefined;
  };
  const path = (value: string): string => (isAbsolute(value) ? value : resolve(baseDir, value));
  const text = (where: string, value: unknown, required: boolean): string | undefined => {
    if (value === undefined) return required ? fail(`${where} is required`) : undefined;
    if (typeof value !== 'string' || value.trim() === '')
      return fail(`${where} must be a non-empty string, not ${describe(value)}`);
    return value;
  };
  const duration = (where: string, value: unknown, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const checked = checkDuration(value);
    if (checked.problem !== undefined) return fail(`${where} ${checked.problem}`) ?? fallback;
    if (checked.ms < min) return fail(`${where} must be at least ${min} ms`) ?? fallback;
    return checked.ms;
  };

  if (!isObject(input))
    throw new AgentError('invalid_config', `the agent configuration must be an object, not ${describe(input)}`, {
      problems: ['the configuration must be an object'],
    });
  for (const key of Object.keys(input))
    if (!topLevelKeys.has(key)) fail(`unknown setting "${key}" (known: ${[...topLevelKeys].join(', ')})`);

  // One URL, several separated by commas, or a YAML list: the endpoints in order of preference.
  const url = text(
    'url',
    Array.isArray(input.url) && input.url.every((u) => typeof u === 'string') ? input.url.join(',') : input.url,
    true,
  );
  if (url !== undefined) {
    try {
      parseEndpointList(url);
    } catch (error) {
      fail((error as Error).message);
    }
  }

  let token = text('token', input.token, false);
  const tokenFile = text('tokenFile', input.tokenFile, false);
  if (token !== undefined && tokenFile !== undefined) fail('give token or tokenFile, not both');
  else if (tokenFile !== undefined) {
    try {
      token = readFileSync(path(tokenFile), 'utf8').trim();
      if (token === '') fail(`tokenFile ${tokenFile} is empty`);
    } catch (error) {
      fail(`tokenFile: ${(error as Error).message}`);
    }
  }

  let tls: { cert?: string; key?: string; ca?: string } | undefined;
  if (input.tls !== undefined) {
    if (!isObject(input.tls)) fail(`tls must be an object ({cert, key, ca}: PEM files), not ${describe(input.tls)}`);
    else {
      tls = {};
      for (const [name, value] of Object.entries(input.tls)) {
        if (name !== 'cert' && name !== 'key' && name !== 'ca') fail(`tls.${name} is not a setting (cert, key, ca)`);
        else if (typeof value !== 'string' || value === '') fail(`tls.${name} must be a file name`);
        else {
          try {
            tls[name] = readFileSync(path(value), 'utf8');
          } catch (error) {
            fail(`tls.${name}: ${(error as Error).message}`);
          }
        }
      }
      if ((tls.cert === undefined) !== (tls.key === undefined)) fail('tls.cert and tls.key go together');
    }
  }
  if (token === undefined && tokenFile === undefined && tls?.cert === undefined)
    fail('token is required (or tokenFile, or a client certificate in tls; herald agent also reads HERALD_TOKEN)');

  const instanceId = text('instanceId', input.instanceId, false) ?? hostname();

  const attributes: Record<string, string> = {};
  if (input.attributes !== undefined) {
    if (!isObject(input.attributes)) fail(`attributes must be an object of strings, not ${describe(input.attributes)}`);
    else {
      for (const [name, value] of Object.entries(input.attributes)) {
        if (typeof value !== 'string') fail(`attributes.${name} must be a string, not ${describe(value)}`);
        else Object.defineProperty(attributes, name, { value, enumerable: true });
      }
    }
  }

  let trust: AgentConfig['trust'] = 'tofu';
  const trustFile = text('trust', input.trust, false);
  if (trustFile !== undefined) {
    try {
      trust = { file: path(trustFile), keys: readTrustFile(path(trustFile)) };
    } catch (error) {
      fail(`trust: ${(error as Error).message}`);
    }
  }

  const cacheDirText = text('cacheDir', input.cacheDir, false);
  const cacheDir = cacheDirText === undefined ? undefined : path(cacheDirText);
  const reportIntervalMs = duration('reportInterval', input.reportInterval, agentDefaults.reportIntervalMs, 1000);

  let http: AgentConfig['http'];
  if (input.http !== undefined) {
    if (!isObject(input.http)) fail(`http must be an object ({listen: "127.0.0.1:7401"}), not ${describe(input.http)}`);
    else {
      for (const key of Object.keys(input.http))
        if (!httpKeys.has(key)) fail(`unknown setting "http.${key}" (known: ${[...httpKeys].join(', ')})`);
      const listen = text('http.listen', input.http.listen, true);
      const serveSecrets = input.http.serveSecrets ?? false;
      if (typeof serveSecrets !== 'boolean')
        fail(`http.serveSecrets must be true or false, not ${describe(serveSecrets)}`);
      if (listen !== undefined) {
        try {
          http = { ...parseListen(listen), serveSecrets: serveSecrets === true };
        } catch (error) {
          fail(`http.listen: ${(error as Error).message}`);
        }
      }
    }
  }

  const subscriptions: Subscription[] = [];
  const given: unknown = input.subscriptions;
  if (!Array.isArray(given) || given.length === 0)
    fail('subscriptions must list at least one view to write ({namespace, out})');
  else if (given.length > maxSubscriptions) fail(`at most ${maxSubscriptions} subscriptions, not ${given.length}`);
  else {
    const outs = new Map<string, number>();
    (given as unknown[]).forEach((entry, i) => {
      const at = `subscriptions[${i}]`;
      if (!isObject(entry)) return fail(`${at} must be an object ({namespace, out, format…}), not ${describe(entry)}`);
      for (const key of Object.keys(entry))
        if (!subscriptionKeys.has(key))
          fail(`unknown setting "${at}.${key}" (known: ${[...subscriptionKeys].join(', ')})`);
      const namespace = text(`${at}.namespace`, entry.namespace, true);
      if (namespace !== undefined) {
        try {
          checkNamespaceName(namespace);
        } catch (error) {
          fail(`${at}.namespace: ${(error as Error).message}`);
        }
      }
      const rawLabels: unknown = typeof entry.labels === 'string' ? [entry.labels] : (entry.labels ?? []);
      let labels: string[] = [];
      if (!Array.isArray(rawLabels) || !rawLabels.every((l) => typeof l === 'string'))
        fail(`${at}.labels must be a list of strings, not ${describe(rawLabels)}`);
      else {
        labels = rawLabels;
        if (labels.length > defaultLimits.maxLabels) fail(`${at}.labels: at most ${defaultLimits.maxLabels} labels`);
        for (const label of labels) {
          try {
            checkLabel(label, defaultLimits);
          } catch (error) {
            fail(`${at}.labels: ${(error as Error).message}`);
          }
        }
      }
      const outText = text(`${at}.out`, entry.out, true);
      const out = outText === undefined ? undefined : path(outText);
      if (out !== undefined) {
        const other = outs.get(out);
        if (other !== undefined) fail(`${at}.out: subscriptions[${other}] writes ${out} too`);
        outs.set(out, i);
      }
      const format = (entry.format ?? agentDefaults.format) as OutputFormat;
      if (!outputFormats.includes(format))
        fail(`${at}.format must be one of ${outputFormats.join(', ')}, not ${describe(entry.format)}`);
      let template: Subscription['template'];
      const templateText = text(`${at}.template`, entry.template, format === 'template');
      if (templateText !== undefined && format !== 'template') fail(`${at}.template is only for format: template`);
      else if (templateText !== undefined) {
        const file = path(templateText);
        try {
          template = { file, parsed: parseTemplate(readFileSync(file, 'utf8'), file) };
        } catch (error) {
          fail(`${at}.template: ${(error as Error).message}`);
        }
      }
      let mode: number | undefined;
      if (entry.mode !== undefined) {
        try {
          mode = parseMode(entry.mode);
        } catch (error) {
          fail(`${at}.mode ${(error as Error).message}`);
        }
      }
      const exec = text(`${at}.exec`, entry.exec, false);
      const execTimeoutMs = duration(`${at}.execTimeout`, entry.execTimeout, agentDefaults.execTimeoutMs, 1);
      if (namespace === undefined || out === undefined) return undefined;
      subscriptions.push({
        namespace,
        labels,
        viewId: viewId(namespace, labels),
        out,
        format,
        template,
        mode,
        exec,
        execTimeoutMs,
      });
      return undefined;
    });
  }

  if (problems.length > 0) {
    const summary = problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.join('; ')}`;
    throw new AgentError('invalid_config', `invalid agent configuration: ${summary}`, { problems });
  }
  const config: AgentConfig = deepFreeze({
    url: url as string,
    token: token ?? '',
    tokenFile: tokenFile === undefined ? undefined : path(tokenFile),
    tls,
    instanceId,
    attributes,
    trust,
    cacheDir,
    reportIntervalMs,
    http,
    subscriptions,
  });
  resolvedConfigs.add(config);
  return config;
}

/**
 * Reads a YAML (or JSON) config file and validates it; relative paths in it are taken from the
 * file's folder. `overrides` (from command-line flags or the environment) fill settings the file
 * leaves out: `fill` only where the file has none, `force` over the file.
 */
export function loadAgentConfig(
  file: string,
  overrides: { fill?: ConfigOverrides; force?: ConfigOverrides } = {},
): AgentConfig {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new AgentError('invalid_config', `cannot read the agent configuration ${file}: ${(error as Error).message}`, {
      problems: [(error as Error).message],
    });
  }
  if (!isObject(parsed))
    throw new AgentError('invalid_config', `${file} must hold a mapping of settings (url, token, subscriptions…)`, {
      problems: ['not a mapping'],
    });
  const merged: Record<string, unknown> = { ...parsed };
  for (const [key, value] of Object.entries(overrides.fill ?? {}))
    if (merged[key] === undefined && value !== undefined) merged[key] = value;
  for (const [key, value] of Object.entries(overrides.force ?? {})) if (value !== undefined) merged[key] = value;
  // The file names either token or tokenFile; a token given from outside replaces both.
  if (overrides.force?.token !== undefined) delete merged.tokenFile;
  if (overrides.force?.tokenFile !== undefined) delete merged.token;
  if (overrides.fill?.token !== undefined && parsed.tokenFile !== undefined && parsed.token === undefined)
    delete merged.token;
  return resolveAgentConfig(merged as unknown as AgentConfigInput, { baseDir: dirname(resolve(file)) });
}
