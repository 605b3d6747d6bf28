export { errorCatalogue, errorCodes, HeraldError, isErrorCode, isHeraldError } from './errors.js';
export type { Conflict, ErrorCode, HeraldErrorOptions, Violation } from './errors.js';
export { defaultLimits } from './limits.js';
export type { Limits } from './limits.js';
export {
  checkJsonDepth,
  checkKey,
  checkLabel,
  checkLabels,
  checkNamespaceName,
  checkTags,
  jsonDepth,
  printable,
} from './validation.js';
export { addressId, describeAddress, entryEtag, isJsonContentType, jsonContentType, textContentType } from './entry.js';
export type { EntryAddress, EntryVersion } from './entry.js';
export { checkDistinctChanges, planCommit } from './commit.js';
export type { Change, ChangePrecondition, CommitRecord, CommitRequest, PlannedCommit } from './commit.js';
export { compareAddresses, diffStates, sameContent } from './diff.js';
export type { EntryDiff } from './diff.js';
export { AuditChainVerifier, auditGenesisHash, auditHash, chainAuditRecord } from './audit.js';
export type { AuditInput, AuditRecord, AuditVerification } from './audit.js';
export { SecretCipher } from './secrets.js';
export { ManualClock, systemClock } from './clock.js';
export type { Clock, TimerClock } from './clock.js';
export {
  allows,
  allowsRelaying,
  allowsSecrets,
  globMatches,
  hashToken,
  isRole,
  isSystemAdmin,
  issueToken,
  tokenLineage,
  roles,
  tokenFromSecret,
} from './access.js';
export type { IssuedToken, Permission, Role, Scope } from './access.js';
export { decodeCursor, encodeCursor } from './paging.js';
export type { Page } from './paging.js';
export { inverseOfCommit } from './revert.js';
export type { CommitInverse } from './revert.js';
export { schemaViolation, SchemaValidator } from './schema.js';
export type { NamespaceSchema } from './schema.js';
export { checkSchemaBounds, linearRegExp, schemaLimits } from './schema-limits.js';
export { canonicalJson } from './canonical.js';
export { sha256 } from './sha256.js';
export { applyDelta, diffViews, normaliseLabels, resolveView, viewKey } from './view.js';
export { ViewDigest, viewDigest } from './view-digest.js';
export type { ViewDelta, ViewSpec, ViewValues } from './view.js';
export { publicKeyFromRaw, rawPublicKey, SigningKey, TrustStore } from './signing.js';
export type { Manifest, PublicKeyInfo, SignedManifest } from './signing.js';
export { checkDuration, formatDuration, maxDurationMs, parseDuration } from './duration.js';
export {
  defaultGates,
  defaultRolloutPolicy,
  defaultWaves,
  formatPolicy,
  minimumReportDeadlineMs,
  parsePolicy,
  reportDeadlineAtOf,
  reportDeadlineOf,
  rolloutStrategies,
} from './rollout/policy.js';
export type {
  DirectRolloutPolicy,
  RolloutGates,
  RolloutPolicy,
  RolloutPolicyDocument,
  RolloutStrategy,
  RolloutWave,
  StagedRolloutPolicy,
  WaveMatch,
} from './rollout/policy.js';
export { bucketCount, bucketOf, firstWaveOf, isTargeted, matchesWave } from './rollout/buckets.js';
export type { RolloutInstance } from './rollout/buckets.js';
export {
  abort,
  bakedMsAt,
  controllerActor,
  evaluate,
  freeze,
  isActiveRollout,
  judgeChecks,
  pause,
  resume,
  rollback,
  rolloutStateNames,
  selectsCandidate,
  startRollout,
  unfreeze,
} from './rollout/machine.js';
export type {
  EvaluateOptions,
  FailedCheck,
  FailedGate,
  HoldReason,
  RolloutDecision,
  RolloutGateName,
  RolloutHistoryEntry,
  RolloutState,
  RolloutStateName,
  StartRolloutInput,
  WaveCounts,
  WaveObservation,
} from './rollout/machine.js';
export { summarize } from './rollout/summary.js';
export type { CheckSummary, GateSummary, RolloutSummary, WaveSummary } from './rollout/summary.js';
export { alternation, judgeCheck, outcomeOf, renderQuery, renderUrl } from './rollout/checks.js';
export type {
  CheckContext,
  CheckObservation,
  CheckSample,
  HttpCheck,
  MetricCheck,
  SampleOutcome,
} from './rollout/checks.js';
export { parseRolloutState } from './rollout/persisted.js';
export { countWave, healthyReportsSince, mergeWaveObservations, observeAgain } from './rollout/observation.js';
export type { ObservationWindow, ReportedInstance } from './rollout/observation.js';
export { isWatchEventName, parseManifest, parseWatchEvent, watchEventNames } from './watch-events.js';
export type {
  DeltaData,
  DeltaEvent,
  HeartbeatData,
  HeartbeatEvent,
  HelloData,
  HelloEvent,
  KeysData,
  KeysEvent,
  SnapshotData,
  SnapshotEvent,
  ViewErrorData,
  ViewErrorEvent,
  WatchEvent,
  WatchEventData,
  WatchEventName,
  WatchEventParse,
} from './watch-events.js';
export { parseApprovalRule } from './approval.js';
export type { ApprovalRule } from './approval.js';
export { blockingWindow, parseWindows } from './rollout/windows.js';
export type { ChangeWindow, WindowBlock } from './rollout/windows.js';
