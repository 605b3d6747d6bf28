// `npm run demo`: a staged rollout to watch live. Starts a control plane on a temp data folder,
// gives the namespace `shop` a staged policy (canary: 10 % of westus, 5 s bake → half: 50 %,
// 5 s → everyone), seeds a few entries, simulates a fleet of instances in three regions, changes a
// value and releases it, then shows `herald rollout status shop --watch` in the foreground.
// Afterwards everything keeps running for you to try more (commands printed); Ctrl-C stops it all.
//
// Environment: HERALD_DEMO_PORT (default 8420; 0 for any free port), HERALD_DEMO_INSTANCES (default 300).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../packages/cli/bin/herald.js', import.meta.url));
const port = process.env.HERALD_DEMO_PORT ?? '8420';
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
    rmSync(dir, { recursive: true, force: true });
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
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
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

async function main() {
  say(`herald demo: data folder ${dir}`);
  const server = startChild(
    ['server', '--data', join(dir, 'data'), '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
    'server.log',
    { HERALD_ADMIN_TOKEN: token },
  );
  const [, url] = await waitForLine(server, /listening on (http\S+)/u, 'the control plane');
  env = { HERALD_URL: url, HERALD_TOKEN: token };
  say(`herald demo: control plane on ${url}, admin token ${token}; to use it from another terminal:`);
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
  say('The control plane and the fleet keep running. In another terminal:');
  say(`  export HERALD_URL=${url} HERALD_TOKEN=${token}`);
  say(`  npx herald rollout status ${ns} --watch                # the newest rollout, live`);
  say(`  npx herald fleet ${ns}                                  # who runs which release`);
  say(`  npx herald set ${ns} banner '"Autumn sale"' && npx herald release ${ns}`);
  say(`  npx herald rollout pause ${ns} --reason "looking at dashboards"`);
  say(`  npx herald rollout resume ${ns} --reason "all fine"`);
  say(`  npx herald rollout rollback ${ns} --reason "not today"`);
  say(`  npx herald rollout freeze --reason "incident"         # and: npx herald rollout unfreeze`);
  say('  A bad release (the simulated fleet rejects any view with bad=true), rolled back after the canary:');
  say(`  npx herald set ${ns} bad true && npx herald release ${ns} && npx herald rollout status ${ns} --watch`);
  say(`  An unhealthy one (instances report failing health with crash=true): npx herald set ${ns} crash true …`);
  say(`  npx herald audit list                                   # every transition, with who and why`);
  say(`Logs: ${join(dir, 'server.log')}, ${join(dir, 'fleet.log')}. Ctrl-C stops everything.`);
}

main().catch((error) => {
  if (stopping) return;
  say(`herald demo: ${error.message}`);
  stopAll(1);
});
