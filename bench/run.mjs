// `npm run bench`: the standard set, in a few minutes on a 2-core machine. `-- --full` for the
// large sizes. Each script prints its own table; see BENCHMARKS.md for the latest figures.
import { spawnSync } from 'node:child_process';

const full = process.argv.includes('--full');
const scripts = [
  ['commits.mjs', full ? ['--count', '5000'] : ['--count', '2000']],
  ['fanout.mjs', full ? ['--watchers', '1000,10000,18000'] : ['--watchers', '1000,10000']],
  ['watch-memory.mjs', ['--watchers', '10000']],
  ['catchup.mjs', full ? ['--rounds', '20'] : ['--rounds', '5']],
  ['large-view.mjs', full ? ['--keys', '19000', '--commits', '200'] : ['--keys', '19000', '--commits', '50']],
  ['storm.mjs', ['--watchers', '10000']],
  ['sdk.mjs', ['--clients', '1000']],
  ['relay.mjs', full ? ['--watchers', '8000'] : ['--watchers', '1000']],
];
for (const [script, args] of scripts) {
  console.log(`\n### node bench/${script} ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [new URL(script, import.meta.url).pathname, ...args], {
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
