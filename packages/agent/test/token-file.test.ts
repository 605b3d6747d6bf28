// A token rotation with a running agent and no gap: the agent follows its token file, so once the
// successor is written there and the old token's overlap has ended, its reports still arrive and
// every release is still delivered (real control plane in-process, real sockets, real files).
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAgent, type Agent } from '@herald/agent';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';

let server: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };
let agent: Agent | undefined;

before(async () => {
  server = await startTestServer();
  dir = await tempDir('herald-agent-token-');
  await server.admin.post('/v1/namespaces', { name: 'shop' });
});

after(async () => {
  await agent?.destroy();
  await server.close();
  await dir.cleanup();
});

async function publish(value: number): Promise<number> {
  await server.admin.put('/v1/namespaces/shop/entries/limit', { value });
  return (await server.admin.post<{ seq: number }>('/v1/namespaces/shop/releases', {})).seq;
}

/** Replaces the token file as a deployment tool would: a new file renamed over the old one. */
async function writeToken(file: string, token: string): Promise<void> {
  await writeFile(`${file}.tmp`, `${token}\n`);
  await rename(`${file}.tmp`, file);
}

/** Whether the file holds these values (an `eventually` probe: true once it does). */
async function holds(file: string, values: Record<string, unknown>): Promise<boolean> {
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), values);
  return true;
}

async function whoamiStatus(token: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(new URL('/v1/whoami', server.url), { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { code?: string };
  return { status: response.status, ...(body.code === undefined ? {} : { code: body.code }) };
}

void describe('agent token file', () => {
  void it('switches to a rotated token written to its file, with no gap in delivery or reports', async () => {
    const old = await server.admin.post<{ token: string; info: { id: string } }>('/v1/tokens', {
      name: 'agent',
      scopes: [{ namespaces: 'shop', role: 'client' }],
    });
    const tokenFile = join(dir.path, 'token');
    const out = join(dir.path, 'shop.json');
    await writeToken(tokenFile, old.token);
    await publish(1);
    agent = createAgent({
      url: server.url,
      tokenFile,
      instanceId: 'rotating-host',
      reportInterval: '1s',
      subscriptions: [{ namespace: 'shop', out }],
    });
    await agent.start();
    await eventually(() => holds(out, { limit: 1 }));

    const rotated = await server.admin.post<{ token: string }>(`/v1/tokens/${old.info.id}/rotate`, {
      overlapSeconds: 1,
    });
    await writeToken(tokenFile, rotated.token);
    // Delivery goes on during the overlap…
    await publish(2);
    await eventually(() => holds(out, { limit: 2 }));
    // …and after it, when the old token is refused.
    await eventually(
      async () => {
        assert.deepEqual(await whoamiStatus(old.token), { status: 401, code: 'token_expired' });
        return true;
      },
      { timeoutMs: 10_000 },
    );
    const seq = await publish(3);
    await eventually(() => holds(out, { limit: 3 }));
    // The reports after the switch are accepted: the fleet sees the last release applied.
    await eventually(
      async () => {
        const { instances } = await server.admin.get<{ instances: Array<{ instanceId: string; seq: number }> }>(
          '/v1/fleet/shop',
        );
        assert.equal(instances.find((i) => i.instanceId === 'rotating-host')?.seq, seq);
        return true;
      },
      { timeoutMs: 10_000 },
    );
    assert.equal(agent.health.status, 'ok');
  });
});
