// N full SDK clients in one process (signature and digest verification on every update) for
// bench/sdk.mjs: reports the process's CPU time between two marks and how many updates it applied.
import { HeraldClient } from '../packages/sdk/dist/src/index.js';

const [url, token, count] = process.argv.slice(2);
const n = Number(count);
const keys = (await (await fetch(`${url}/v1/keys`)).json()).keys;
let applied = 0;
const clients = [];
for (let i = 0; i < n; i += 1) {
  const client = new HeraldClient({
    url,
    token,
    instanceId: `sdk-bench-${i}`,
    views: [{ namespace: 'bench' }],
    trustedKeys: keys,
    reportIntervalMs: 600_000,
  });
  clients.push(client);
  void (async () => {
    for await (const _change of client.changes()) applied += 1;
  })();
}
await Promise.all(clients.map((c) => c.start()));
await Promise.all(clients.map((c) => c.ready()));
let mark;
process.send?.({ type: 'ready' });
process.on('message', async (message) => {
  if (message.type === 'mark') {
    mark = { cpu: process.cpuUsage(), applied };
    process.send?.({ type: 'marked' });
  } else if (message.type === 'report') {
    const cpu = process.cpuUsage(mark.cpu);
    process.send?.({ type: 'report', cpuMs: (cpu.user + cpu.system) / 1000, applied: applied - mark.applied });
  } else if (message.type === 'exit') {
    await Promise.all(clients.map((c) => c.destroy()));
    process.exit(0);
  }
});
