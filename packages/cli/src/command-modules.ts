// Which module registers which top-level command, so that `herald get` loads the admin client
// and nothing else: a command's module (and what it imports: the server, fastify, SQLite, pg) is
// imported only when that command runs. Help and unknown commands load every module.
import type { Command } from 'commander';

export type Register = (program: Command) => void;

const entries = async (): Promise<Register> => (await import('./commands/entries.js')).registerEntryCommands;
const namespaces = async (): Promise<Register> => (await import('./commands/namespaces.js')).registerNamespaceCommands;
const server = async (): Promise<Register> => (await import('./commands/server.js')).registerServerCommand;
const tokens = async (): Promise<Register> => (await import('./commands/tokens.js')).registerTokenCommands;
const delivery = async (): Promise<Register> => (await import('./commands/delivery.js')).registerDeliveryCommands;
const apply = async (): Promise<Register> => (await import('./commands/apply.js')).registerApplyCommand;
const watch = async (): Promise<Register> => (await import('./commands/watch.js')).registerWatchCommand;
const simulate = async (): Promise<Register> => (await import('./commands/simulate.js')).registerSimulateCommand;
const rollout = async (): Promise<Register> => (await import('./commands/rollout.js')).registerRolloutCommands;
const relay = async (): Promise<Register> => (await import('./commands/relay.js')).registerRelayCommand;
const flags = async (): Promise<Register> => (await import('./commands/flags.js')).registerFlagCommands;
const backup = async (): Promise<Register> => (await import('./commands/backup.js')).registerBackupCommands;
const agent = async (): Promise<Register> => (await import('./commands/agent.js')).registerAgentCommand;
const trace = async (): Promise<Register> => (await import('./commands/trace.js')).registerTraceCommand;
const changeControl = async (): Promise<Register> =>
  (await import('./commands/change-control.js')).registerChangeControlCommands;
const doctor = async (): Promise<Register> => (await import('./commands/doctor.js')).registerDoctorCommand;

/** Every module, in the order `herald --help` lists their commands. */
export const allModules: ReadonlyArray<() => Promise<Register>> = [
  server,
  backup,
  namespaces,
  entries,
  flags,
  apply,
  tokens,
  delivery,
  changeControl,
  watch,
  simulate,
  rollout,
  relay,
  agent,
  trace,
  doctor,
];

/** Top-level command name → the module that registers it (a test checks this against the modules). */
export const commandModules: Readonly<Record<string, () => Promise<Register>>> = {
  server,
  migrate: server,
  backup,
  ns: namespaces,
  schema: namespaces,
  set: entries,
  get: entries,
  ls: entries,
  rm: entries,
  lock: entries,
  unlock: entries,
  history: entries,
  diff: entries,
  revert: entries,
  restore: entries,
  compact: entries,
  flag: flags,
  flags,
  apply,
  token: tokens,
  audit: tokens,
  release: delivery,
  releases: delivery,
  policy: delivery,
  keys: delivery,
  fleet: delivery,
  cr: changeControl,
  schedule: changeControl,
  approval: changeControl,
  windows: changeControl,
  watch,
  simulate,
  rollout,
  relay,
  agent,
  trace,
  doctor,
};

/** The modules to load for these arguments: the named command's, or all of them. */
export function modulesFor(args: readonly string[]): ReadonlyArray<() => Promise<Register>> {
  const name = args.find((arg) => !arg.startsWith('-'));
  const one = name === undefined ? undefined : commandModules[name];
  return one ? [one] : allModules;
}
