export {
  azureFlagContentType,
  azureFlagPrefix,
  evaluatorsContentType,
  evaluatorsKey,
  flagContentType,
  isAzureFlag,
  isEvaluatorsContentType,
  isFlagContentType,
} from './content-types.js';
export { azureFlagSchema } from './azure-flag-schema.js';
export { AzureFlagValidator } from './azure-flag.js';
export { evaluatorsProblems, flagProblems, isFlagDefinition } from './flagd-flag.js';
export type { VariantType } from './flagd-flag.js';
export { FlagRules, flagViolation } from './flag-rules.js';
export { FlagSet } from './flag-set.js';
export type { Evaluation, FlagType, Resolution } from './flag-set.js';
export { evaluateAll, evaluateOne, ofrepContext } from './ofrep.js';
export type { OfrepAnswer } from './ofrep.js';
export { needsTargetingKey, outcomesOf, resolveRefs, usesRefs } from './targeting.js';
export type { Evaluators, Outcomes } from './targeting.js';
