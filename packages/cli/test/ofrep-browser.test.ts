// OFREP from a browser (issue 17): Debian's chromium, driven by playwright-core, loads a page from
// an origin of its own that runs OpenFeature's web SDK with the OFREP web provider (the published
// packages, served to the page as ES modules through an import map), pointed at a real
// `herald server` child process and at a relay, across origins (CORS, with the preflight that the
// Authorization header causes). A toggle reaches the page by the provider's polling, with the
// ETag; a page from an origin the server does not name cannot read an answer.
//
// No duration is asserted: every wait is a bounded poll.
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { flagContentType } from '@herald/flags';
import { Relay } from '@herald/server';
import { eventually, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const chromiumPath = '/usr/bin/chromium';
const ns = 'web';
const here = dirname(fileURLToPath(import.meta.url));

/** A package's browser entry (its `module` file, else its ESM export), found as Node finds packages. */
function moduleFile(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        module?: string;
        exports?: { import?: string };
      };
      const entry = pkg.module ?? pkg.exports?.import;
      assert.ok(entry, `${name} has an ES module entry`);
      return join(dir, 'node_modules', name, entry);
    }
    assert.notEqual(dirname(dir), dir, `${name} is installed`);
  }
}

// The four modules of the web SDK and the OFREP web provider (each imports the next by name).
const webSdk = moduleFile('@openfeature/web-sdk', here);
const provider = moduleFile('@openfeature/ofrep-web-provider', here);
const modules: Record<string, string> = {
  '@openfeature/web-sdk': webSdk,
  '@openfeature/core': moduleFile('@openfeature/core', dirname(webSdk)),
  '@openfeature/ofrep-web-provider': provider,
  '@openfeature/ofrep-core': moduleFile('@openfeature/ofrep-core', dirname(provider)),
};

const pageScript = `
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
window.herald = {
  changes: [],
  async start(domain, baseUrl, token) {
    const provider = new OFREPWebProvider({
      baseUrl,
      headers: [['Authorization', 'Bearer ' + token]],
      changeDetection: 'polling',
      pollInterval: 300,
      cacheMode: 'disabled',
    });
    await OpenFeature.setContext(domain, { targetingKey: 'browser-1', email: 'kim@example.com' });
    const client = OpenFeature.getClient(domain);
    client.addHandler(ProviderEvents.ConfigurationChanged, (details) =>
      window.herald.changes.push({ domain, flags: details?.flagsChanged ?? [] }),
    );
    try {
      await OpenFeature.setProviderAndWait(domain, provider);
      return 'ready';
    } catch (error) {
      return 'failed: ' + String(error);
    }
  },
  details(domain, key) {
    const d = OpenFeature.getClient(domain).getBooleanDetails(key, false);
    return { value: d.value, variant: d.variant ?? null, reason: d.reason, errorCode: d.errorCode ?? null };
  },
};
`;

const pageHtml = `<!doctype html><html><head><meta charset="utf-8"><title>flags</title>
<script type="importmap">${JSON.stringify({ imports: Object.fromEntries(Object.keys(modules).map((name) => [name, `/modules/${name}`])) })}</script>
<script type="module" src="/page.js"></script></head><body>flags</body></html>`;

/** A static origin for the page: the HTML, its script, and the four modules (nothing else). */
async function startPageOrigin(): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const send = (type: string, body: string) => {
      response.writeHead(200, { 'content-type': type });
      response.end(body);
    };
    if (path === '/') return send('text/html; charset=utf-8', pageHtml);
    if (path === '/page.js') return send('text/javascript; charset=utf-8', pageScript);
    const file = modules[decodeURIComponent(path.replace(/^\/modules\//u, ''))];
    if (path.startsWith('/modules/') && file !== undefined) {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      createReadStream(normalize(file)).pipe(response);
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let relay: Relay;
let browser: Browser;
let allowedOrigin: string;
let otherOrigin: string;
let clientToken: string;

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function api(path: string, method: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(new URL(path, server.url), {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  assert.ok(response.status < 400, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const setBanner = (defaultVariant: 'on' | 'off') =>
  api(`/v1/namespaces/${ns}/entries/banner`, 'PUT', {
    value: {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant,
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@staff.example'] }, 'on', null] },
    },
    contentType: flagContentType,
  });

before(async () => {
  const allowed = await startPageOrigin();
  cleanups.push(() => new Promise((resolve) => allowed.server.close(resolve)));
  const other = await startPageOrigin();
  cleanups.push(() => new Promise((resolve) => other.server.close(resolve)));
  allowedOrigin = allowed.origin;
  otherOrigin = other.origin;

  const data = await tempDir('herald-ofrep-browser-');
  cleanups.push(() => data.cleanup());
  server = await startHeraldProcess([
    'server',
    '--data',
    data.path,
    '--listen',
    '127.0.0.1:0',
    '--no-ui',
    '--log-level',
    'error',
    '--cors-origin',
    allowedOrigin,
  ]);
  cleanups.push(() => server.kill('SIGKILL'));
  await api('/v1/namespaces', 'POST', { name: ns });
  await setBanner('off');
  const token = async () =>
    ((await api('/v1/tokens', 'POST', { scopes: [{ namespaces: ns, role: 'client' }] })) as { token: string }).token;
  clientToken = await token();

  const cache = await tempDir('herald-ofrep-browser-relay-');
  cleanups.push(() => cache.cleanup());
  relay = new Relay({
    upstream: server.url,
    token: await token(),
    trust: 'tofu',
    cacheDir: cache.path,
    logLevel: 'error',
    routeWaitSeconds: 1,
    corsOrigins: [allowedOrigin],
  });
  await relay.listen();
  cleanups.push(() => relay.close());

  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  cleanups.push(() => browser.close());
});

async function openPage(origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'herald' in globalThis, undefined, { timeout: 60_000 });
  return page;
}

interface Details {
  value: boolean;
  variant: string | null;
  reason: string;
  errorCode: string | null;
}

const start = (page: Page, domain: string, baseUrl: string) =>
  page.evaluate(
    ([d, b, t]) =>
      (globalThis as unknown as { herald: { start(d: string, b: string, t: string): Promise<string> } }).herald.start(
        d,
        b,
        t,
      ),
    [domain, baseUrl, clientToken] as const,
  );
const details = (page: Page, domain: string, key: string) =>
  page.evaluate(
    ([d, k]) => (globalThis as unknown as { herald: { details(d: string, k: string): Details } }).herald.details(d, k),
    [domain, key] as const,
  );

void test('a page on an allowed origin evaluates through the control plane and a relay, and sees a toggle', async () => {
  const page = await openPage(allowedOrigin);
  assert.equal(await start(page, 'cp', `${server.url}/v1/namespaces/${ns}`), 'ready');
  assert.equal(await start(page, 'relay', `${relay.url}/v1/namespaces/${ns}`), 'ready');
  for (const domain of ['cp', 'relay'])
    assert.deepEqual(
      await details(page, domain, 'banner'),
      { value: false, variant: 'off', reason: 'DEFAULT', errorCode: null },
      domain,
    );

  await setBanner('on');
  for (const domain of ['cp', 'relay']) {
    await eventually(async () => (await details(page, domain, 'banner')).value, {
      message: `the toggle to reach the page through ${domain}`,
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(await details(page, domain, 'banner'), {
      value: true,
      variant: 'on',
      reason: 'DEFAULT',
      errorCode: null,
    });
  }
  const changes = await page.evaluate(
    () => (globalThis as unknown as { herald: { changes: Array<{ domain: string; flags: string[] }> } }).herald.changes,
  );
  for (const domain of ['cp', 'relay'])
    assert.ok(
      changes.some((change) => change.domain === domain && change.flags.includes('banner')),
      `a configuration-changed event naming the flag through ${domain}: ${JSON.stringify(changes)}`,
    );
  await page.close();
});

void test('a page on another origin cannot read an evaluation (no CORS for it)', async () => {
  const page = await openPage(otherOrigin);
  const outcome = await start(page, 'cp', `${server.url}/v1/namespaces/${ns}`);
  assert.match(outcome, /^failed: /u, 'the provider does not become ready');
  const answer = await details(page, 'cp', 'banner');
  assert.equal(answer.value, false, 'the default value');
  assert.notEqual(answer.errorCode, null, `an error code: ${JSON.stringify(answer)}`);
  await page.close();
});
