import { Command, CommanderError } from 'commander';
import { registerAgentCommand } from './commands/agent.js';
import { registerApplyCommand } from './commands/apply.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerDeliveryCommands } from './commands/delivery.js';
import { registerEntryCommands } from './commands/entries.js';
import { registerFlagCommands } from './commands/flags.js';
import { registerNamespaceCommands } from './commands/namespaces.js';
import { registerServerCommand } from './commands/server.js';
import { registerRelayCommand } from './commands/relay.js';
import { registerRolloutCommands } from './commands/rollout.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerWatchCommand } from './commands/watch.js';
import { describeFailure } from './output.js';

const program = new Command('herald')
  .description('Herald: versioned, validated configuration delivered to fleets')
  .exitOverride()
  // A usage error is one line on stderr like every other failure (no help dump after it), so
  // scripts can log it as is; `herald <command> --help` shows the usage.
  .configureOutput({
    outputError: (text, write) =>
      write(
        `herald: ${text
          .replace(/^error: /u, '')
          .trim()
          .replace(/\s*\n\s*/gu, ' ')} (see herald --help)\n`,
      ),
  });

registerServerCommand(program);
registerBackupCommands(program);
registerNamespaceCommands(program);
registerEntryCommands(program);
registerFlagCommands(program);
registerApplyCommand(program);
registerTokenCommands(program);
registerDeliveryCommands(program);
registerWatchCommand(program);
registerSimulateCommand(program);
registerRolloutCommands(program);
registerRelayCommand(program);
registerAgentCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    const failure = describeFailure(error);
    process.stderr.write(`herald: ${failure.line}\n`);
    // Exit now: a command that failed half-way (a server that could not start) may hold open
    // connections that would otherwise keep the process alive.
    process.exit(failure.exitCode);
  }
}
