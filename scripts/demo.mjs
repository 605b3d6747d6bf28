// `npm run demo`: a staged rollout to watch live. Starts a control plane on a temp data folder,
// gives the namespace `shop` a staged policy (canary: 10 % of westus, 5 s bake → half: 50 %,
// 5 s → everyone), seeds a few entries, simulates a fleet of instances in three regions, changes a
// value and releases it, then shows `herald rollout status shop --watch` in the foreground.
// Afterwards everything keeps running for you to try more (commands printed); Ctrl-C (or SIGTERM,
// or closing the terminal: SIGHUP) stops everything it started. When it fails, its folder (logs,
// data) is kept and named.
//
// Environment: HERALD_DEMO_PORT (default 8420, or a free port when 8420 is taken, by `npm start`
// say; 0 for any free port), HERALD_DEMO_INSTANCES (default 300).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../packages/cli/bin/herald.js', import.meta.url));
const chosenPort = process.env.HERALD_DEMO_PORT;
const instances = process.env.HERALD_DEMO_INSTANCES ?? '300';
const token = 'demo-admin-token-0123456789';
const ns = 'shop';
const dir = mkdtempSync(join(tmpdir(), 'herald-demo-'));
const children = [];
let stopping = false;

const say = (line = '') => process.stdout.write(`${line}\n`);

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  say('\nherald demo: stopping the fleet and the control plane…');
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  let left = alive.length;
  const done = () => {
    // A failed demo keeps its logs: they say why.
    if (code === 0) rmSync(dir, { recursive: true, force: true });
    else say(`herald demo: its logs and data are kept in ${dir}`);
    process.exit(code);
  };
  if (left === 0) return done();
  const force = setTimeout(() => {
    for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }, 5000);
  force.unref();
  for (const c of alive) {
    c.once('exit', () => {
      left -= 1;
      if (left === 0) done();
    });
    c.kill('SIGTERM');
  }
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopAll(0));
// Whatever way the demo ends, no child outlives it.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A long-running herald child; its output goes to a log file in the demo folder. */
function startChild(args, log, env = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C reaches the demo, which stops the children (gracefully: SIGTERM).
    detached: true,
  });
  children.push(child);
  const file = createWriteStream(join(dir, log));
  child.stdout.pipe(file);
  child.stderr.pipe(file);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      say(`herald demo: herald ${args[0]} exited (${signal ?? code}); see ${join(dir, log)}`);
      stopAll(1);
    }
  });
  return child;
}

function waitForLine(child, pattern, what, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        lines.close();
        resolve(match);
      }
    });
    child.once('exit', () => reject(new Error(`${what} exited before it was ready`)));
  });
}

const quote = (arg) => (/^[\w.,:=/@%+-]+$/u.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

let env;
/** One herald command to completion, its output shown; the demo stops when it fails. */
async function herald(...args) {
  say(`$ herald ${args.map(quote).join(' ')}`);
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: 'inherit' });
  const code = await new Promise((resolve) => child.once('exit', (status, signal) => resolve(signal ?? status)));
  // Ctrl-C reaches the foreground command too; the demo's own handler stops the rest.
  if (stopping || code === 'SIGINT') throw new Error('stopping');
  if (code !== 0) {
    say(`herald demo: "herald ${args.map(quote).join(' ')}" failed (${code})`);
    stopAll(1);
    throw new Error('stopping');
  }
}

/** Whether something listens on 127.0.0.1:port already (a control plane from `npm start`, say). */
function portTaken(port) {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

/** HERALD_DEMO_PORT as given (it must be free), else 8420, else any free port. */
async function pickPort() {
  if (chosenPort !== undefined) {
    if (chosenPort !== '0' && (await portTaken(Number(chosenPort)))) {
      say(
        `herald demo: port ${chosenPort} (HERALD_DEMO_PORT) is in use; pick another: HERALD_DEMO_PORT=0 npm run demo (any free port)`,
      );
      rmSync(dir, { recursive: true, force: true });
      process.exit(1);
    }
    return chosenPort;
  }
  if (!(await portTaken(8420))) return '8420';
  say(
    'herald demo: port 8420 is in use (is `npm start` running?); using a free port instead (HERALD_DEMO_PORT=N picks one)',
  );
  return '0';
}

async function main() {
  const port = await pickPort();
  say(`herald demo: data and logs in ${dir}`);
  const server = startChild(['server', '--data', join(dir, 'data'), '--listen', `127.0.0.1:${port}`], 'server.log', {
    HERALD_ADMIN_TOKEN: token,
  });
  const [, url] = await waitForLine(server, /listening on (http\S+)/u, 'the control plane');
  env = { HERALD_URL: url, HERALD_TOKEN: token };
  say(`herald demo: control plane on ${url}, admin token ${token}`);
  say(`herald demo: web UI at ${url}/ (sign in with the admin token)`);
  say('herald demo: to use it from another terminal (with `herald` on your PATH: `npm link` in the clone):');
  say(`  export HERALD_URL=${url} HERALD_TOKEN=${token}`);
  say();

  await herald('ns', 'create', ns);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    [
      'strategy: staged',
      'waves:',
      '  - name: canary            # 10 % of the westus instances first',
      '    percent: 10',
      '    bake: 5s',
      '    match: { region: [westus] }',
      '  - name: half',
      '    percent: 50',
      '    bake: 5s',
      '  - name: everyone',
      '    percent: 100',
      '    bake: 2s',
      'gates:',
      '  minReportRatio: 0.9',
      '  maxRejectRatio: 0',
      '  maxUnhealthyRatio: 0.02',
      '  reportDeadline: 30s',
      '  minInstances: 1',
      'autoRollback: true',
      '',
    ].join('\n'),
  );
  await herald('policy', 'set', ns, '-f', policy);
  await herald('set', ns, 'checkout.timeoutMs', '2000');
  await herald('set', ns, 'banner', 'Welcome to the shop', '--text');
  await herald('set', ns, 'feature.newCart', 'false');
  await herald('release', ns, '--note', 'first release: everyone at once');

  const sim = startChild(
    [
      'simulate',
      '--ns',
      ns,
      '--instances',
      instances,
      '--attr',
      'region=westus,eastus,europe',
      '--reject-when',
      'bad=true',
      '--unhealthy-when',
      'crash=true',
      '--report-interval',
      '5000',
    ],
    'fleet.log',
    env,
  );
  await waitForLine(sim, /simulating \d+ instances/u, 'the simulated fleet', 60_000);
  say(
    `herald demo: ${instances} simulated instances in westus, eastus and europe (their log: ${join(dir, 'fleet.log')})`,
  );
  // Let the fleet report the first release, so the first wave has instances to judge by.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await herald('fleet', ns);
  say();

  await herald('set', ns, 'feature.newCart', 'true');
  await herald('release', ns, '--note', 'turn on the new cart');
  say();
  await herald('rollout', 'status', ns, '--watch');

  say();
  say('The control plane and the fleet keep running. In another terminal (`npm link` in the clone puts');
  say(`\`herald\` on your PATH; or: alias herald='node ${bin}'):`);
  say(`  export HERALD_URL=${url} HERALD_TOKEN=${token}`);
  say(`  herald rollout status ${ns} --watch        # the newest rollout, live`);
  say(`  herald fleet ${ns}                         # who runs which release, rejects and health`);
  say(`  herald set ${ns} banner '"Autumn sale"' -m "autumn" && herald release ${ns} -m "autumn banner"`);
  say(`  herald rollout pause ${ns} -m "looking at dashboards"   # then: herald rollout resume ${ns}`);
  say(`  herald rollout freeze -m "incident"        # every rollout stops; herald rollout unfreeze`);
  say('A bad release: the simulated fleet rejects any view with bad=true, so the canary fails and the');
  say('rollout rolls back by itself (a new release with the last good content):');
  say(
    `  herald set ${ns} bad true -m "a bad value" && herald release ${ns} -m "bad" && herald rollout status ${ns} --watch`,
  );
  say(`  herald releases ${ns}                      # the rollback release, and why it was made`);
  say('The namespace still holds bad=true: remove it, and release again:');
  say(
    `  herald rm ${ns} bad -m "undo the bad value" && herald release ${ns} -m "fixed" && herald rollout status ${ns} --watch`,
  );
  say(`An unhealthy one (instances report failing health with crash=true): the same with crash instead of bad.`);
  say(`  herald audit list --ns ${ns}               # every change and transition, newest first, with who and why`);
  say(`Web UI: ${url}/. Logs: ${join(dir, 'server.log')}, ${join(dir, 'fleet.log')}. Ctrl-C stops everything.`);
}

main().catch((error) => {
  if (stopping) return;
  say(`herald demo: ${error.message}`);
  stopAll(1);
});
