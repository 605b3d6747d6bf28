// Runs every compiled test file with node's own test runner. Node 20's `--test` takes no globs,
// so the files are listed here. Pass paths or substrings to run a subset: `npm test -- sqlite`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const packages = readdirSync('packages').map((name) => join('packages', name, 'dist', 'test'));
const all = packages
  .filter((dir) => {
    try {
      return statSync(dir).isDirectory();
    } catch {
      return false;
    }
  })
  .flatMap(findTests)
  .sort();
const filters = process.argv.slice(2);
const selected = filters.length === 0 ? all : all.filter((file) => filters.some((f) => file.includes(f)));
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// Each file's bound: 5 minutes for the suite; the long fault runs (npm run test:faults) set more.
const timeoutMs = Number(process.env.HERALD_TEST_TIMEOUT_MS ?? 300_000);
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', `--test-timeout=${timeoutMs}`, ...selected],
  {
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);
