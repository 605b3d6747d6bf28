import type { ViewValues } from '@herald/core';
import type { InstanceIdentity, Routing } from '../delivery/routing.js';
import { targetRelease } from '../delivery/routing.js';
import type { ViewRequest } from '../delivery/view-requests.js';
import type { ViewService } from '../delivery/views.js';
import type { WatchRequestView } from '../delivery/watch-hub.js';
import type { Principal } from '../principal.js';

/**
 * The view an OFREP evaluation reads, the same way on the control plane and on a relay: the
 * caller's view of the namespace (checked as a view request: `view` permission, secrets only for
 * tokens that may read them) at the release the namespace's route gives. An evaluation that names
 * an instance gets the release that instance's wave gives it during a rollout (the same selection
 * the watch stream makes); one that names none gets the stable release.
 */
export function ofrepViews(deps: {
  resolveViews(principal: Principal, requested: readonly ViewRequest[]): Promise<WatchRequestView[]>;
  routing: Routing;
  views: ViewService;
}): (
  principal: Principal,
  namespace: string,
  labels: string[],
  instance: InstanceIdentity | undefined,
) => Promise<{ digest: string; values: Readonly<ViewValues> } | undefined> {
  return async (principal, namespace, labels, instance) => {
    const [wanted] = await deps.resolveViews(principal, [{ namespace, labels }]);
    const route = await deps.routing.route(namespace);
    if (!route || !wanted) return undefined;
    const release = instance === undefined ? route.stable : targetRelease(route, instance);
    const view = await deps.views.at(wanted.spec, wanted.secrets, release);
    return { digest: view.digest, values: view.values };
  };
}

/**
 * Who an evaluation context names, for the rollout's wave selection: `instanceId` (what the
 * Herald provider adds from its instance), else the `targetingKey`; its attributes are the
 * context's other string-valued attributes. Undefined when the context names no one.
 */
export function instanceOfContext(body: unknown): InstanceIdentity | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const context = (body as { context?: unknown }).context;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) return undefined;
  const record = context as Record<string, unknown>;
  const id = typeof record.instanceId === 'string' ? record.instanceId : record.targetingKey;
  if (typeof id !== 'string' || id === '') return undefined;
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(record)) {
    if (name !== 'instanceId' && name !== 'targetingKey' && typeof value === 'string') attributes[name] = value;
  }
  return { instanceId: id, attributes };
}
