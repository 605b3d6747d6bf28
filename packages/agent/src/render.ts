import { stringify as toYaml } from 'yaml';
import { AgentError } from './errors.js';
import type { Template } from './template.js';

export const outputFormats = ['json', 'yaml', 'env', 'template'] as const;
export type OutputFormat = (typeof outputFormats)[number];

type Values = Readonly<Record<string, unknown>>;

/** A plain object with the view's keys in order (the view's own object has a null prototype). */
function plain(values: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(values))
    Object.defineProperty(out, key, { value: values[key], enumerable: true, writable: true, configurable: true });
  return out;
}

/** `json`: the view's values as ONE JSON object, key → value (a fixed contract), two-space indented. */
export function renderJson(values: Values): string {
  return `${JSON.stringify(plain(values), null, 2)}\n`;
}

/**
 * `yaml`: the same object as a YAML mapping. Written for YAML 1.1 readers too (PyYAML, go-yaml v2):
 * a string such as `yes`, `on` or `0755` is quoted, so no reader takes it for a boolean or a number.
 */
export function renderYaml(values: Values, header: string): string {
  const body = Object.keys(values).length === 0 ? '{}\n' : toYaml(plain(values), { version: '1.1', lineWidth: 0 });
  return `${header}${body}`;
}

/** The environment variable name of a key: upper case, every character but A-Z and 0-9 becomes `_`, and a leading digit gets a `_` before it. */
export function envName(key: string): string {
  const name = key.toUpperCase().replace(/[^A-Z0-9]/gu, '_');
  return /^[0-9]/u.test(name) ? `_${name}` : name;
}

// Left bare: nothing any .env reader (sh, systemd, docker, dotenv) treats specially.
const bareValue = /^[A-Za-z0-9_@%+=:,./-]+$/u;

/**
 * One value as it appears after `NAME=`: a string as it is, any other value as its JSON text; bare
 * when it has only `A-Z a-z 0-9 _ @ % + = : , . / -`, empty for "", else in double quotes with `\`,
 * `"`, `$` and `` ` `` escaped by a backslash and a newline written `\n` (a carriage return `\r`).
 */
export function envValue(value: unknown, key = ''): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text.includes('\u0000'))
    throw new AgentError(
      'render_failed',
      `env: the value of "${key}" contains a NUL character, which no environment variable can hold`,
    );
  if (text === '') return '';
  if (bareValue.test(text)) return text;
  const escaped = text
    .replace(/[\\"$`]/gu, (c) => `\\${c}`)
    .replace(/\n/gu, '\\n')
    .replace(/\r/gu, '\\r');
  return `"${escaped}"`;
}

/** `env`: `NAME=value` lines sorted by name (see envName and envValue); two keys with one name fail the render. */
export function renderEnv(values: Values, header: string): string {
  const byName = new Map<string, string>();
  for (const key of Object.keys(values)) {
    const name = envName(key);
    const other = byName.get(name);
    if (other !== undefined)
      throw new AgentError('render_failed', `env: keys "${other}" and "${key}" both become ${name}`);
    byName.set(name, key);
  }
  const lines = [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, key]) => `${name}=${envValue(values[key], key)}\n`);
  return `${header}${lines.join('')}`;
}

export interface RenderTarget {
  readonly format: OutputFormat;
  readonly template: { readonly parsed: Template } | undefined;
  readonly namespace: string;
  readonly labels: readonly string[];
}

function header(target: RenderTarget): string {
  const labels = target.labels.filter((l) => l !== '');
  return `# Written by herald agent from namespace ${target.namespace}${labels.length > 0 ? `, labels ${labels.join(', ')}` : ''}; local edits are overwritten.\n`;
}

/** The bytes of a subscription's file for these values; throws `render_failed` when they do not fit the format. */
export function render(target: RenderTarget, values: Values): string {
  switch (target.format) {
    case 'json':
      return renderJson(values);
    case 'yaml':
      return renderYaml(values, header(target));
    case 'env':
      return renderEnv(values, header(target));
    case 'template':
      if (!target.template) throw new AgentError('render_failed', 'no template');
      return target.template.parsed.render(values);
  }
}
