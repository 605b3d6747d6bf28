// Finding 7 of issue 19: the data folder was created 0755 and herald.db 0644, readable by every
// local user. Now the folder is 0700 and the database, its WAL and shared-memory files and the
// secret key 0600, even under the most permissive umask (0000), which the test sets for the child.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { startHeraldProcess, tempDir, testAdminToken } from '@herald/testkit';

void it('herald server makes its data folder 0700 and its files 0600 whatever the umask', async () => {
  const dir = await tempDir();
  const data = join(dir.path, 'data');
  const previous = process.umask(0o000);
  let server: Awaited<ReturnType<typeof startHeraldProcess>> | undefined;
  try {
    server = await startHeraldProcess(['server', '--data', data, '--listen', '127.0.0.1:0', '--log-level', 'error']);
    process.umask(previous);
    const created = await fetch(`${server.url}/v1/namespaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'perms' }),
    });
    assert.equal(created.status, 201);
    const mode = (path: string) => statSync(path).mode & 0o777;
    assert.equal(mode(data).toString(8), '700', 'the data folder');
    for (const file of ['herald.db', 'herald.db-wal', 'herald.db-shm', 'secret.key'])
      assert.equal(mode(join(data, file)).toString(8), '600', file);
  } finally {
    process.umask(previous);
    await server?.kill();
    await dir.cleanup();
  }
});
