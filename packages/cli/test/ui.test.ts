// The web UI (issue 9) end to end: a real `herald server` child process serving the built UI
// (packages/ui/dist), Debian's chromium driven by playwright-core, and a simulated fleet of 300
// SDK instances (`herald simulate`) for the rollouts. Every action goes through the UI; the admin
// API is only used to set the scene and to check what the UI did.
//
// Nothing here asserts a duration: every wait is a playwright auto-waiting locator or a bounded
// poll (a liveness guard), and the bake times are only long enough for the UI's one-second
// polling to see each wave.
//
// Screenshots of the main screens are written to a temp folder, or to docs/screenshots/ (the
// README shows them) with HERALD_UPDATE_SCREENSHOTS=1, so that a test run leaves the work tree alone.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import {
  eventually,
  spawnHerald,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type HeraldChild,
  type ServerProcess,
} from '@herald/testkit';

const chromiumPath = '/usr/bin/chromium';
const uiDist = fileURLToPath(new URL('../../../ui/dist', import.meta.url));
const screenshotDir =
  process.env.HERALD_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../../docs/screenshots', import.meta.url))
    : undefined;
const ns = 'payments';
const fleetSize = 300;
/** Bounded waits for UI states (a loaded 2-core machine runs the server, 300 instances and chromium). */
const uiTimeout = 60_000;
const rolloutTimeout = 150_000;

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let context: BrowserContext;
let page: Page;
let shots: string;
const pageErrors: string[] = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

// --- the admin API, to set the scene and check results ------------------------------------------

async function api<T = Record<string, unknown>>(
  path: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<T> {
  const response = await fetch(new URL(path, server.url), {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.token ?? testAdminToken}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  assert.ok(response.ok, `${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

const entryValue = async (key: string): Promise<unknown> =>
  (await api<{ value: unknown }>(`/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`)).value;

// --- the browser ----------------------------------------------------------------------------------

async function see(locator: Locator, timeout = uiTimeout): Promise<Locator> {
  await locator.first().waitFor({ state: 'visible', timeout });
  return locator.first();
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

async function signIn(target: Page, token: string): Promise<void> {
  await target.goto(`${server.url}/`);
  await target.getByLabel('Token').fill(token);
  await target.getByRole('button', { name: 'Sign in' }).click();
}

async function openTab(name: string): Promise<void> {
  await page.getByRole('tab', { name }).click();
}

/** Raw HTTP, for paths that fetch() would normalise (`/../`). */
function rawGet(path: string): Promise<{ status: number; type: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

void describe('web UI', { timeout: 600_000 }, () => {
  before(async () => {
    // A missing build or browser is a failure, never a skip: CI builds the UI (npm run build) and installs chromium (.ci/run).
    assert.ok(existsSync(join(uiDist, 'index.html')), `the UI is not built (${uiDist}/index.html): run npm run build`);
    assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`);
    const data = await tempDir('herald-ui-');
    cleanups.push(data.cleanup);
    if (screenshotDir) {
      mkdirSync(screenshotDir, { recursive: true });
      shots = screenshotDir;
    } else {
      const folder = await tempDir('herald-ui-shots-');
      cleanups.push(folder.cleanup);
      shots = folder.path;
    }
    server = await startHeraldProcess([
      'server',
      '--data',
      join(data.path, 'data'),
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'error',
    ]);
    cleanups.push(() => server.kill('SIGKILL'));
    const profile = await tempDir('herald-ui-chromium-');
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
    });
    cleanups.push(() => context.close());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(uiTimeout);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  void test('the control plane serves the UI at / beside the API, with content types, cache headers and no way out of the folder', async () => {
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/u);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/u);
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/u.exec(html)?.[1];
    assert.ok(script, `index.html names its script: ${html}`);
    const asset = await fetch(`${server.url}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/u);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/u);
    assert.equal((await fetch(`${server.url}${script}`, { method: 'HEAD' })).status, 200);
    // A route of the app (deep link, reload) gets index.html; a missing file does not.
    const deep = await fetch(`${server.url}/ns/${ns}/history`);
    assert.equal(deep.status, 200);
    assert.equal(await deep.text(), html);
    const missing = await fetch(`${server.url}/assets/missing-0000.js`);
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type') ?? '', /problem\+json/u);
    // The API keeps its own answers, unknown API paths included.
    const unknown = await fetch(`${server.url}/v1/no-such-route`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'route_not_found');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(openapi.paths['/v1/namespaces'], 'the OpenAPI document still describes the API');
    assert.equal((await fetch(`${server.url}/metrics`)).status, 200);
    // Leaving the folder: raw dot segments, encoded ones, encoded slashes, dot files.
    for (const path of [
      '/../../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/..%2f..%2fpackage.json',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/.env',
    ]) {
      const answer = await rawGet(path);
      assert.ok(answer.status === 404 || answer.status === 400, `${path}: ${answer.status}`);
      assert.doesNotMatch(answer.type, /javascript|octet-stream/u, path);
    }
    assert.equal((await fetch(`${server.url}/`, { method: 'POST' })).status, 404, 'only GET and HEAD reach the UI');
  });

  void test("sign in: a wrong token is refused with the server's words; the admin token shows who it is", async () => {
    await signIn(page, 'not-a-token');
    await see(page.getByText('Sign-in refused'));
    await shot('sign-in');
    await page.getByLabel('Token').fill(testAdminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await see(page.getByTestId('whoami').filter({ hasText: 'admin of *' }));
    assert.equal(
      await page.evaluate("sessionStorage.getItem('herald.token')"),
      testAdminToken,
      'the token is kept in sessionStorage',
    );
  });

  void test('create a namespace with a JSON Schema', async () => {
    await page.getByLabel('Namespace name').fill(ns);
    await page.getByLabel('Description').fill('payment service settings');
    await page
      .getByLabel('Schema')
      .fill(
        JSON.stringify({ prefixes: [{ prefix: 'db/pool/', schema: { type: 'integer', minimum: 1, maximum: 100 } }] }),
      );
    await page.getByRole('button', { name: 'Create namespace' }).click();
    await see(page.getByTestId('ns-title').filter({ hasText: ns }));
    const created = await api<{ hasSchema: boolean; description: string }>(`/v1/namespaces/${ns}`);
    assert.equal(created.hasSchema, true);
    assert.equal(created.description, 'payment service settings');
  });

  void test("an invalid edit is refused with the schema's message; a valid one shows its diff against the live value and saves", async () => {
    await page.getByRole('button', { name: 'New entry' }).click();
    const editor = page.getByTestId('editor');
    await editor.getByLabel('Key', { exact: true }).fill('db/pool/max');
    await editor.getByLabel('Value').fill('{"max": ');
    await see(editor.getByTestId('validation').filter({ hasText: 'Not valid JSON' }));
    await editor.getByLabel('Value').fill('500');
    await see(editor.getByTestId('validation').filter({ hasText: 'db/pool/max: must be <= 100' }));
    assert.equal(
      await editor.getByRole('button', { name: 'Review changes' }).isDisabled(),
      true,
      'an invalid value cannot be saved',
    );
    await editor.getByLabel('Value').fill('20');
    await see(editor.getByTestId('validation').filter({ hasText: 'matches the namespace schema' }));
    await editor.getByRole('button', { name: 'Review changes' }).click();
    await editor.getByLabel('Commit message').fill('initial pool size');
    await editor.getByRole('button', { name: 'Save', exact: true }).click();
    await see(editor.getByTestId('saved'));
    assert.equal(await entryValue('db/pool/max'), 20);

    // Edit the live entry: the diff shows the old and the new value before anything is written.
    await see(page.getByTestId('entries').getByText('db/pool/max'));
    await page.getByTestId('entry-db/pool/max').getByRole('button', { name: 'db/pool/max' }).click();
    const edit = page.getByTestId('editor');
    await see(edit.getByText('revision 1'));
    await edit.getByLabel('Value').fill('101');
    await see(edit.getByTestId('validation').filter({ hasText: 'must be <= 100' }));
    await edit.getByLabel('Value').fill('40');
    await edit.getByRole('button', { name: 'Review changes' }).click();
    const diff = await see(edit.getByTestId('save-diff'));
    await see(diff.locator('.diff-removed', { hasText: '20' }));
    await see(diff.locator('.diff-added', { hasText: '40' }));
    assert.equal(await entryValue('db/pool/max'), 20, 'nothing is written before Save');
    await edit.getByLabel('Commit message').fill('raise the pool for the sale');
    await shot('entry-diff');
    await edit.getByRole('button', { name: 'Save', exact: true }).click();
    await see(edit.getByTestId('saved').filter({ hasText: 'revision 2' }));
    assert.equal(await entryValue('db/pool/max'), 40);
  });

  void test('a conflict (someone saved first) is shown, not overwritten', async () => {
    const edit = page.getByTestId('editor');
    await edit.getByLabel('Value').fill('45');
    await edit.getByRole('button', { name: 'Review changes' }).click();
    await see(edit.getByTestId('save-diff'));
    // Someone else saves meanwhile, through the API.
    await api(`/v1/namespaces/${ns}/entries/${encodeURIComponent('db/pool/max')}`, {
      method: 'PUT',
      body: { value: 50, message: 'someone else' },
    });
    await edit.getByRole('button', { name: 'Save', exact: true }).click();
    const conflict = await see(edit.getByTestId('conflict'));
    await see(conflict.getByText('someone saved first'));
    await see(conflict.locator('.diff-removed', { hasText: '50' }));
    assert.equal(await entryValue('db/pool/max'), 50, 'their value stays');
    // Back to the live value, deliberately: the next edit starts from theirs.
    await edit.getByRole('button', { name: 'Close editor' }).click();
  });

  void test('history shows the commit with its author, message and diff, and reverts it after a preview', async () => {
    await openTab('History');
    const commit = await see(page.getByTestId('history').locator('li', { hasText: 'raise the pool for the sale' }));
    await see(commit.getByText('bootstrap admin'));
    await commit.getByRole('button', { name: 'Show diff' }).click();
    await see(commit.locator('.diff-added', { hasText: '40' }));
    // Undo "someone else" (r3): back to r2, where the value was 40.
    const newest = await see(page.getByTestId('history').locator('li', { hasText: 'someone else' }));
    await newest.getByRole('button', { name: 'Revert…' }).click();
    const dialog = page.getByRole('dialog');
    const preview = await see(dialog.getByTestId('revert-preview'));
    await see(preview.locator('.diff-removed', { hasText: '50' }));
    await see(preview.locator('.diff-added', { hasText: '40' }));
    assert.equal(await entryValue('db/pool/max'), 50, 'the preview is a dry run');
    await dialog.getByLabel('Commit message').fill('undo the unreviewed change');
    await shot('history-revert');
    await dialog.getByRole('button', { name: 'Revert', exact: true }).click();
    await see(page.getByTestId('reverted'));
    assert.equal(await entryValue('db/pool/max'), 40);
    await see(page.getByTestId('history').locator('li', { hasText: 'undo the unreviewed change' }));
  });

  void test('a token sees only what its scopes allow, and is told what it may not do', async () => {
    const { token } = await api<{ token: string }>('/v1/tokens', {
      method: 'POST',
      body: { name: 'ui reader', scopes: [{ namespaces: 'pay*', role: 'reader' }] },
    });
    await api('/v1/namespaces', { method: 'POST', body: { name: 'inventory' } });
    // Another tab: sessionStorage is per tab, so this one signs in on its own.
    const reader = await context.newPage();
    try {
      await signIn(reader, token);
      await see(reader.getByTestId('whoami').filter({ hasText: 'reader of pay*' }));
      await see(reader.getByTestId(`ns-row-${ns}`));
      assert.equal(
        await reader.getByTestId('ns-row-inventory').count(),
        0,
        'a namespace outside the scopes is not listed',
      );
      await reader.getByRole('link', { name: ns, exact: true }).click();
      await see(reader.getByText(/may not write namespace "payments"/u));
      assert.equal(await reader.getByRole('button', { name: 'New entry' }).count(), 0);
      await reader.getByRole('link', { name: 'Audit log' }).click();
      await see(reader.getByRole('alert').filter({ hasText: 'is not an administrator of every namespace' }));
    } finally {
      await reader.close();
    }
  });

  let simulation: HeraldChild;
  /** Short waves: long enough for the UI's one-second polling to see each one. */
  const stagedPolicy = {
    strategy: 'staged',
    waves: [
      { name: 'canary', percent: 10, bake: '4s', match: { region: ['a'] } },
      { name: 'half', percent: 50, bake: '4s' },
      { name: 'everyone', percent: 100, bake: '0s' },
    ],
    gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0.05, reportDeadline: '60s' },
    autoRollback: true,
  };

  /** Release now, from the rollout screen, and wait for the UI to confirm a rollout started. */
  async function release(note: string): Promise<void> {
    await page.getByRole('button', { name: 'Release now…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Release note (audited)').fill(note);
    await dialog.getByRole('button', { name: 'Release', exact: true }).click();
    await see(page.getByTestId('released').filter({ hasText: 'rollout' }));
  }

  void test('a staged rollout to 300 simulated instances shows its waves progressing live to completion', async () => {
    simulation = spawnHerald(
      [
        'simulate',
        '--url',
        server.url,
        '--ns',
        ns,
        '--instances',
        String(fleetSize),
        '--attr',
        'region=a,b,c',
        '--reject-when',
        'bad=true',
        '--report-interval',
        '1000',
        '--prefix',
        'web',
      ],
      { HERALD_TOKEN: testAdminToken },
    );
    cleanups.push(() => simulation.stop('SIGKILL'));
    await eventually(
      async () => {
        const fleet = await api<{ instances: unknown[] }>(`/v1/fleet/${ns}`);
        return fleet.instances.length === fleetSize;
      },
      { message: 'every simulated instance in the fleet view', timeoutMs: 120_000, intervalMs: 250, fatal: () => true },
    );

    await page.goto(`${server.url}/ns/${ns}/rollout`);
    // The policy, edited in the UI: an invalid one is refused with the server's violations first.
    const policyCard = page.getByTestId('policy');
    await policyCard.getByRole('button', { name: 'Edit policy' }).click();
    await policyCard
      .getByLabel('Policy')
      .fill(JSON.stringify({ strategy: 'staged', waves: [{ name: 'canary', percent: 10, bake: 'soon' }] }));
    await policyCard.getByRole('button', { name: 'Save policy' }).click();
    await see(policyCard.getByRole('alert').filter({ hasText: 'waves[0].bake' }));
    await policyCard.getByLabel('Policy').fill(JSON.stringify(stagedPolicy, null, 2));
    await policyCard.getByRole('button', { name: 'Save policy' }).click();
    await see(policyCard.getByText('auto-rollback on'));
    assert.equal((await api<{ strategy: string }>(`/v1/namespaces/${ns}/policy`)).strategy, 'staged');

    // A change to release: with a staged policy, a commit is not released until someone releases it.
    await api(`/v1/namespaces/${ns}/entries/${encodeURIComponent('db/pool/max')}`, {
      method: 'PUT',
      body: { value: 60, message: 'bigger pool' },
    });
    // A marker that a reload would lose: the waves must move without one.
    await page.evaluate('window.heraldMarker = 42');
    await release('bigger pool');

    const rollout = page.getByTestId('rollout');
    const wave = (name: string, status: string) =>
      rollout.locator(`[data-testid="wave-${name}"][data-status="${status}"]`);
    await see(wave('canary', 'current'), rolloutTimeout);
    await see(rollout.getByTestId('bake'));
    // The canary's counts fill in as its instances report.
    await see(
      wave('canary', 'current')
        .getByTestId('wave-counts')
        .filter({ hasText: /applied [1-9]/u }),
      rolloutTimeout,
    );
    await shot('rollout-live');
    await see(wave('half', 'current'), rolloutTimeout);
    await see(wave('canary', 'done'));
    await see(rollout.getByTestId('gates'));
    await see(page.locator('[data-testid="rollout"][data-state="succeeded"]'), rolloutTimeout);
    for (const name of ['canary', 'half', 'everyone']) await see(wave(name, 'done'));
    assert.equal(await page.evaluate('window.heraldMarker'), 42, 'no reload');
    await shot('rollout-succeeded');
    const status = await api<{ rollout: { state: string; toSeq: number } }>(`/v1/namespaces/${ns}/rollout`);
    assert.equal(status.rollout.state, 'succeeded');
  });

  void test('a bad release is rolled back automatically, and the UI shows the rollback', async () => {
    await api(`/v1/namespaces/${ns}/entries/bad`, { method: 'PUT', body: { value: true, message: 'a bad change' } });
    await release('the bad change');
    await see(page.locator('[data-testid="rollout"][data-state="rolled_back"]'), rolloutTimeout);
    await see(page.getByTestId('rollout-reason').filter({ hasText: /rejected release/u }));
    await see(page.locator('[data-testid="wave-canary"] .wave-status', { hasText: 'stopped here' }));
    await see(
      page
        .locator('[data-testid="wave-canary"]')
        .getByTestId('wave-counts')
        .filter({ hasText: /rejected [1-9]/u }),
    );
    // Why the canary failed stays on the screen, and the bad content left in the namespace is named with the way out.
    await see(page.getByTestId('rollout-failure').filter({ hasText: /Rejected by \d+: .*simulated rejection/u }));
    await see(page.getByTestId('rollout-trap').filter({ hasText: new RegExp(`herald restore ${ns} --to \\d+`, 'u') }));
    await shot('rollout-rolled-back');
    const status = await api<{ rollout: { state: string } }>(`/v1/namespaces/${ns}/rollout`);
    assert.equal(status.rollout.state, 'rolled_back');
  });

  void test('without auto-rollback a failed gate pauses: the fleet shows the rejects with their reasons, and Rollback in the UI undoes it', async () => {
    const policyCard = page.getByTestId('policy');
    await policyCard.getByRole('button', { name: 'Edit policy' }).click();
    await policyCard.getByLabel('Policy').fill(JSON.stringify({ ...stagedPolicy, autoRollback: false }, null, 2));
    await policyCard.getByRole('button', { name: 'Save policy' }).click();
    await see(policyCard.getByText('auto-rollback off'));
    // The very content that was rolled back is refused (release_rolled_back); another bad change is not.
    await api(`/v1/namespaces/${ns}/entries/attempt`, { method: 'PUT', body: { value: 2, message: 'try again' } });
    await release('the bad change again');
    await see(page.locator('[data-testid="rollout"][data-state="paused"]'), rolloutTimeout);
    await see(page.getByTestId('rollout-reason').filter({ hasText: /rejected release/u }));

    await openTab('Fleet');
    const groups = await see(page.getByTestId('fleet-groups'));
    for (const region of ['a', 'b', 'c']) await see(groups.locator('td', { hasText: new RegExp(`^${region}$`, 'u') }));
    await see(page.getByTestId('rejects').getByText(/\d+ × #\d+: .*simulated rejection of release \d+/u));
    // The convergence chart draws one series per recent release from the fleet samples taken since
    // the page opened: every series gets points (its data-points attribute counts them).
    await see(page.getByTestId('convergence-chart').locator('canvas'));
    await page.waitForFunction(
      "(() => { const points = document.querySelector('[data-testid=convergence-chart]')?.getAttribute('data-points') ?? ''; return /^#\\d+:[1-9]\\d*( #\\d+:[1-9]\\d*){4}$/.test(points); })()",
      undefined,
      { timeout: uiTimeout },
    );
    await shot('fleet');

    await openTab('Releases & rollout');
    await page.getByTestId('rollout').getByRole('button', { name: 'Rollback' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason (audited)').fill('canary rejects the change');
    await dialog.getByRole('button', { name: 'Rollback' }).click();
    await see(page.locator('[data-testid="rollout"][data-state="rolled_back"]'), rolloutTimeout);
    await see(page.getByTestId('rollout-reason').filter({ hasText: 'canary rejects the change' }));
  });

  void test('the audit log is searchable and shows the chain verification', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await see(page.getByTestId('chain').filter({ hasText: 'Chain intact' }));
    await page.getByLabel('Search the audit log').fill('rollout.fail');
    const audit = await see(page.getByTestId('audit'));
    await see(audit.getByText('rollout.fail'));
    await page.getByLabel('Search the audit log').fill('rollout.rollback canary rejects');
    await see(audit.getByText('rollout.rollback'));
    await page.getByLabel('Search the audit log').fill('release.create');
    await see(audit.getByText('release.create'));
    await shot('audit');
    // Freeze-all, with confirmation, from the header; then unfreeze.
    await page.getByRole('button', { name: 'Freeze all rollouts' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason (audited)').fill('incident drill');
    await dialog.getByRole('button', { name: 'Freeze all' }).click();
    await see(page.getByText(/^Frozen \(\d+ rollout/u));
    await page.getByRole('button', { name: 'Unfreeze', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Unfreeze all' }).click();
    await see(page.getByText('Rollouts unfrozen'));
    await page.getByRole('link', { name: 'Namespaces' }).click();
    await see(page.getByTestId(`ns-row-${ns}`).getByTestId('rollout-state'));
    await shot('namespaces');
    assert.deepEqual(pageErrors, [], 'no uncaught error in the page');
  });
});
