export { Agent, createAgent } from './agent.js';
export type { AgentEvent, AgentOptions } from './agent.js';
export {
  agentDefaults,
  isAgentConfig,
  loadAgentConfig,
  parseListen,
  readTrustFile,
  resolveAgentConfig,
} from './config.js';
export type { AgentConfig, AgentConfigInput, Subscription, SubscriptionInput } from './config.js';
export { agentErrorCodes, AgentError, agentHttpErrors } from './errors.js';
export type { AgentErrorCode, AgentHttpErrorCode } from './errors.js';
export { runCommand } from './exec.js';
export type { ExecResult } from './exec.js';
export { writeIfChanged } from './files.js';
// The atomic writer is the SDK's (its cache uses it too); the agent's files go through it.
export { writeFileAtomic } from '@herald/sdk/internal';
export type { WriteOutcome } from './files.js';
export { envName, envValue, outputFormats, render, renderEnv, renderJson, renderYaml } from './render.js';
export type { OutputFormat, RenderTarget } from './render.js';
export { parseTemplate } from './template.js';
export type { Template } from './template.js';
