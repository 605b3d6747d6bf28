// The shapes of the admin API's answers the UI reads (docs/api.md; /openapi.json is authoritative).

export type Role = 'admin' | 'writer' | 'releaser' | 'reader' | 'client';

export interface Scope {
  namespaces: string;
  role: Role;
  secrets?: boolean;
}

export interface WhoAmI {
  tokenId: string;
  name: string;
  scopes: Scope[];
}

export interface Namespace {
  name: string;
  description: string;
  revision: number;
  entryCount: number;
  hasSchema: boolean;
  createdAt: string;
}

export interface Entry {
  namespace: string;
  key: string;
  label: string;
  value: unknown;
  contentType: string;
  tags: Record<string, string>;
  locked: boolean;
  secret: boolean;
  redacted: boolean;
  revision: number;
  etag: string;
  author: string;
  updatedAt: string;
}

export interface Page<T> {
  items: T[];
  next?: string | null;
}

export interface EntryPage extends Page<Entry> {
  revision: number;
}

export interface HistoryChange {
  /** set, delete, lock or unlock. */
  op: string;
  key: string;
  label: string;
  entry?: Entry | null;
}

export interface Commit {
  revision: number;
  author: string;
  message: string;
  at: string;
  changes: HistoryChange[];
}

export interface DiffChange {
  key: string;
  label: string;
  kind: 'added' | 'removed' | 'changed';
  before?: Entry | null;
  after?: Entry | null;
}

export interface DiffResult {
  from?: number;
  to?: number;
  revision?: number | null;
  changes: DiffChange[];
}

export interface NamespaceSchema {
  document?: Record<string, unknown>;
  prefixes?: Array<{ prefix: string; schema: Record<string, unknown> }>;
}

export interface Release {
  namespace: string;
  seq: number;
  revision: number;
  kind: string;
  author: string;
  note: string;
  createdAt: string;
  rolloutId?: string;
}

export interface PolicyDocument {
  strategy: 'immediate' | 'manual' | 'staged';
  waves?: Array<{ name: string; percent: number; bake: string; match?: Record<string, string[]> }>;
  gates?: {
    minReportRatio: number;
    maxRejectRatio: number;
    maxUnhealthyRatio: number;
    reportDeadline?: string;
    minInstances?: number;
  };
  autoRollback?: boolean;
}

export type RolloutStateName = 'running' | 'paused' | 'frozen' | 'succeeded' | 'rolled_back' | 'aborted';

export interface WaveSummary {
  index: number;
  name: string;
  percent: number;
  bake: string;
  bakeMs: number;
  match?: Record<string, string[]>;
  status: 'done' | 'current' | 'pending';
  targeted?: number;
  reported?: number;
  applied?: number;
  rejected?: number;
  unhealthy?: number;
}

export interface GateSummary {
  name: 'minInstances' | 'minReportRatio' | 'maxRejectRatio' | 'maxUnhealthyRatio';
  value: number;
  threshold: number;
  pass: boolean;
  status: 'pass' | 'waiting' | 'fail';
}

export interface RolloutStatus {
  id: string;
  namespace: string;
  strategy: string;
  state: RolloutStateName;
  wave: number;
  waveName: string | null;
  waves: WaveSummary[];
  gates: GateSummary[];
  fromSeq: number;
  toSeq: number;
  startedAt: number;
  updatedAt: number;
  waveStartedAt: number;
  pausedAt: number | null;
  bakeMs: number;
  bakedMs: number;
  bakeRemainingMs: number;
  reportDeadlineAt: number | null;
  autoRollback: boolean;
  next: { kind: string; why?: string; message: string };
  reason: string | null;
  observation: { targeted: number; reported: number; applied: number; rejected: number; unhealthy: number };
  frozenAll: boolean;
}

export interface RolloutHistoryEntry {
  at: number;
  from: string;
  to: string;
  wave: number;
  actor: string;
  reason: string;
}

export interface RolloutRecord {
  id: string;
  state: RolloutStateName;
  wave: number;
  fromSeq: number;
  toSeq: number;
  startedAt: number;
  reason?: string;
  history: RolloutHistoryEntry[];
}

export interface FleetInstance {
  instanceId: string;
  attributes: Record<string, string>;
  labels: string[];
  seq: number;
  digest: string;
  /** applied or rejected. */
  status: string;
  reason?: string;
  health: string;
  healthDetail: string;
  lastSeen: string;
}

export interface Fleet {
  instances: FleetInstance[];
  releases: Array<{ seq: number; applied: number; rejected: number }>;
}

export interface AuditRecord {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditVerify {
  ok: boolean;
  count: number;
  head: string;
  firstBad?: { seq: number; reason: string };
}

export const activeStates: readonly RolloutStateName[] = ['running', 'paused', 'frozen'];
