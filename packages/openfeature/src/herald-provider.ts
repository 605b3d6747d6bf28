import { FlagSet, type FlagType } from '@herald/flags';
import { HeraldClientError, type ClientStatus, type HeraldClient, type ViewChange } from '@herald/sdk';
import {
  ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';

export interface HeraldProviderOptions {
  /** The application's client; it must watch `namespace` with `labels`. Started by the provider's initialize (start is idempotent). */
  client: HeraldClient;
  namespace: string;
  /** The label stack of the watched view, when the namespace is watched with several. */
  labels?: readonly string[];
  /**
   * This instance's own attributes (region, service, version…), added to every evaluation context
   * under their names, with `instanceId`; the caller's context wins on a clash. Targeting can then
   * say `{"var": "region"}` without each call passing it.
   */
  instance?: { id?: string; attributes?: Readonly<Record<string, string>> };
  /** Close the client when OpenFeature closes the provider. Default false: the client stays the application's. */
  closeClient?: boolean;
}

const sameLabels = (a: readonly string[], b: readonly string[]) =>
  (a.length === 0 ? [''] : a).join('\u0000') === (b.length === 0 ? [''] : b).join('\u0000');

/**
 * An OpenFeature server provider that evaluates Herald flags in-process, with flagd's evaluator,
 * from the SDK's verified view: no network call per evaluation. Events: READY once the view is
 * there (at once from the verified cache), CONFIGURATION_CHANGED with the keys of the flags a
 * release changed, STALE while the stream is down (or the view is the cache's with the upstream
 * unreachable), READY again when the stream is back, ERROR when the server refuses the view
 * (token refused, namespace gone; the held flags still answer) and a fatal ERROR when the client
 * ends with an error.
 */
export class HeraldProvider implements Provider {
  readonly metadata = { name: 'Herald' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly #client: HeraldClient;
  readonly #namespace: string;
  readonly #labels: readonly string[] | undefined;
  readonly #instance: Record<string, string>;
  readonly #closeClient: boolean;
  #flags: { digest: string; set: FlagSet } | undefined;
  #statuses: AsyncIterableIterator<ClientStatus, undefined> | undefined;
  #changes: AsyncIterableIterator<ViewChange, undefined> | undefined;
  #initialized = false;
  #stale = false;
  #failed = false;

  constructor(options: HeraldProviderOptions) {
    this.#client = options.client;
    this.#namespace = options.namespace;
    this.#labels = options.labels;
    this.#instance = {
      ...options.instance?.attributes,
      ...(options.instance?.id === undefined ? {} : { instanceId: options.instance.id }),
    };
    this.#closeClient = options.closeClient ?? false;
  }

  /** Resolves when the view has verified values: at once from the cache. OpenFeature then emits READY. */
  async initialize(): Promise<void> {
    this.#statuses ??= this.#client.status();
    this.#changes ??= this.#client.changes({ namespace: this.#namespace });
    void this.#follow(this.#statuses, (status) => this.#onStatus(status));
    void this.#follow(this.#changes, (change) => this.#onChange(change));
    await this.#client.start();
    await this.#client.ready();
    this.#initialized = true;
    // OpenFeature emits READY once this resolves (in a promise reaction); a stale state known by
    // now is told after it, not lost under it.
    if (this.#stale)
      setImmediate(() => this.#emitStale('the view comes from the verified cache; the upstream is unreachable'));
  }

  async onClose(): Promise<void> {
    await this.#statuses?.return?.();
    await this.#changes?.return?.();
    if (this.#closeClient) await this.#client.close();
  }

  resolveBooleanEvaluation(key: string, defaultValue: boolean, context: EvaluationContext) {
    return Promise.resolve(this.#resolve('boolean', key, defaultValue, context));
  }

  resolveStringEvaluation(key: string, defaultValue: string, context: EvaluationContext) {
    return Promise.resolve(this.#resolve('string', key, defaultValue, context));
  }

  resolveNumberEvaluation(key: string, defaultValue: number, context: EvaluationContext) {
    return Promise.resolve(this.#resolve('number', key, defaultValue, context));
  }

  resolveObjectEvaluation<T extends JsonValue>(key: string, defaultValue: T, context: EvaluationContext) {
    return Promise.resolve(this.#resolve('object', key, defaultValue, context));
  }

  #resolve<T extends JsonValue>(
    type: FlagType,
    key: string,
    defaultValue: T,
    context: EvaluationContext,
  ): ResolutionDetails<T> {
    const flags = this.#current();
    if (!flags)
      return {
        value: defaultValue,
        reason: 'ERROR',
        errorCode: ErrorCode.PROVIDER_NOT_READY,
        errorMessage: 'no view yet',
      };
    const resolution = flags.resolve(type, key, defaultValue, { ...this.#instance, ...context });
    // Counted per variant served, sent with the SDK's reports (docs/flags.md, "Usage counts").
    if (resolution.variant !== undefined && resolution.errorCode === undefined)
      this.#client.countEvaluation(this.#namespace, key, resolution.variant);
    return resolution;
  }

  /** The flags of the view the client holds now, parsed once per digest. */
  #current(): FlagSet | undefined {
    const snapshot = this.#client.snapshot(this.#namespace, this.#labels);
    if (!snapshot) return undefined;
    if (this.#flags?.digest !== snapshot.digest)
      this.#flags = { digest: snapshot.digest, set: FlagSet.fromView(snapshot.values) };
    return this.#flags.set;
  }

  async #follow<T>(iterator: AsyncIterableIterator<T, undefined>, handle: (item: T) => void): Promise<void> {
    for await (const item of iterator) handle(item);
  }

  #onChange(change: ViewChange): void {
    if (this.#labels !== undefined && !sameLabels(change.labels, this.#labels)) return;
    const before =
      this.#flags?.digest === change.previous?.digest ? this.#flags?.set : FlagSet.fromView(change.oldValues);
    const after = FlagSet.fromView(change.newValues);
    this.#flags = { digest: change.current.digest, set: after };
    const flagsChanged = after.changedSince(before);
    if (this.#initialized && change.via !== 'cache' && flagsChanged.length > 0)
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged, message: `release ${change.current.seq}` });
  }

  #onStatus(status: ClientStatus): void {
    switch (status.type) {
      case 'disconnected':
        if (isRefusal(status.error)) {
          this.#failed = true;
          this.events.emit(ProviderEvents.Error, { message: `the server refuses the view: ${status.error.message}` });
        }
        if (!this.#stale) {
          this.#stale = true;
          if (this.#initialized) this.#emitStale(`stream lost: ${status.error.message}`);
        }
        return;
      case 'connected':
        if ((this.#stale || this.#failed) && this.#initialized)
          this.events.emit(ProviderEvents.Ready, { message: 'stream up' });
        this.#stale = false;
        this.#failed = false;
        return;
      case 'view-error':
        if (status.namespace === this.#namespace) {
          this.#failed = true;
          this.events.emit(ProviderEvents.Error, { message: `${status.code}: ${status.detail}` });
        }
        return;
      case 'closed':
        if (status.error)
          this.events.emit(ProviderEvents.Error, {
            message: status.error.message,
            errorCode: ErrorCode.PROVIDER_FATAL,
          });
        return;
      default:
        return;
    }
  }

  #emitStale(message: string): void {
    if (this.#stale) this.events.emit(ProviderEvents.Stale, { message });
  }
}

/** 401 or 403 from the server: the token is no longer good for this view. */
function isRefusal(error: Error): boolean {
  return (
    error instanceof HeraldClientError && error.code === 'http_error' && (error.status === 401 || error.status === 403)
  );
}
