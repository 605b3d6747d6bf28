import { Command, CommanderError } from 'commander';
import { registerApplyCommand } from './commands/apply.js';
import { registerEntryCommands } from './commands/entries.js';
import { registerNamespaceCommands } from './commands/namespaces.js';
import { registerServerCommand } from './commands/server.js';
import { registerTokenCommands } from './commands/tokens.js';
import { describeFailure } from './output.js';

const program = new Command('herald')
  .description('Herald: versioned, validated configuration delivered to fleets')
  .showHelpAfterError()
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text.startsWith('error:') ? `herald: ${text.slice(7)}` : text) });

registerServerCommand(program);
registerNamespaceCommands(program);
registerEntryCommands(program);
registerApplyCommand(program);
registerTokenCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    const failure = describeFailure(error);
    process.stderr.write(`herald: ${failure.line}\n`);
    process.exitCode = failure.exitCode;
  }
}
