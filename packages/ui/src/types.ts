// The shapes of the admin API's answers the UI reads, named as the UI uses them. They are taken
// from api-types.gen.ts, which `npm run gen:ui-types` generates from the server's /openapi.json,
// so they cannot drift from it. The few the document leaves open (an object with any members)
// are still written here by hand, marked so, until their routes' schemas describe them.
import type { components, paths } from './api-types.gen.js';

/** The JSON body of the `status` answer of `method` on `path`. */
type Answer<
  Path extends keyof paths,
  Method extends 'get' | 'post' | 'put' | 'delete',
  Status extends number,
> = paths[Path][Method] extends { responses: { [S in Status]: { content: { 'application/json': infer Body } } } }
  ? Body
  : never;

/** The roles of docs/access.md; the document says only "string". */
export type Role = 'admin' | 'writer' | 'releaser' | 'reader' | 'client';

export type WhoAmI = Omit<Answer<'/v1/whoami', 'get', 200>, 'scopes'> & { scopes: Scope[] };

export type Scope = Omit<Answer<'/v1/whoami', 'get', 200>['scopes'][number], 'role'> & { role: Role };

export type Namespace = components['schemas']['Namespace'];

export type Entry = components['schemas']['Entry'];

export interface Page<T> {
  items: T[];
  next?: string | null;
}

export type EntryPage = Answer<'/v1/namespaces/{ns}/entries', 'get', 200>;

export type Commit = Answer<'/v1/namespaces/{ns}/history', 'get', 200>['items'][number];

export type HistoryChange = Commit['changes'][number];

export type DiffChange = Answer<'/v1/namespaces/{ns}/diff', 'get', 200>['changes'][number];

/** A diff (from, to), a restore or a revert of one commit (revision): the UI shows them the same way. */
export type DiffResult = Partial<Omit<Answer<'/v1/namespaces/{ns}/diff', 'get', 200>, 'changes'>> &
  Partial<Omit<Answer<'/v1/namespaces/{ns}/commits/{revision}/revert', 'post', 200>, 'changes'>> & {
    changes: DiffChange[];
  };

export type NamespaceSchema = NonNullable<Answer<'/v1/namespaces/{ns}/schema', 'get', 200>['schema']>;

export type Release = Answer<'/v1/namespaces/{ns}/releases', 'post', 201>;

// By hand: the document describes only `strategy`.
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

// By hand: the document describes a rollout as an open object.
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
  /** The change window holding the next wave, while one does. */
  heldBy?: { window: string; scope: string; until: string; describe: string };
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

export type Fleet = Answer<'/v1/fleet/{ns}', 'get', 200>;

export type FleetInstance = Fleet['instances'][number];

export type AuditRecord = Answer<'/v1/audit', 'get', 200>['items'][number];

export type AuditVerify = Answer<'/v1/audit/verify', 'get', 200>;

export const activeStates: readonly RolloutStateName[] = ['running', 'paused', 'frozen'];

export type NamespaceSummary = Answer<'/v1/console/namespaces', 'get', 200>['items'][number];
/** Where a release went (herald trace): relays' receipts and the fleet per relay chain and region. */
export type ReleaseTrace = Answer<'/v1/namespaces/{ns}/releases/{seq}/trace', 'get', 200>;
export type TraceCounts = ReleaseTrace['fleet'];
export type ChangeRequest = Answer<'/v1/change-requests/{id}', 'get', 200>;

export type ChangeRequestApproval = Answer<'/v1/change-requests/{id}/approve', 'post', 200>;
