// The output formats and the template language: what each writes, and the rules of the env
// format checked against a real POSIX shell reading the file back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  envName,
  envValue,
  parseTemplate,
  render,
  renderEnv,
  renderJson,
  renderYaml,
  type RenderTarget,
} from '@herald/agent';

const run = promisify(execFile);

/** Views arrive as null-prototype objects with sorted keys. */
function view(values: Record<string, unknown>): Readonly<Record<string, unknown>> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(values).sort()) out[key] = values[key];
  return Object.freeze(out);
}

const sample = view({
  'db/pool/max': 10,
  'feature.on': true,
  name: 'payments',
  limits: { rps: 50, burst: [1, 2] },
  nothing: null,
  ratio: 0.25,
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-agent-render-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('json', () => {
  void it('is the view as ONE JSON object, key → value', () => {
    const text = renderJson(sample);
    assert.ok(text.endsWith('}\n'));
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(parsed, {
      'db/pool/max': 10,
      'feature.on': true,
      limits: { rps: 50, burst: [1, 2] },
      name: 'payments',
      nothing: null,
      ratio: 0.25,
    });
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
  });

  void it('an empty view is an empty object', () => {
    assert.deepEqual(JSON.parse(renderJson(view({}))), {});
  });
});

void describe('yaml', () => {
  void it('is the same object as a YAML mapping, after a comment line', () => {
    const text = renderYaml(sample, '# header\n');
    assert.ok(text.startsWith('# header\n'));
    assert.deepEqual(parseYaml(text), JSON.parse(renderJson(sample)));
  });

  void it('quotes strings that a YAML 1.1 reader would take for booleans or numbers', () => {
    const tricky = view({ a: 'yes', b: 'on', c: '0755', d: 'null', e: '1e3', f: 'plain' });
    const text = renderYaml(tricky, '');
    // Read back under both YAML versions: every value stays the string it was.
    assert.deepEqual(parseYaml(text, { version: '1.1' }), { ...tricky });
    assert.deepEqual(parseYaml(text, { version: '1.2' }), { ...tricky });
  });

  void it('an empty view is {}', () => {
    assert.deepEqual(parseYaml(renderYaml(view({}), '')), {});
  });
});

void describe('env', () => {
  void it('names: upper case, every character but A-Z 0-9 becomes _, a leading digit gets a _', () => {
    assert.equal(envName('db/pool/max'), 'DB_POOL_MAX');
    assert.equal(envName('feature.on'), 'FEATURE_ON');
    assert.equal(envName('9lives'), '_9LIVES');
    assert.equal(envName('café-au-lait'), 'CAF__AU_LAIT');
  });

  void it('values: strings as they are, others as JSON; bare when safe, else double-quoted with escapes', () => {
    assert.equal(envValue('payments'), 'payments');
    assert.equal(envValue('postgres://db:5432/app'), 'postgres://db:5432/app');
    assert.equal(envValue(10), '10');
    assert.equal(envValue(true), 'true');
    assert.equal(envValue(null), 'null');
    assert.equal(envValue(''), '');
    assert.equal(envValue('two words'), '"two words"');
    assert.equal(envValue({ a: 1 }), '"{\\"a\\":1}"');
    assert.equal(envValue('a$b`c\\d"e'), '"a\\$b\\`c\\\\d\\"e"');
    assert.equal(envValue('line1\nline2'), '"line1\\nline2"');
    assert.throws(() => envValue('a\u0000b', 'k'), { code: 'render_failed' });
  });

  void it('lines are sorted by name; two keys with one name fail the render, naming both', () => {
    const text = renderEnv(view({ zeta: 1, alpha: 'x' }), '# h\n');
    assert.equal(text, '# h\nALPHA=x\nZETA=1\n');
    assert.throws(
      () => renderEnv(view({ 'db.pool': 1, 'db/pool': 2 }), ''),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'render_failed');
        assert.match(error.message, /"db\.pool" and "db\/pool" both become DB_POOL/u);
        return true;
      },
    );
  });

  void it('a POSIX shell that sources the file gets every value back exactly', async () => {
    const values = view({
      plain: 'payments',
      spaced: 'two  words and\ttab',
      quotes: `it's "quoted"`,
      dollar: '$HOME and ${PATH} and $(whoami) and `id`',
      backslash: 'C:\\dir\\file \\n not a newline',
      hash: 'a # not a comment',
      equals: 'k=v;x=y',
      unicode: 'héllo wörld ✓',
      number: 42,
      object: { nested: ['a', "b'c"], ok: true },
      empty: '',
    });
    const file = join(dir, 'sourced.env');
    await writeFile(file, renderEnv(values, '# comment\n'));
    const names = Object.keys(values).map(envName);
    // Print each variable as JSON so that the comparison is exact.
    const script = `set -a; . "$1"; set +a; node -e 'const o={}; for (const n of process.argv.slice(1)) o[n]=process.env[n]; process.stdout.write(JSON.stringify(o))' ${names.join(' ')}`;
    const { stdout } = await run('/bin/sh', ['-c', script, 'sh', file]);
    const got = JSON.parse(stdout) as Record<string, string>;
    for (const key of Object.keys(values)) {
      const value = values[key];
      assert.equal(
        got[envName(key)],
        typeof value === 'string' ? value : JSON.stringify(value),
        `round trip of ${key}`,
      );
    }
  });
});

void describe('template', () => {
  void it('{{ key }} puts a string as it is and any other value as JSON; | json always JSON', () => {
    const template = parseTemplate(
      'max={{ db/pool/max }} name={{name}} quoted={{ name | json }} limits={{ limits }}\n',
    );
    assert.deepEqual(template.keys, ['db/pool/max', 'name', 'limits']);
    assert.equal(template.render(sample), 'max=10 name=payments quoted="payments" limits={"rps":50,"burst":[1,2]}\n');
  });

  void it('"quoted" keys, \\{{ for a literal {{, and values are never expanded again', () => {
    const values = view({ 'a | b': 'x', v: '{{ v }}' });
    assert.equal(parseTemplate('{{ "a | b" }} \\{{ literal }} {{ v }}').render(values), 'x {{ literal }} {{ v }}');
  });

  void it('a key the view lacks fails the render (no silent empty value), own keys only', () => {
    const template = parseTemplate('{{ name }} {{ constructor }} {{ missing }}', 'app.tmpl');
    assert.throws(
      () => template.render(sample),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'render_failed');
        assert.match(error.message, /app\.tmpl uses "constructor", "missing"/u);
        return true;
      },
    );
  });

  void it('bad templates are refused when parsed, with the line', () => {
    assert.throws(() => parseTemplate('ok\nbad {{ name', 't'), /t line 2: "\{\{" is not closed/u);
    assert.throws(() => parseTemplate('{{  }}', 't'), /empty placeholder/u);
    assert.throws(() => parseTemplate('{{ name | upper }}', 't'), /unknown filter/u);
  });

  void it('render() dispatches on the format', () => {
    const base = { namespace: 'payments', labels: ['', 'prod'], template: undefined };
    const target = (format: RenderTarget['format']): RenderTarget => ({ ...base, format });
    assert.deepEqual(JSON.parse(render(target('json'), sample)), JSON.parse(renderJson(sample)));
    assert.match(render(target('yaml'), sample), /^# Written by herald agent from namespace payments, labels prod;/u);
    assert.match(render(target('env'), sample), /\nDB_POOL_MAX=10\n/u);
    assert.equal(
      render({ ...base, format: 'template', template: { parsed: parseTemplate('{{ name }}') } }, sample),
      'payments',
    );
  });
});
