// The web UI's change requests screen, end to end: a real `herald server` child process serving the
// built UI, Debian's chromium driven by playwright-core. A change request is opened through the
// API by one writer; another signs in to the UI, finds it in the list, sees its diff and approves
// it, and the change is committed; a second one is rejected from the UI and changes nothing.
// Every wait is a playwright auto-waiting locator (a liveness guard), never a timing assertion.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const chromiumPath = '/usr/bin/chromium';
const uiDist = fileURLToPath(new URL('../../../ui/dist', import.meta.url));
const uiTimeout = 60_000;
const ns = 'shop';

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let context: BrowserContext;
let page: Page;

async function api<T = Record<string, unknown>>(
  path: string,
  init: { method?: string; body?: unknown; token?: string; status?: number } = {},
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
  if (init.status !== undefined) assert.equal(response.status, init.status, text);
  else assert.ok(response.ok, `${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

async function writer(name: string): Promise<string> {
  return (
    await api<{ token: string }>('/v1/tokens', {
      method: 'POST',
      body: { name, scopes: [{ namespaces: '*', role: 'writer' }] },
    })
  ).token;
}

async function value(key: string): Promise<unknown> {
  const response = await fetch(new URL(`/v1/namespaces/${ns}/entries/${key}`, server.url), {
    headers: { authorization: `Bearer ${testAdminToken}` },
  });
  return response.status === 200 ? ((await response.json()) as { value: unknown }).value : undefined;
}

before(async () => {
  assert.ok(existsSync(join(uiDist, 'index.html')), `the UI is not built (${uiDist}/index.html): run npm run build`);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`);
  const data = await tempDir('herald-ui-cr-');
  cleanups.push(data.cleanup);
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
  const profile = await tempDir('herald-ui-cr-chromium-');
  cleanups.push(profile.cleanup);
  context = await chromium.launchPersistentContext(profile.path, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-quic'],
    viewport: { width: 1440, height: 900 },
  });
  cleanups.push(() => context.close());
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(uiTimeout);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

void test('a reviewer finds a change request in the UI, sees its diff, approves one and rejects another', async () => {
  await api('/v1/namespaces', { method: 'POST', body: { name: ns } });
  await api(`/v1/namespaces/${ns}/entries/banner`, { method: 'PUT', body: { value: 'winter sale' } });
  await api(`/v1/namespaces/${ns}/approval`, { method: 'PUT', body: { required: 1 } });
  const author = await writer('author');
  const reviewer = await writer('reviewer');
  const opened = await api<{ changeRequest: { id: string } }>(`/v1/namespaces/${ns}/entries/banner`, {
    method: 'PUT',
    body: { value: 'spring sale' },
    token: author,
    status: 202,
  });
  const second = await api<{ changeRequest: { id: string } }>(`/v1/namespaces/${ns}/entries/discount`, {
    method: 'PUT',
    body: { value: 90 },
    token: author,
    status: 202,
  });
  const id = opened.changeRequest.id;

  await page.goto(`${server.url}/`);
  await page.getByLabel('Token').fill(reviewer);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Change requests' }).click();
  const list = page.getByTestId('change-requests');
  await list.getByRole('button', { name: id }).click();
  const detail = page.getByTestId('change-request');
  const diff = detail.getByTestId('change-request-diff');
  await diff.getByText('winter sale').first().waitFor();
  await diff.getByText('spring sale').first().waitFor();
  await detail.getByRole('button', { name: 'Approve' }).click();
  await detail.getByText('(applied)').waitFor();
  assert.equal(await value('banner'), 'spring sale');

  await page.getByLabel('Which change requests').selectOption('open');
  await list.getByRole('button', { name: second.changeRequest.id }).click();
  await page.getByLabel('Comment or reason').fill('too generous');
  await page.getByTestId('change-request').getByRole('button', { name: 'Reject' }).click();
  await page.getByTestId('change-request').getByText('(rejected)').waitFor();
  assert.equal(await value('discount'), undefined);
  const rejected = await api<{ state: string; rejected?: { reason: string } }>(
    `/v1/change-requests/${second.changeRequest.id}`,
  );
  assert.deepEqual([rejected.state, rejected.rejected?.reason], ['rejected', 'too generous']);
});
