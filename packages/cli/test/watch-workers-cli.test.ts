// `herald server --watch-workers N` as an operator runs it (issue 18): a real child process whose
// N watch workers are its own children, serving watch streams on the server's one port; SIGTERM
// stops the workers with it; a bad count is refused with one line, as every bad flag is.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { eventually, RawWatch, runHerald, startHeraldProcess, tempDir, testAdminToken } from '@herald/testkit';
import { fails } from './helpers.js';

const folders: Array<{ cleanup: () => Promise<void> }> = [];
after(async () => {
  for (const folder of folders) await folder.cleanup();
});

/** The process's children that run the watch worker. */
function workersOf(pid: number): number[] {
  let children = '';
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {
    return [];
  }
  return children
    .split(/\s+/u)
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('watch-worker.js');
      } catch {
        return false;
      }
    });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

void test('--watch-workers 2 runs two worker processes that serve the watch streams, and SIGTERM stops them too', async () => {
  const data = await tempDir('herald-watch-workers-');
  folders.push(data);
  const server = await startHeraldProcess([
    'server',
    '--data',
    data.path,
    '--listen',
    '127.0.0.1:0',
    '--no-ui',
    '--watch-workers',
    '2',
  ]);
  const pid = server.child.pid as number;
  const headers = { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' };
  const watches: RawWatch[] = [];
  try {
    await eventually(() => workersOf(pid).length === 2, { message: 'two watch workers' });
    const workers = workersOf(pid);
    let response = await fetch(`${server.url}/v1/namespaces`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'app' }),
    });
    assert.equal(response.status, 201);
    response = await fetch(`${server.url}/v1/namespaces/app/entries/color`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: 'blue' }),
    });
    assert.equal(response.status, 200);
    for (let i = 0; i < 2; i += 1)
      watches.push(await RawWatch.open(server.url, [{ namespace: 'app' }], { token: testAdminToken }));
    for (const watch of watches) {
      assert.equal((await watch.next()).type, 'hello');
      assert.equal((await watch.nextView()).type, 'snapshot');
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^herald_watch_worker_streams\{worker="1"\} 1$/mu);
    assert.match(metrics, /^herald_watch_worker_streams\{worker="2"\} 1$/mu);
    assert.match(metrics, /^herald_watch_streams 2$/mu);

    assert.equal(await server.kill('SIGTERM'), 0, 'a clean exit');
    for (const watch of watches) await watch.untilEnded();
    await eventually(() => workers.every((worker) => !alive(worker)), { message: 'the workers stopped with it' });
  } finally {
    await Promise.all(watches.map((w) => w.close()));
    await server.kill('SIGKILL');
  }
});

void test('--watch-workers with a bad count exits 2 with one line', async () => {
  const data = await tempDir('herald-watch-workers-bad-');
  folders.push(data);
  const result = await runHerald(['server', '--data', data.path, '--listen', '127.0.0.1:0', '--watch-workers', 'many']);
  fails(result, { exitCode: 2, line: /--watch-workers must be a whole number from 0 to 64/u });
});
