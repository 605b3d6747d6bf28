import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { modulesFor } from './command-modules.js';
import { ChangeRequestPending, describeFailure, printJson, printLine } from './output.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('herald')
  .description('Herald: versioned, validated configuration delivered to fleets')
  .version(version, '-V, --version', 'print the version')
  .exitOverride()
  // A usage error is one line on stderr like every other failure (no help dump after it), so
  // scripts can log it as is; it names the help of the command that was mistyped.
  .configureOutput({
    outputError: (text, write) =>
      write(
        `herald: ${text
          .replace(/^error: /u, '')
          .trim()
          .replace(/\s*\n\s*/gu, ' ')} (see ${helpOf(process.argv.slice(2))})\n`,
      ),
  });

/** `herald schema get --help` for `herald schema get --bad`: the deepest command the words name. */
function helpOf(args: readonly string[]): string {
  const path = ['herald'];
  let command: Command = program;
  for (const word of args) {
    if (word.startsWith('-')) break;
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) break;
    path.push(word);
    command = sub;
  }
  return `${path.join(' ')} --help`;
}

try {
  // Only the module of the command that runs is imported (command-modules.ts): `herald get`
  // starts without loading the server.
  for (const load of modulesFor(process.argv.slice(2))) (await load())(program);
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof ChangeRequestPending) {
    if (error.json) printJson(error.body);
    else printLine(error.message);
    process.exit(0);
  } else {
    const failure = describeFailure(error);
    process.stderr.write(`herald: ${failure.line}\n`);
    // Exit now: a command that failed half-way (a server that could not start) may hold open
    // connections that would otherwise keep the process alive.
    process.exit(failure.exitCode);
  }
}
