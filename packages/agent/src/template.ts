import { AgentError } from './errors.js';

/**
 * The agent's template language, on purpose the smallest that does the job:
 *
 * - `{{ key }}` is replaced by the view's value of `key`: a string as it is, any other value as
 *   JSON (`8080`, `true`, `{"max":10}`).
 * - `{{ key | json }}` is always JSON (a string comes out quoted and escaped: handy inside a JSON
 *   or YAML file).
 * - `{{ "key" }}` quotes a key as a JSON string, for keys with `|` or surrounding spaces in them.
 * - `\{{` is a literal `{{`.
 *
 * Every other character is copied as it is. A placeholder that names a key the view does not have
 * fails the render (the release is rejected, the file keeps its content): a silently empty value in
 * a config file is worse than an old one. Substitution is one pass over the parsed template, so a
 * value that contains `{{` is never expanded again, and lookups use own keys only (`{{ constructor }}`
 * finds nothing unless the view has that key). No logic, loops, includes or code: a template
 * cannot run anything, read files, or reach outside the view's values.
 */

type Part = { kind: 'text'; text: string } | { kind: 'key'; key: string; json: boolean };

export interface Template {
  /** The keys the template needs, in order of first use. */
  readonly keys: readonly string[];
  render(values: Readonly<Record<string, unknown>>): string;
}

const jsonFilter = /^(.*?)\s*\|\s*json$/su;

function parseKey(inner: string, where: string): { key: string; json: boolean } {
  let text = inner.trim();
  let json = false;
  const filtered = jsonFilter.exec(text);
  if (filtered) {
    text = (filtered[1] ?? '').trim();
    json = true;
  } else if (/\|/u.test(text) && !text.startsWith('"')) {
    throw new AgentError('invalid_config', `${where}: unknown filter in "{{${inner}}}" (the only filter is "| json")`);
  }
  if (text.startsWith('"')) {
    let key: unknown;
    try {
      key = JSON.parse(text);
    } catch {
      throw new AgentError('invalid_config', `${where}: ${text} is not a valid quoted key`);
    }
    if (typeof key !== 'string') throw new AgentError('invalid_config', `${where}: ${text} is not a quoted key`);
    text = key;
  }
  if (text.length === 0) throw new AgentError('invalid_config', `${where}: empty placeholder "{{${inner}}}"`);
  return { key: text, json };
}

/** Parses a template once; throws `invalid_config` naming the line of an unclosed or empty placeholder. */
export function parseTemplate(source: string, name = 'template'): Template {
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open === -1) {
      text += source.slice(i);
      break;
    }
    if (open > 0 && source[open - 1] === '\\') {
      text += `${source.slice(i, open - 1)}{{`;
      i = open + 2;
      continue;
    }
    text += source.slice(i, open);
    const line = source.slice(0, open).split('\n').length;
    const close = source.indexOf('}}', open + 2);
    if (close === -1)
      throw new AgentError(
        'invalid_config',
        `${name} line ${line}: "{{" is not closed by "}}" (write "\\{{" for a literal "{{")`,
      );
    if (text) parts.push({ kind: 'text', text });
    text = '';
    parts.push({ kind: 'key', ...parseKey(source.slice(open + 2, close), `${name} line ${line}`) });
    i = close + 2;
  }
  if (text) parts.push({ kind: 'text', text });
  const keys = [...new Set(parts.flatMap((p) => (p.kind === 'key' ? [p.key] : [])))];
  return Object.freeze({
    keys: Object.freeze(keys),
    render(values: Readonly<Record<string, unknown>>): string {
      const missing = keys.filter((key) => !Object.hasOwn(values, key));
      if (missing.length > 0) {
        throw new AgentError(
          'render_failed',
          `${name} uses ${missing.map((k) => JSON.stringify(k)).join(', ')}, which the view does not have`,
        );
      }
      let out = '';
      for (const part of parts) {
        if (part.kind === 'text') {
          out += part.text;
          continue;
        }
        const value = values[part.key];
        out += !part.json && typeof value === 'string' ? value : JSON.stringify(value);
      }
      return out;
    },
  });
}
