import {
  blockingWindow,
  HeraldError,
  parseApprovalRule,
  parseWindows,
  type ApprovalRule,
  type Clock,
  type ChangeWindow,
  type WindowBlock,
} from '@herald/core';
import type { Store } from '@herald/store';
import { actorOf, auditBy, requirePermission, requireSystemAdmin, type Principal } from '../principal.js';
import { requireNamespace } from '../services/namespace-service.js';

/** `*` is every namespace: the system's own windows. */
export const everyNamespace = '*';

const approvalSetting = (namespace: string) => `approval:${namespace}`;
const windowsSetting = (scope: string) => `windows:${scope}`;
const windowOverrideSetting = (rolloutId: string) => `window_override:${rolloutId}`;

export type SettingsStore = Pick<Store, 'getSetting' | 'putSetting' | 'getNamespace' | 'listActiveRollouts'>;

/**
 * The settings of change control, kept as store settings (audited like every setting): a
 * namespace's approval rule, the change windows of a namespace and of the whole system, and the
 * window overrides given to rollouts. Also the one check of "may a release start now".
 */
export class ChangeControlSettings {
  readonly #store: SettingsStore;
  readonly #clock: Clock;

  constructor(deps: { store: SettingsStore; clock: Clock }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  /** The window blocking the namespace (or, `*`, every namespace) now. */
  async blockedNow(scope: string): Promise<WindowBlock | undefined> {
    return scope === everyNamespace
      ? blockingWindow([{ scope, windows: await this.windows(scope) }], this.#clock.now())
      : this.blockAt(scope, this.#clock.now());
  }

  /**
   * Why the rollout's next wave may not start now: the window it is in, unless the rollout was
   * given an override. The rollout controller holds the wave while this answers.
   */
  async holdOf(namespace: string, rolloutId: string): Promise<WindowBlock | undefined> {
    const block = await this.blockAt(namespace, this.#clock.now());
    if (!block || (await this.windowOverride(rolloutId)) !== undefined) return undefined;
    return block;
  }

  async approvalRule(namespace: string): Promise<ApprovalRule | null> {
    const text = await this.#store.getSetting(approvalSetting(namespace));
    return text ? (JSON.parse(text) as ApprovalRule | null) : null;
  }

  async setApproval(principal: Principal, namespace: string, input: unknown): Promise<ApprovalRule | null> {
    requirePermission(principal, 'manage', namespace);
    await requireNamespace(this.#store, namespace);
    const rule = parseApprovalRule(input);
    await this.#store.putSetting(
      approvalSetting(namespace),
      JSON.stringify(rule),
      auditBy(principal, 'namespace.approval', `namespace:${namespace}`, { approval: rule }),
    );
    return rule;
  }

  /** The windows of a namespace, or (`*`) of every namespace. */
  async windows(scope: string): Promise<ChangeWindow[]> {
    const text = await this.#store.getSetting(windowsSetting(scope));
    return text ? (JSON.parse(text) as ChangeWindow[]) : [];
  }

  async setWindows(principal: Principal, scope: string, input: unknown): Promise<ChangeWindow[]> {
    if (scope === everyNamespace) requireSystemAdmin(principal);
    else {
      requirePermission(principal, 'manage', scope);
      await requireNamespace(this.#store, scope);
    }
    const windows = parseWindows(input);
    await this.#store.putSetting(
      windowsSetting(scope),
      JSON.stringify(windows),
      auditBy(principal, 'windows.set', scope === everyNamespace ? 'windows' : `namespace:${scope}`, { windows }),
    );
    return windows;
  }

  /** The window that blocks changes to the namespace at `at`: its own first, then the system's. */
  async blockAt(namespace: string, at: number): Promise<WindowBlock | undefined> {
    const [own, system] = await Promise.all([this.windows(namespace), this.windows(everyNamespace)]);
    return blockingWindow(
      [
        { scope: namespace, windows: own },
        { scope: everyNamespace, windows: system },
      ],
      at,
    );
  }

  /**
   * Refuses (`change_window`) a release that would start inside a window, unless the caller
   * overrides it with a reason (admins only); returns the override's audit details when it did.
   */
  async checkWindow(principal: Principal, namespace: string, at: number): Promise<Record<string, unknown>> {
    const block = await this.blockAt(namespace, at);
    if (!block) return {};
    const reason = principal.overrides?.window;
    if (reason === undefined)
      throw new HeraldError(
        'change_window',
        `releases of "${namespace}" are blocked by the change window ${block.describe}; an admin may override it with --override-window --reason "..."`,
        { extensions: { window: block.window.name, scope: block.scope, until: new Date(block.until).toISOString() } },
      );
    requirePermission(principal, 'manage', namespace);
    return { overrideWindow: { window: block.window.name, reason, by: actorOf(principal) } };
  }

  /** The reason a rollout may advance through windows, when it was given one. */
  async windowOverride(rolloutId: string): Promise<string | undefined> {
    return (await this.#store.getSetting(windowOverrideSetting(rolloutId))) || undefined;
  }

  /** Lets the namespace's active rollout advance through windows, with a reason (admins). */
  async overrideActiveRollout(
    principal: Principal,
    namespace: string,
    reason: string,
  ): Promise<{ rolloutId: string; reason: string }> {
    requirePermission(principal, 'manage', namespace);
    const [active] = await this.#store.listActiveRollouts(namespace);
    if (!active) throw new HeraldError('invalid_transition', `namespace "${namespace}" has no active rollout`);
    await this.overrideWindowFor(principal, namespace, active.id, reason);
    return { rolloutId: active.id, reason };
  }

  async overrideWindowFor(principal: Principal, namespace: string, rolloutId: string, reason: string): Promise<void> {
    requirePermission(principal, 'manage', namespace);
    await this.#store.putSetting(
      windowOverrideSetting(rolloutId),
      reason,
      auditBy(principal, 'rollout.override_window', `namespace:${namespace}`, { rolloutId, reason }),
    );
  }
}
