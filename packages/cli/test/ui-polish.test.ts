// The web UI polished (issue 20), end to end: a real `herald server` child process serving the
// built UI, Debian's chromium driven by playwright-core. Dark mode from the system preference and
// from the remembered toggle, with WCAG AA contrast computed from the rendered colours in both
// themes; no page-level horizontal scroll at 420 and 800 px on every screen; the code editor with
// problems at their place; secrets masked until an audited reveal; the offline banner when the
// server is killed (by PID) and its disappearance when it is back; 300 namespaces from a bounded
// number of requests; a fleet of 10,000 instances in a virtualised list.
//
// Nothing here asserts a duration: the time to interactive of the namespaces page is measured and
// printed as a test diagnostic. Screenshots (light and dark) go to docs/screenshots/ with
// HERALD_UPDATE_SCREENSHOTS=1, else to a temp folder.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { eventually, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const chromiumPath = '/usr/bin/chromium';
const uiDist = fileURLToPath(new URL('../../../ui/dist', import.meta.url));
const screenshotDir =
  process.env.HERALD_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../../docs/screenshots', import.meta.url))
    : undefined;
const uiTimeout = 60_000;
const ns = 'payments';
const secretValue = 'hunter2-very-secret-value';
const namespaceCount = 300;
const fleetSize = 10_000;

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let serverArgs: string[];
let baseUrl: string;
let context: BrowserContext;
let page: Page;
let shots: string;
const pageErrors: string[] = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function api<T = Record<string, unknown>>(path: string, init: { method?: string; body?: unknown } = {}) {
  const response = await fetch(new URL(path, baseUrl), {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${testAdminToken}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  assert.ok(response.ok, `${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

async function see(locator: Locator, timeout = uiTimeout): Promise<Locator> {
  await locator.first().waitFor({ state: 'visible', timeout });
  return locator.first();
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

async function signIn(): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('Token').fill(testAdminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await see(page.getByTestId('whoami'));
}

/** Waits for a screen to have drawn what it shows (its marker visible), then lets layout settle. */
async function open(path: string, marker: (page: Page) => Locator): Promise<void> {
  await page.goto(`${baseUrl}${path}`);
  await see(marker(page));
}

const screens: Array<{ name: string; path: string; marker: (page: Page) => Locator }> = [
  { name: 'namespaces', path: '/', marker: (p) => p.getByTestId(`ns-row-${ns}`) },
  { name: 'audit', path: '/audit', marker: (p) => p.getByTestId('chain') },
  { name: 'entries', path: `/ns/${ns}/entries`, marker: (p) => p.getByTestId('entries') },
  { name: 'history', path: `/ns/${ns}/history`, marker: (p) => p.getByTestId('history') },
  { name: 'rollout', path: `/ns/${ns}/rollout`, marker: (p) => p.getByTestId('policy') },
  { name: 'fleet', path: `/ns/${ns}/fleet`, marker: (p) => p.locator('.stats') },
];

void describe('web UI polish', { timeout: 900_000 }, () => {
  before(async () => {
    assert.ok(existsSync(join(uiDist, 'index.html')), `the UI is not built (${uiDist}/index.html): run npm run build`);
    assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`);
    const data = await tempDir('herald-ui-polish-');
    cleanups.push(data.cleanup);
    if (screenshotDir) {
      mkdirSync(screenshotDir, { recursive: true });
      shots = screenshotDir;
    } else {
      const folder = await tempDir('herald-ui-polish-shots-');
      cleanups.push(folder.cleanup);
      shots = folder.path;
    }
    // A fixed port, so that the server can be killed and started again at the same address.
    const port = await freePort();
    serverArgs = ['server', '--data', join(data.path, 'data'), '--listen', `127.0.0.1:${port}`, '--log-level', 'error'];
    server = await startHeraldProcess(serverArgs);
    baseUrl = server.url;
    cleanups.push(() => server.kill('SIGKILL'));

    await api('/v1/namespaces', {
      method: 'POST',
      body: {
        name: ns,
        description: 'payment service settings',
        schema: { prefixes: [{ prefix: 'db/pool/', schema: { type: 'integer', minimum: 1, maximum: 100 } }] },
      },
    });
    await api(`/v1/namespaces/${ns}/entries/${encodeURIComponent('db/pool/max')}`, {
      method: 'PUT',
      body: { value: 20, message: 'pool size' },
    });
    await api(`/v1/namespaces/${ns}/entries/features`, {
      method: 'PUT',
      body: { value: { checkout: { beta: true, ratio: 0.25 }, regions: ['eu', 'us'] }, message: 'features' },
    });
    await api(`/v1/namespaces/${ns}/entries/${encodeURIComponent('db/password')}`, {
      method: 'PUT',
      body: { value: secretValue, contentType: 'text/plain', secret: true, message: 'the password' },
    });
    for (let start = 0; start < namespaceCount; start += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, namespaceCount - start) }, (_, i) =>
          api('/v1/namespaces', {
            method: 'POST',
            body: { name: `svc-${String(start + i).padStart(3, '0')}`, description: `service ${start + i}` },
          }),
        ),
      );
    }

    const profile = await tempDir('herald-ui-polish-chromium-');
    cleanups.push(profile.cleanup);
    context = await chromium.launchPersistentContext(profile.path, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
        '--disable-quic',
      ],
      viewport: { width: 1440, height: 900 },
      colorScheme: 'light',
    });
    cleanups.push(() => context.close());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(uiTimeout);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  void test('the namespaces page with 300 namespaces makes a bounded number of requests, and filters and sorts in the browser', async (t) => {
    const requests: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/v1/')) requests.push(url.pathname);
    });
    await signIn();
    const started = Date.now();
    await page.goto(`${baseUrl}/`);
    await see(page.getByTestId('ns-row-svc-299'));
    const loaded = Date.now() - started;
    // Interactive: the filter answers on the client.
    const filterStarted = Date.now();
    await page.getByLabel('Filter namespaces').fill('svc-29');
    await see(page.getByTestId('ns-count').filter({ hasText: `10 of ${namespaceCount + 1}` }));
    const filtered = Date.now() - filterStarted;
    t.diagnostic(`namespaces page, ${namespaceCount + 1} namespaces: table shown ${loaded} ms after navigation`);
    t.diagnostic(`namespaces page: filter applied ${filtered} ms after typing (measured, not asserted)`);
    assert.equal(await page.getByTestId('ns-row-svc-100').count(), 0, 'the filter hides the rest');
    // Sorted by name ascending at first; one click on the header sorts descending: svc-299 first.
    await page.getByLabel('Filter namespaces').fill('');
    await page.getByRole('button', { name: /^Namespace/u }).click();
    await see(page.locator('[data-testid=namespaces] tbody tr').first().filter({ hasText: 'svc-299' }));
    // Over one load plus a poll or two: never three requests per namespace.
    const perNamespace = requests.filter((path) => /\/(releases|rollout|fleet)\b/u.test(path));
    assert.deepEqual(perNamespace, [], 'no per-namespace request');
    const summaries = requests.filter((path) => path === '/v1/console/namespaces').length;
    assert.ok(summaries >= 1 && summaries <= 6, `summary requests: ${summaries}`);
    assert.ok(requests.length <= 12, `requests: ${requests.join(', ')}`);
    page.removeAllListeners('request');
  });

  void test('dark mode follows the system preference and the remembered toggle; text and status colours pass WCAG AA in both themes', async (t) => {
    await page.goto(`${baseUrl}/ns/${ns}/entries`);
    await see(page.getByTestId('entries'));
    const theme = () => page.evaluate('document.documentElement.dataset.theme');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction("document.documentElement.dataset.theme === 'dark'");
    await page.emulateMedia({ colorScheme: 'light' });
    await page.waitForFunction("document.documentElement.dataset.theme === 'light'");
    // The toggle: system → dark → light → system; the choice survives a reload.
    const toggle = page.getByTestId('theme-toggle');
    assert.equal(await toggle.getAttribute('data-choice'), 'system');
    await toggle.click();
    assert.equal(await theme(), 'dark');
    await page.reload();
    await see(page.getByTestId('entries'));
    assert.equal(await theme(), 'dark', 'remembered across a reload, against a light system');
    await page.getByTestId('theme-toggle').click();
    assert.equal(await theme(), 'light');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await theme(), 'light', 'a choice wins over the system');
    await page.getByTestId('theme-toggle').click();
    assert.equal(await page.getByTestId('theme-toggle').getAttribute('data-choice'), 'system');
    assert.equal(await theme(), 'dark', 'back to following the system');
    await page.emulateMedia({ colorScheme: 'light' });

    for (const mode of ['light', 'dark'] as const) {
      await page.evaluate(`localStorage.setItem('herald.theme', '${mode}')`);
      await page.reload();
      await see(page.getByTestId('entries'));
      assert.equal(await theme(), mode);
      const pairs = await page.evaluate<Probed[]>(contrastProbe.replace('PROBES', JSON.stringify(probes)));
      const failing = pairs.filter((p) => p.ratio < p.min);
      const lowest = [...pairs].sort((a, b) => a.ratio / a.min - b.ratio / b.min).slice(0, 3);
      t.diagnostic(
        `${mode}: ${pairs.length} pairs, lowest ${lowest.map((p) => `${p.name} ${p.ratio.toFixed(2)}:1`).join(', ')}`,
      );
      assert.deepEqual(
        failing,
        [],
        `${mode}: pairs below WCAG AA — ${JSON.stringify(failing)}; all: ${pairs.map((p) => `${p.name} ${p.ratio.toFixed(2)}`).join(', ')}`,
      );
      assert.ok(pairs.length >= 20, `probed ${pairs.length} pairs`);
      await shot(`entries-${mode}`);
    }
    await page.evaluate("localStorage.removeItem('herald.theme')");
  });

  void test('the code editor: JSON highlighted and folded, the problem shown at its place, the diff before saving', async () => {
    await page.goto(`${baseUrl}/ns/${ns}/entries`);
    await page.getByTestId('entry-features').getByRole('button', { name: 'features' }).click();
    const editor = page.getByTestId('editor');
    const code = await see(editor.locator('.cm-editor'));
    await see(code.locator('.cm-foldGutter'));
    await see(code.locator('.cm-content[aria-label="Value"]'));
    // Highlighted: the property names and the strings have their token colours.
    const colours = await page.evaluate<string[]>(
      "[...new Set([...document.querySelectorAll('[data-testid=editor] .cm-line span')].map((s) => getComputedStyle(s).color))]",
    );
    assert.ok(colours.length >= 2, `token colours: ${colours.join(', ')}`);
    await editor.getByLabel('Value').fill('{"checkout": {"beta": true,, }}');
    await see(editor.getByTestId('validation').filter({ hasText: 'Not valid JSON' }));
    await see(code.locator('.cm-lintRange-error'));
    // A schema violation is marked on the value it is about.
    await page.getByRole('button', { name: 'Close editor' }).click();
    await page.getByTestId('entry-db/pool/max').getByRole('button', { name: 'db/pool/max' }).click();
    const pool = page.getByTestId('editor');
    // The editor of this entry, with its value loaded, before typing: the one closing, or a load
    // finishing after the fill, would take the keystrokes.
    await see(pool.getByRole('heading', { name: 'db/pool/max' }));
    await see(pool.locator('.cm-content[aria-label="Value"]').filter({ hasText: '20' }));
    await pool.getByLabel('Value').fill('500');
    await see(pool.getByTestId('validation').filter({ hasText: 'must be <= 100' }));
    await see(pool.locator('.cm-lintRange-error'));
    await pool.getByLabel('Value').fill('30');
    await pool.getByRole('button', { name: 'Review changes' }).click();
    const diff = await see(pool.getByTestId('save-diff'));
    await see(diff.locator('.diff-removed', { hasText: '20' }));
    await see(diff.locator('.diff-added', { hasText: '30' }));
    await shot('entry-editor-light');
    await pool.getByRole('button', { name: 'Back to editing' }).click();
    await page.getByRole('button', { name: 'Close editor' }).click();
  });

  void test('a secret is masked for the admin too, in the list and the editor, until an audited reveal', async () => {
    // Every answer the page gets about entries, to check that none carries the value before the reveal.
    const answers: Array<Promise<string>> = [];
    const listen = (response: { url: () => string; text: () => Promise<string> }) => {
      if (new URL(response.url()).pathname.includes('/entries')) answers.push(response.text().catch(() => ''));
    };
    page.on('response', listen);
    await page.goto(`${baseUrl}/ns/${ns}/entries`);
    const row = await see(page.getByTestId('entry-db/password'));
    await see(row.getByTestId('secret-mask'));
    const inDom = () => page.evaluate(`document.documentElement.outerHTML.includes(${JSON.stringify(secretValue)})`);
    assert.equal(await inDom(), false, 'the value is not in the DOM');
    await row.getByRole('button', { name: 'db/password' }).click();
    const editor = page.getByTestId('editor');
    await see(editor.getByTestId('secret-masked'));
    assert.equal(await inDom(), false, 'nor in the editor before the reveal');
    const before = await api<{ items: Array<{ action: string }> }>('/v1/audit?limit=1000');
    assert.equal(before.items.filter((r) => r.action === 'secret.revealed').length, 0);
    page.off('response', listen);
    const carried = (await Promise.all(answers)).filter((body) => body.includes(secretValue));
    assert.ok(answers.length >= 2, `entry answers seen: ${answers.length}`);
    assert.deepEqual(carried, [], 'no answer before the reveal carries the value (secrets=masked)');
    await editor.getByRole('button', { name: 'Reveal (audited)' }).click();
    await see(editor.locator('.cm-content', { hasText: secretValue }));
    const audit = await api<{ items: Array<{ action: string; details: { key?: string; label?: string } }> }>(
      '/v1/audit?limit=1000',
    );
    const revealed = audit.items.filter((r) => r.action === 'secret.revealed');
    assert.equal(revealed.length, 1);
    assert.equal(revealed[0]?.details.key, 'db/password');
    assert.equal(revealed[0]?.details.label, '');
    await page.getByRole('button', { name: 'Close editor' }).click();
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Search the audit log').fill('secret.revealed');
    await see(page.getByTestId('audit').getByText('secret.revealed'));
    await see(page.getByTestId('audit').getByText('db/password'));
  });

  void test('no page-level horizontal scroll at 420 and 800 px on any screen; the header stays one line at 800 px; the editor is a side panel or a sheet', async () => {
    for (const width of [420, 800]) {
      await page.setViewportSize({ width, height: 900 });
      for (const screen of screens) {
        await open(screen.path, screen.marker);
        const { scrollWidth, clientWidth } = await page.evaluate<{ scrollWidth: number; clientWidth: number }>(
          '({ scrollWidth: document.scrollingElement.scrollWidth, clientWidth: document.scrollingElement.clientWidth })',
        );
        if (scrollWidth > clientWidth) {
          const wide = await page.evaluate<string[]>(overflowing);
          assert.fail(`${screen.name} at ${width} px: ${scrollWidth} > ${clientWidth}; wider: ${wide.join(' | ')}`);
        }
      }
      if (width === 800) {
        const tops = await page.evaluate<number[]>(
          "[...document.querySelectorAll('header.top > *')].filter((e) => e.getBoundingClientRect().width > 0).map((e) => { const box = e.getBoundingClientRect(); return box.top + box.height / 2; })",
        );
        assert.ok(tops.length >= 4, `header items: ${tops.length}`);
        assert.ok(Math.max(...tops) - Math.min(...tops) < 8, `the header is one line at 800 px: ${tops.join(', ')}`);
      }
      // The editor open: a full-width sheet at these widths, still without sideways scroll.
      await open(`/ns/${ns}/entries`, (p) => p.getByTestId('entries'));
      await page.getByTestId('entry-features').getByRole('button', { name: 'features' }).click();
      await see(page.getByTestId('editor').locator('.cm-editor'));
      const sheet = await page.locator('.split-side').boundingBox();
      assert.ok(sheet && sheet.width >= width - 20, `the editor is a full-width sheet at ${width} px`);
      const overflow = await page.evaluate<number>(
        'document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth',
      );
      assert.ok(overflow <= 0, `the editor at ${width} px scrolls the page sideways by ${overflow} px`);
      await shot(`entry-editor-${width}`);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    await open(`/ns/${ns}/entries`, (p) => p.getByTestId('entries'));
    await page.getByTestId('entry-features').getByRole('button', { name: 'features' }).click();
    await see(page.getByTestId('editor'));
    const table = await page.getByTestId('entries').boundingBox();
    const side = await page.locator('.split-side').boundingBox();
    assert.ok(table && side && side.x >= table.x + table.width, 'a side panel beside the table on a wide screen');
  });

  void test('offline: one banner when the server is killed, views marked stale; back and fresh when it returns', async () => {
    await open(`/ns/${ns}/entries`, (p) => p.getByTestId('entries'));
    await server.kill('SIGKILL');
    const banner = await see(page.getByTestId('offline-banner'));
    await see(banner.getByText(/cannot be reached/u));
    await see(page.locator('main[data-stale="true"]'));
    // The data stays, and the failure is said once, not by every polled view.
    await see(page.getByTestId('entries'));
    await page.waitForTimeout(3000);
    assert.equal(await page.getByRole('alert').count(), 1, 'one banner, no duplicates');
    await shot('offline');
    server = await startHeraldProcess(serverArgs);
    assert.equal(server.url, baseUrl);
    await page.getByTestId('offline-banner').waitFor({ state: 'detached', timeout: uiTimeout });
    assert.equal(await page.locator('main[data-stale="true"]').count(), 0);
    // Fresh: what changed while the banner was up is shown without a reload.
    await page.evaluate('window.heraldMarker = 7');
    await api(`/v1/namespaces/${ns}/entries/after-outage`, { method: 'PUT', body: { value: 1, message: 'back' } });
    await see(page.getByTestId('entry-after-outage'));
    assert.equal(await page.evaluate('window.heraldMarker'), 7, 'no reload');
  });

  void test('a fleet of 10,000 instances: the fleet view renders, scrolls, and keeps a bounded number of rows in the DOM', async () => {
    await api('/v1/namespaces', { method: 'POST', body: { name: 'big' } });
    await api('/v1/namespaces/big/entries/size', { method: 'PUT', body: { value: 1, message: 'first' } });
    const releases = await api<{ items: Array<{ seq: number }> }>('/v1/namespaces/big/releases?limit=1');
    const seq = releases.items[0]?.seq ?? 0;
    const regions = ['eu', 'us', 'ap'];
    for (let start = 0; start < fleetSize; start += 5000) {
      const reports = Array.from({ length: 5000 }, (_, i) => {
        const n = start + i;
        return {
          instanceId: `inst-${String(n).padStart(5, '0')}`,
          attributes: { region: regions[n % regions.length] ?? 'eu', service: `svc-${n % 40}` },
          views: [
            {
              namespace: 'big',
              seq,
              digest: 'sim',
              status: n % 97 === 0 ? 'rejected' : 'applied',
              ...(n % 97 === 0 ? { reason: 'simulated rejection' } : {}),
            },
          ],
          health: { status: 'ok' },
        };
      });
      await api('/v1/reports/batch', { method: 'POST', body: { reports } });
    }
    await eventually(
      async () => (await api<{ instances: unknown[] }>('/v1/fleet/big')).instances.length === fleetSize,
      { message: 'the 10,000 instances in the fleet', timeoutMs: 120_000, intervalMs: 500, fatal: () => true },
    );
    await open('/ns/big/fleet', (p) => p.locator(`[data-testid=instances][data-count="${fleetSize}"]`));
    const groups = await see(page.getByTestId('fleet-groups'));
    for (const region of regions) await see(groups.locator('td', { hasText: new RegExp(`^${region}$`, 'u') }));
    const rows = () => page.getByTestId('instance-row').count();
    const first = await rows();
    assert.ok(first > 0 && first <= 40, `rows in the DOM: ${first}`);
    await see(page.getByTestId('instance-row').filter({ hasText: 'inst-00000' }));
    await page.evaluate(
      "(() => { const e = document.querySelector('[data-testid=instances-scroll]'); e.scrollTop = e.scrollHeight; })()",
    );
    await see(page.getByTestId('instance-row').filter({ hasText: 'inst-09999' }));
    const scrolled = await rows();
    assert.ok(scrolled > 0 && scrolled <= 40, `rows in the DOM after scrolling: ${scrolled}`);
    await page.getByLabel('Filter instances').fill('rejected');
    await see(page.locator('[data-testid=instances][data-count="104"]'));
    await shot('fleet-10000-light');
  });

  void test('screenshots in both themes; no uncaught error in the page', async () => {
    for (const mode of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: mode });
      await open('/', (p) => p.getByTestId(`ns-row-${ns}`));
      await shot(`namespaces-${mode}`);
      await open(`/ns/${ns}/rollout`, (p) => p.getByTestId('policy'));
      await see(page.getByTestId('convergence-chart'));
      await shot(`rollout-${mode}`);
      await open('/ns/big/fleet', (p) => p.locator(`[data-testid=instances][data-count="${fleetSize}"]`));
      await shot(`fleet-${mode}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    assert.deepEqual(pageErrors, [], 'no uncaught error in the page');
  });
});

/**
 * Runs in the page (a script: this package has no DOM types): puts probes of the UI's text and
 * status classes on the page and returns the WCAG contrast ratio of each one's computed colour
 * against the background it is drawn on (the first opaque background up its ancestors).
 */
const contrastProbe = String.raw`(() => {
  const parse = (colour) => {
    const m = /rgba?\(([^)]+)\)/u.exec(colour);
    if (!m) return [0, 0, 0, 0];
    const parts = m[1].split(/[,\s/]+/u).filter(Boolean).map(Number);
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
  };
  const luminance = ([r, g, b]) => {
    const channel = (c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const backgroundOf = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      if (parse(bg)[3] > 0.5) return bg;
    }
    return getComputedStyle(document.documentElement).backgroundColor;
  };
  const ratio = (fg, bg) => {
    const [a, b] = [luminance(parse(fg)), luminance(parse(bg))];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const host = document.createElement('div');
  host.style.position = 'absolute';
  host.style.left = '0';
  host.style.top = '0';
  document.body.append(host);
  const probes = PROBES;
  const out = [];
  for (const [name, html] of probes) {
    const wrapper = document.createElement('div');
    wrapper.innerHTML = html;
    host.append(wrapper);
    const element = wrapper.querySelector('.t');
    if (!element) continue;
    const fg = getComputedStyle(element).color;
    const bg = backgroundOf(element);
    out.push({ name, fg, bg, ratio: ratio(fg, bg), min: 4.5 });
  }
  // The release colours of the chart's lines and the bars: graphics, for which WCAG asks 3:1.
  const card = document.createElement('div');
  card.className = 'card';
  host.append(card);
  for (let i = 0; i < 5; i += 1) {
    const probe = document.createElement('span');
    probe.style.color = getComputedStyle(document.documentElement).getPropertyValue('--s' + i).trim();
    card.append(probe);
    const fg = getComputedStyle(probe).color;
    const bg = backgroundOf(probe);
    out.push({ name: 'release colour ' + i + ' (graphic)', fg, bg, ratio: ratio(fg, bg), min: 3 });
  }
  host.remove();
  return out;
})()`;

/** Runs in the page: the elements whose right edge is past the viewport, innermost first (a failure's words). */
const overflowing = `[...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > document.scrollingElement.clientWidth + 0.5)
  .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > document.scrollingElement.clientWidth + 0.5))
  .slice(0, 6)
  .map((e) => e.tagName.toLowerCase() + '.' + [...e.classList].join('.') + ' ' + Math.round(e.getBoundingClientRect().right))`;

interface Probed {
  name: string;
  fg: string;
  bg: string;
  ratio: number;
  min: number;
}

/** Name and markup of each probe; the element with class "t" is the text measured. */
const probes: Array<[string, string]> = [
  ['body text on the page', '<div class="page"><span class="t">text</span></div>'],
  ['muted on the page', '<div class="page"><span class="muted t">muted</span></div>'],
  ['text on a card', '<div class="card"><span class="t">text</span></div>'],
  ['muted on a card', '<div class="card"><span class="muted t">muted</span></div>'],
  ['link on a card', '<div class="card"><a class="t" href="#">link</a></div>'],
  ['table header', '<table class="table"><thead><tr><th class="t">h</th></tr></thead></table>'],
  ['button', '<button class="t">button</button>'],
  ['primary button', '<button class="primary t">go</button>'],
  ['danger button', '<div class="card"><button class="danger t">delete</button></div>'],
  ['badge running', '<span class="badge badge-running t">running</span>'],
  ['badge paused', '<span class="badge badge-paused t">paused</span>'],
  ['badge succeeded', '<span class="badge badge-succeeded t">succeeded</span>'],
  ['badge rolled back', '<span class="badge badge-rolled_back t">rolled back</span>'],
  ['badge none', '<span class="badge badge-none t">none</span>'],
  ['problem', '<div class="problem t">error</div>'],
  ['forbidden', '<div class="problem problem-forbidden t">not allowed</div>'],
  ['notice', '<div class="notice t">notice</div>'],
  ['success', '<div class="success t">saved</div>'],
  ['offline banner', '<div class="offline-banner t">offline</div>'],
  ['chip', '<span class="chip t">schema</span>'],
  ['label chip', '<span class="label-chip t">prod</span>'],
  ['secret chip', '<span class="chip chip-secret t">secret</span>'],
  ['locked chip', '<span class="chip chip-locked t">locked</span>'],
  ['secret mask', '<div class="card"><span class="secret-mask t">••••</span></div>'],
  ['diff added', '<pre class="diff"><div class="diff-added t">+ 1</div></pre>'],
  ['diff removed', '<pre class="diff"><div class="diff-removed t">- 1</div></pre>'],
  ['gate pass', '<span class="gate gate-pass t">pass</span>'],
  ['gate waiting', '<span class="gate gate-waiting t">waiting</span>'],
  ['gate fail', '<span class="gate gate-fail t">fail</span>'],
  ['applied count', '<div class="card"><span class="c-applied t">applied</span></div>'],
  ['rejected count', '<div class="card"><span class="c-rejected t">rejected</span></div>'],
  ['unhealthy count', '<div class="card"><span class="c-unhealthy t">unhealthy</span></div>'],
  ['invalid message', '<div class="card"><span class="invalid-msg t">invalid</span></div>'],
  ['valid message', '<div class="card"><span class="valid-msg t">valid</span></div>'],
  ['header nav', '<header class="top"><nav><a class="t" href="#">nav</a></nav></header>'],
  ['header muted', '<header class="top"><span class="muted t">scopes</span></header>'],
  ['header danger', '<header class="top"><button class="danger t">freeze</button></header>'],
  ['active tab', '<div class="tabs"><button class="tab active t">tab</button></div>'],
  ['tab', '<div class="tabs"><button class="tab t">tab</button></div>'],
];
