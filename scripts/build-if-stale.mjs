// What `npm start` and `npm run demo` run first: builds only what is out of date, so that a start
// on a built tree takes a second, not a full build. TypeScript's `tsc -b` is incremental already
// (it checks its .tsbuildinfo files and returns at once when nothing changed); the web UI is built
// again only when a file it is made from is newer than packages/ui/dist/index.html.
// `npm ci` builds everything once (the root package's `prepare` script).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ui = join(root, 'packages/ui');

/** The newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const name of readdirSync(path)) latest = Math.max(latest, newest(join(path, name)));
  return latest;
}

function run(what, command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`herald: ${what} failed (${result.signal ?? result.status})\n`);
    process.exit(result.status ?? 1);
  }
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
run('the TypeScript build (tsc -b)', process.execPath, [tsc, '-b']);

const sources = ['src', 'public', 'index.html', 'vite.config.ts', 'tsconfig.json', 'package.json'].map((name) =>
  newest(join(ui, name)),
);
const built = newest(join(ui, 'dist/index.html'));
if (built === 0 || Math.max(...sources) > built) {
  process.stdout.write('herald: building the web UI (packages/ui changed since its last build)\n');
  run('the web UI build', process.platform === 'win32' ? 'npm.cmd' : 'npm', [
    'run',
    'build',
    '--workspace',
    '@herald/ui',
  ]);
}
