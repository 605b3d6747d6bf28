// The relay's cache folder: a write its caller does not await (a route or a token learned while
// serving) is still waited for by settled(), which the relay's close awaits, so a closed relay
// writes nothing more into the folder (CI once saw a test's cleanup meet a file written after close).
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { tempDir } from '@herald/testkit';
import { RelayCache } from '../src/relay/relay-cache.js';

void it('settled() waits for the writes in flight, after which the folder can be removed', async () => {
  const dir = await tempDir('herald-relay-cache-');
  try {
    const cache = new RelayCache(dir.path);
    await cache.open();
    const tokens = { abc: { tokenId: 't1', name: 'client', scopes: [] } };
    // Not awaited, as the relay does when it remembers a token it has seen validated.
    void cache.writeTokens(tokens);
    for (let i = 1; i <= 20; i += 1)
      void cache.writeRoute(`ns-${i}`, { version: `v${i}`, stable: { seq: i, revision: i, createdAt: 0 } });
    await cache.settled();
    assert.deepEqual(JSON.parse(await readFile(join(dir.path, 'tokens.json'), 'utf8')), tokens);
    assert.equal((await readdir(join(dir.path, 'routes'))).filter((f) => f.endsWith('.json')).length, 20);
    // Nothing is left half-written: no temporary file beside them.
    assert.deepEqual((await readdir(dir.path)).sort(), ['routes', 'tokens.json', 'views']);
    await rm(dir.path, { recursive: true });
  } finally {
    await dir.cleanup();
  }
});
