export { createServer, HeraldServer } from './server.js';
export type { ServerDependencies } from './server.js';
export { defaultServerConfig, resolveServerConfig } from './config.js';
export type { ServerConfig, ServerConfigInput } from './config.js';
export { checkSecretKey, ensureBootstrapAdmin } from './bootstrap.js';
export { ConfigService } from './config-service.js';
export type {
  ChangeInput,
  CommitInput,
  CommitOutcome,
  DiffItem,
  HistoryItem,
  NamespaceView,
  TokenView,
} from './config-service.js';
export type { EntryView } from './entry-codec.js';
export type { Principal } from './principal.js';
export type { ProblemDocument } from './http/problem.js';
export { Relay } from './relay/relay.js';
export { defaultRelayConfig, resolveRelayConfig } from './relay/relay-config.js';
export type { RelayConfig, RelayConfigInput, RelayDependencies, RelayOptions } from './relay/relay-config.js';
export type { FleetItem } from './delivery/delivery-service.js';
export type { ReleaseView } from './delivery/release-service.js';
