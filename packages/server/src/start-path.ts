/**
 * What a process starting a control-plane node needs before it loads the server itself (fastify,
 * the routes, the store drivers): the defaults and checks of its flags, and the early listener
 * that binds its socket at once. `herald server` imports this first, and `@herald/server` only
 * once the socket answers.
 */
export { defaultServerConfig, maxWatchWorkers, resolveServerConfig } from './config.js';
export type { ServerConfig, ServerConfigInput, ServerTls } from './config.js';
export { checkClientIdentities } from './http/client-certificates.js';
export type { ClientIdentity, ClientIdentityMatch } from './http/client-certificates.js';
export { connectionLimitsOf, httpsOptions } from './http/connection-limits.js';
export { listenEarly } from './http/early-listener.js';
export type { EarlyListener, EarlyListenOptions } from './http/early-listener.js';
export { isLogFormat, logFormats } from './http/log-format.js';
export type { LogFormat } from './http/log-format.js';
