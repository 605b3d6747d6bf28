// The CLI's start: wall time of `herald get NS KEY` against a running server, process spawn to
// exit, `etcdctl get` against etcd side by side (same machine, same run, interleaved).
//   node bench/cli.mjs [--runs 20] [--targets herald,etcd] [--profile DIR]
// --profile DIR: one extra `herald get` under `node --cpu-prof`, its profile written to DIR.
import { execFileSync, spawnSync } from 'node:child_process';
import { benchToken, heraldBin, machine, option, percentile, startEtcd, startHerald, stopAll, table } from './lib.mjs';

const runs = Number(option('runs', '20'));
const targets = option('targets', 'herald,etcd').split(',');
const profileDir = option('profile', '');

function timed(command, args, env) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return { ms, stdout: result.stdout };
}

const results = [];
try {
  const commands = [];
  if (targets.includes('herald')) {
    const herald = await startHerald();
    const env = { HERALD_URL: herald.url, HERALD_TOKEN: benchToken };
    execFileSync(process.execPath, [heraldBin, 'ns', 'create', 'bench'], { env: { ...process.env, ...env } });
    execFileSync(process.execPath, [heraldBin, 'set', 'bench', 'config', '{"pool":{"max":40}}'], {
      env: { ...process.env, ...env },
    });
    commands.push({
      name: 'herald get bench config',
      command: process.execPath,
      args: [heraldBin, 'get', 'bench', 'config'],
      env,
    });
    if (profileDir)
      timed(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, heraldBin, 'get', 'bench', 'config'], env);
  }
  if (targets.includes('etcd')) {
    const etcd = await startEtcd();
    const env = { ETCDCTL_API: '3' };
    const endpoints = `--endpoints=${etcd.url}`;
    execFileSync('etcdctl', [endpoints, 'put', 'bench/config', '{"pool":{"max":40}}'], {
      env: { ...process.env, ...env },
    });
    commands.push({
      name: `etcdctl get (${etcd.version.replace(/^etcd Version: /, 'etcd ')})`,
      command: 'etcdctl',
      args: [endpoints, 'get', 'bench/config'],
      env,
    });
  }
  // One warm-up each (the page cache), then the runs interleaved so that noise falls on both.
  for (const c of commands) timed(c.command, c.args, c.env);
  const times = commands.map(() => []);
  for (let i = 0; i < runs; i += 1) commands.forEach((c, j) => times[j].push(timed(c.command, c.args, c.env).ms));
  commands.forEach((c, j) => {
    const sorted = times[j].sort((a, b) => a - b);
    results.push([
      c.name,
      runs,
      percentile(sorted, 50).toFixed(0),
      percentile(sorted, 99).toFixed(0),
      sorted[0].toFixed(0),
    ]);
  });
} finally {
  await stopAll();
}
console.log(
  `\nThe CLI's start: ${runs} runs each, spawn to exit, against a running server on loopback. ${machine()}.\n`,
);
console.log(table(['command', 'runs', 'p50 ms', 'p99 ms', 'min ms'], results));
