import { checkLabels, normaliseLabels, viewKey, type Limits, type ViewSpec } from '@herald/core';
import { requirePermission, type Principal } from '../principal.js';
import type { WatchRequestView } from './watch-hub.js';

/** A view as a client names it in a watch, view or route request. */
export interface ViewRequest {
  namespace: string;
  labels?: string[];
  seq?: number;
  digest?: string;
}

/** How the node that serves views decides who gets what; the rest of the checks are the same everywhere. */
export interface ViewAccess {
  limits: Limits;
  /**
   * Whether this principal's view of the namespace carries secrets. It throws `forbidden` when
   * the node cannot serve the principal at all (a relay whose feed has secrets the client may
   * not read).
   */
  secrets(principal: Principal, namespace: string): boolean;
  /** Fails with `namespace_not_found`; a relay, which cannot know, has none and lets its upstream say. */
  requireNamespace?(namespace: string): Promise<void>;
}

/**
 * Checks a watch or view request and decides each view's audience (with secrets or not), on the
 * control plane and on relays alike: normalised labels within limits, the `view` permission,
 * then the node's own rules.
 */
export async function resolveViewRequests(
  principal: Principal,
  requested: readonly ViewRequest[],
  access: ViewAccess,
): Promise<WatchRequestView[]> {
  const resolved: WatchRequestView[] = [];
  for (const view of requested) {
    const labels = normaliseLabels(view.labels ?? []);
    checkLabels(labels, access.limits);
    requirePermission(principal, 'view', view.namespace);
    await access.requireNamespace?.(view.namespace);
    const spec: ViewSpec = { namespace: view.namespace, labels };
    const secrets = access.secrets(principal, view.namespace);
    resolved.push({
      spec,
      secrets,
      key: viewKey(spec, secrets),
      ...(view.seq === undefined ? {} : { seq: view.seq }),
      ...(view.digest === undefined ? {} : { digest: view.digest }),
    });
  }
  return resolved;
}
