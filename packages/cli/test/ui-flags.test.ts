// The web UI's flags view (issue 17) end to end: a real `herald server` child process serving the
// built UI, Debian's chromium driven by playwright-core. Flags are set up through the admin API;
// every action under test goes through the UI, and what it did is checked through the API.
//
// No duration is asserted: every wait is a playwright auto-waiting locator or a bounded poll.
// The screenshot goes to a temp folder, or to docs/screenshots/flags.png with HERALD_UPDATE_SCREENSHOTS=1.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
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
const ns = 'shop';
const flagType = 'application/vnd.herald.flag+json';
/** Bounded waits for UI states on a loaded 2-core machine. */
const uiTimeout = 60_000;

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let context: BrowserContext;
let page: Page;
let shots: string;
const pageErrors: string[] = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function call(
  path: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL(path, server.url), {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.token ?? testAdminToken}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function api<T = Record<string, unknown>>(
  path: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<T> {
  const answer = await call(path, init);
  assert.ok(answer.status < 400, `${init.method ?? 'GET'} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as T;
}

const entryUrl = (key: string): string => `/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`;
const flagEntry = (key: string) =>
  api<{ value: Record<string, unknown>; contentType: string; revision: number }>(entryUrl(key));
const putFlag = (key: string, value: unknown) =>
  api(entryUrl(key), { method: 'PUT', body: { value, contentType: flagType, message: `set up ${key}` } });

async function see(locator: Locator, timeout = uiTimeout): Promise<Locator> {
  await locator.first().waitFor({ state: 'visible', timeout });
  return locator.first();
}

async function signIn(target: Page, token: string): Promise<void> {
  await target.goto(`${server.url}/`);
  await target.getByLabel('Token').fill(token);
  await target.getByRole('button', { name: 'Sign in' }).click();
  await see(target.getByTestId('whoami'));
}

async function openFlags(target: Page): Promise<void> {
  await target.goto(`${server.url}/ns/${ns}/flags`);
  await see(target.getByTestId('flags'));
}

/**
 * What of the flags screen (the page below the header) sticks out past the right edge of the
 * window. The header is every screen's, and the UI-wide width tests (issue 20) hold it to 420 px.
 */
const overflowing = (target: Page): Promise<string[]> =>
  target.evaluate<string[]>(`(() => {
    const width = document.documentElement.clientWidth;
    // Inside a box that scrolls (or clips) on its own, nothing can widen the page.
    const contained = (el) => {
      for (let up = el.parentElement; up && up.tagName !== 'MAIN'; up = up.parentElement)
        if (getComputedStyle(up).overflowX !== 'visible') return true;
      return false;
    };
    return [...document.querySelectorAll('main, main *')]
      .filter((el) => el.getBoundingClientRect().right > width + 1 && !contained(el))
      .slice(0, 8)
      .map((el) => el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right) + 'px');
  })()`);

void describe('web UI: flags', { timeout: 600_000 }, () => {
  before(async () => {
    // A missing build or browser is a failure, never a skip: CI builds the UI and installs chromium (.ci/run).
    assert.ok(existsSync(join(uiDist, 'index.html')), `the UI is not built (${uiDist}/index.html): run npm run build`);
    assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`);
    const data = await tempDir('herald-ui-flags-');
    cleanups.push(data.cleanup);
    if (screenshotDir) {
      mkdirSync(screenshotDir, { recursive: true });
      shots = screenshotDir;
    } else {
      const folder = await tempDir('herald-ui-flags-shots-');
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

    await api('/v1/namespaces', { method: 'POST', body: { name: ns } });
    await putFlag('new-checkout', {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', 'off'] },
    });
    await putFlag('banner-text', {
      state: 'DISABLED',
      variants: { plain: 'Welcome', festive: 'Happy holidays' },
      defaultVariant: 'plain',
    });
    await api(entryUrl('$evaluators'), {
      method: 'PUT',
      body: {
        value: { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
        contentType: 'application/vnd.herald.flag-evaluators+json',
      },
    });
    // Not a flag: plain JSON that only looks like one is an ordinary entry.
    await api(entryUrl('db/pool'), { method: 'PUT', body: { value: { state: 'ENABLED', variants: { a: 1 } } } });

    const profile = await tempDir('herald-ui-flags-chromium-');
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
      viewport: { width: 1280, height: 800 },
    });
    cleanups.push(() => context.close());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(uiTimeout);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await signIn(page, testAdminToken);
  });

  void test("the Flags tab lists the namespace's flags with state, variants and default, and nothing else", async () => {
    await page.goto(`${server.url}/ns/${ns}/entries`);
    await page.getByRole('tab', { name: 'Flags' }).click();
    const table = await see(page.getByTestId('flags'));
    const checkout = page.getByTestId('flag-new-checkout');
    await see(checkout.getByTestId('flag-state').filter({ hasText: 'enabled' }));
    await see(checkout.getByText('targeted'));
    await see(checkout.locator('.variant-default', { hasText: 'off' }));
    const banner = page.getByTestId('flag-banner-text');
    await see(banner.getByTestId('flag-state').filter({ hasText: 'disabled' }));
    await see(banner.getByText('"Happy holidays"'));
    await see(banner.locator('.variant-default', { hasText: 'plain' }));
    assert.equal(await table.getByText('db/pool').count(), 0, 'an entry of another content type is no flag');
    // The counts columns follow the server: shown when it answers the flags summary, hidden when it has none.
    const summary = await call(`/v1/namespaces/${ns}/flags`);
    const header = table.locator('th', { hasText: 'Evaluations' });
    if (summary.status === 404) {
      assert.equal(await header.count(), 0, 'no summary route: no counts column');
      return;
    }
    await see(header);
    // Nothing evaluates flags in this test, so the counts the server gives stay what the UI shows.
    const flags = summary.body.flags as Array<{
      key: string;
      kind: string;
      stale: boolean;
      rollout: unknown;
      evaluations: { hour: Record<string, number>; day: Record<string, number> };
    }>;
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    for (const flag of flags.filter((f) => f.kind === 'flagd')) {
      const row = page.getByTestId(`flag-${flag.key}`);
      await see(
        row.getByTestId('flag-evaluations').filter({
          hasText: `${sum(flag.evaluations.hour)} / ${sum(flag.evaluations.day)}`,
        }),
      );
      assert.equal(await row.locator('.chip-stale').count(), flag.stale ? 1 : 0, `${flag.key}: the stale marker`);
      if (flag.rollout === null) await see(row.getByText('live everywhere'));
    }
  });

  void test('a toggle shows the diff first, writes nothing until saved, then commits the new state', async () => {
    await openFlags(page);
    await page.getByRole('button', { name: 'Disable new-checkout' }).click();
    const dialog = await see(page.getByRole('dialog', { name: 'Disable new-checkout?' }));
    const diff = await see(dialog.getByTestId('toggle-diff'));
    await see(diff.locator('.diff-removed', { hasText: '"state": "ENABLED"' }));
    await see(diff.locator('.diff-added', { hasText: '"state": "DISABLED"' }));
    assert.equal(await diff.locator('.diff-added').count(), 1, 'only the state changes');
    assert.equal(
      (await flagEntry('new-checkout')).value.state,
      'ENABLED',
      'the diff is shown before anything is written',
    );
    await dialog.getByLabel('Commit message').fill('checkout off for the incident');
    await dialog.getByRole('button', { name: 'Save: disable' }).click();
    await eventually(async () => (await flagEntry('new-checkout')).value.state === 'DISABLED', {
      timeoutMs: uiTimeout,
    });
    const saved = await flagEntry('new-checkout');
    assert.equal(saved.contentType, flagType);
    assert.deepEqual(saved.value.targeting, { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', 'off'] });
    const history = await api<{ items: Array<{ message: string }> }>(`/v1/namespaces/${ns}/history`);
    assert.equal(history.items[0]?.message, 'checkout off for the incident');
    await see(page.getByTestId('flag-new-checkout').getByTestId('flag-state').filter({ hasText: 'disabled' }));
    // And back on, through the same review.
    await page.getByRole('button', { name: 'Enable new-checkout' }).click();
    const again = await see(page.getByRole('dialog', { name: 'Enable new-checkout?' }));
    await see(again.getByTestId('toggle-diff').locator('.diff-added', { hasText: '"state": "ENABLED"' }));
    await again.getByRole('button', { name: 'Save: enable' }).click();
    await eventually(async () => (await flagEntry('new-checkout')).value.state === 'ENABLED', { timeoutMs: uiTimeout });
  });

  void test('a toggle saved after someone else changed the flag is refused, and their change stays', async () => {
    await openFlags(page);
    await page.getByRole('button', { name: 'Enable banner-text' }).click();
    const dialog = await see(page.getByRole('dialog', { name: 'Enable banner-text?' }));
    await see(dialog.getByTestId('toggle-diff'));
    // Meanwhile, through the API: another default variant.
    const theirs = { ...(await flagEntry('banner-text')).value, defaultVariant: 'festive' };
    await putFlag('banner-text', theirs);
    await dialog.getByRole('button', { name: 'Save: enable' }).click();
    await see(dialog.locator('[role="alert"][data-code="precondition_failed"]'));
    assert.deepEqual((await flagEntry('banner-text')).value, theirs, 'the other change is not overwritten');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  void test('the targeting editor checks as you type, and a save the server refuses shows each of its problems', async () => {
    await openFlags(page);
    await page.getByTestId('flag-new-checkout').getByRole('button', { name: 'new-checkout', exact: true }).click();
    const editor = await see(page.getByTestId('flag-editor'));
    const input = editor.getByLabel('Flag definition');
    await see(editor.getByText(/revision \d+/u));
    const validation = editor.getByTestId('flag-validation');
    const review = editor.getByRole('button', { name: 'Review changes' });
    const before = await flagEntry('new-checkout');

    // JSON syntax, with the place of the mistake.
    await input.fill('{\n  "state": "ENABLED",\n  "variants": { "on": true, },\n  "defaultVariant": "on"\n}');
    await see(validation.filter({ hasText: /Not valid JSON at line 3, column \d+/u }));
    assert.equal(await review.isDisabled(), true, 'malformed JSON cannot be reviewed');

    // The shape: targeting returns a name that is no variant; variants of two types; a default that is not there.
    await input.fill(
      JSON.stringify(
        {
          state: 'ENABLED',
          variants: { on: true, off: 'no' },
          defaultVariant: 'missing',
          targeting: { if: [{ in: ['@example.com', { var: 'email' }] }, 'on', 'maybe'] },
        },
        null,
        2,
      ),
    );
    await see(validation.filter({ hasText: 'targeting can return "maybe", which is not one of the variants' }));
    await see(validation.filter({ hasText: 'variants must all be of one type' }));
    await see(validation.filter({ hasText: 'defaultVariant "missing" is not one of the variants' }));
    await see(validation.filter({ hasText: /line 19, column \d+ · \/targeting\/if\/2/u }));
    assert.equal(await review.isDisabled(), true, 'a definition with problems cannot be reviewed');

    // A `$ref` names a shared evaluator of the namespace (the `$evaluators` entry), or it is a problem.
    const withRef = (ref: string) =>
      JSON.stringify(
        {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: 'off',
          targeting: { if: [{ $ref: ref }, 'on', 'off'] },
        },
        null,
        2,
      );
    await input.fill(withRef('nobody'));
    await see(validation.filter({ hasText: '$ref "nobody" names no shared evaluator' }));
    assert.equal(await review.isDisabled(), true, 'a dangling $ref cannot be reviewed');
    await input.fill(withRef('staff'));
    await see(validation.filter({ hasText: 'Valid so far' }));

    // What only flagd's parser knows (an unknown operation) passes the browser; the server refuses it on save.
    await input.fill(
      JSON.stringify(
        {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: 'off',
          targeting: { if: [{ no_such_operation: [{ var: 'email' }] }, 'on', 'off'] },
        },
        null,
        2,
      ),
    );
    await see(validation.filter({ hasText: 'Valid so far' }));
    await review.click();
    await see(editor.getByTestId('flag-save-diff').locator('.diff-added', { hasText: 'no_such_operation' }));
    await editor.getByRole('button', { name: 'Save', exact: true }).click();
    const refusal = await see(editor.locator('[role="alert"][data-code="invalid_flag"]'));
    await see(refusal.locator('.violations li', { hasText: 'new-checkout:/targeting' }));
    await see(refusal.getByText(/does not parse as JSON Logic/u));
    // Back in the editor with the text kept, and nothing was written.
    await see(input);
    assert.match(await input.inputValue(), /no_such_operation/u);
    assert.equal((await flagEntry('new-checkout')).revision, before.revision, 'a refused save writes nothing');
    await editor.getByRole('button', { name: 'Close flag editor' }).click();
  });

  void test('a new flag starts from a template (boolean on/off, or string variants)', async () => {
    await openFlags(page);
    await page.getByRole('button', { name: 'New flag' }).click();
    let editor = await see(page.getByTestId('flag-editor'));
    await editor.getByLabel('Flag key').fill('dark-mode');
    assert.match(await editor.getByLabel('Flag definition').inputValue(), /"on": true/u, 'the boolean template first');
    await editor.getByRole('button', { name: 'Review changes' }).click();
    await see(editor.getByTestId('flag-save-diff').locator('.diff-added', { hasText: '"defaultVariant": "off"' }));
    await editor.getByLabel('Commit message').fill('dark mode flag');
    await editor.getByRole('button', { name: 'Save', exact: true }).click();
    await see(editor.getByTestId('flag-saved'));
    const dark = await flagEntry('dark-mode');
    assert.equal(dark.contentType, flagType);
    assert.deepEqual(dark.value, { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' });
    await see(page.getByTestId('flag-dark-mode'));

    await page.getByRole('button', { name: 'New flag' }).click();
    await see(page.getByTestId('flag-editor').filter({ hasText: 'New flag' }));
    editor = page.getByTestId('flag-editor');
    await editor.getByLabel('Flag key').fill('checkout-copy');
    await editor.getByLabel('Template').selectOption({ label: 'String variants' });
    assert.match(await editor.getByLabel('Flag definition').inputValue(), /"treatment"/u);
    await editor.getByRole('button', { name: 'Review changes' }).click();
    await editor.getByRole('button', { name: 'Save', exact: true }).click();
    await see(editor.getByTestId('flag-saved'));
    const copy = await flagEntry('checkout-copy');
    assert.deepEqual(copy.value.variants, { control: 'control', treatment: 'treatment' });
    assert.deepEqual(copy.value.targeting, {
      fractional: [
        ['control', 50],
        ['treatment', 50],
      ],
    });
    await editor.getByRole('button', { name: 'Close flag editor' }).click();
  });

  void test('a read-only token sees the flags but no toggle, no New flag and a read-only definition', async () => {
    const { token } = await api<{ token: string }>('/v1/tokens', {
      method: 'POST',
      body: { name: 'flags reader', scopes: [{ namespaces: ns, role: 'reader' }] },
    });
    const reader = await context.newPage();
    try {
      await signIn(reader, token);
      await openFlags(reader);
      await see(reader.getByTestId('flag-new-checkout'));
      await see(reader.getByText(/may not write namespace "shop"/u));
      assert.equal(await reader.locator('.flag-toggle').count(), 0, 'no toggle for a reader');
      assert.equal(await reader.getByRole('button', { name: /^(Enable|Disable) / }).count(), 0);
      assert.equal(await reader.getByRole('button', { name: 'New flag' }).count(), 0);
      await reader.getByTestId('flag-banner-text').getByRole('button', { name: 'banner-text', exact: true }).click();
      const editor = await see(reader.getByTestId('flag-editor'));
      await see(editor.getByText(/revision \d+/u));
      assert.equal(await editor.getByLabel('Flag definition').getAttribute('readonly'), '');
      assert.equal(await editor.getByRole('button', { name: 'Review changes' }).count(), 0);
    } finally {
      await reader.close();
    }
  });

  void test('the flags screen never scrolls sideways at 420 px, with the editor open too', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await openFlags(page);
    await page.getByTestId('flag-new-checkout').getByRole('button', { name: 'new-checkout', exact: true }).click();
    const editor = page.getByTestId('flag-editor');
    await see(editor.getByText(/revision \d+/u));
    // For the screenshot: a targeting rule that can return a variant the flag does not have, shown as it is typed.
    const live = (await flagEntry('new-checkout')).value;
    await editor
      .getByLabel('Flag definition')
      .fill(
        JSON.stringify(
          { ...live, targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', 'beta'] } },
          null,
          2,
        ),
      );
    await see(editor.getByTestId('flag-validation').filter({ hasText: 'targeting can return "beta"' }));
    await page.screenshot({ path: join(shots, 'flags.png'), fullPage: false });
    try {
      await page.setViewportSize({ width: 420, height: 900 });
      await openFlags(page);
      assert.deepEqual(await overflowing(page), [], 'the flags list at 420 px');
      await page.getByTestId('flag-new-checkout').getByRole('button', { name: 'new-checkout', exact: true }).click();
      await see(page.getByTestId('flag-editor').getByText(/revision \d+/u));
      assert.deepEqual(await overflowing(page), [], 'the flags list with the editor at 420 px');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
