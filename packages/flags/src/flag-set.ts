import { canonicalJson, type ViewValues } from '@herald/core';
import { ErrorCode, type EvaluationContext, type FlagMetadata, type JsonValue } from '@openfeature/core';
import type { FlagdCore } from '@openfeature/flagd-core';
import { evaluatorsKey } from './content-types.js';
import { flagdCore } from './flagd-core.js';
import { evaluatorsProblems, flagProblems, isFlagDefinition, silentLogger } from './flagd-flag.js';
import { needsTargetingKey, resolveRefs, type Evaluators } from './targeting.js';

/**
 * The flags of one view, ready to evaluate with flagd's own evaluator (@openfeature/flagd-core),
 * so a flag answers here exactly as it does in flagd. Built from a view's values, not from the
 * store: the SDK's provider, the control plane's OFREP and a relay all evaluate the same way.
 * A flag that does not validate (it can only come from a look-alike value; the server refuses bad
 * flags) answers PARSE_ERROR on its own, without spoiling the others.
 */

export type FlagType = 'boolean' | 'string' | 'number' | 'object';

/** A typed resolution, as an OpenFeature provider returns it. */
export interface Resolution<T> {
  value: T;
  variant?: string;
  reason: string;
  errorCode?: ErrorCode;
  errorMessage?: string;
  flagMetadata: FlagMetadata;
}

/** An untyped evaluation, as OFREP answers it. */
export type Evaluation =
  | { ok: true; key: string; value: JsonValue; variant: string; reason: string; metadata: FlagMetadata }
  | {
      ok: false;
      key: string;
      errorCode: 'FLAG_NOT_FOUND' | 'PARSE_ERROR' | 'TARGETING_KEY_MISSING' | 'INVALID_CONTEXT' | 'GENERAL';
      errorDetails: string;
      /** DISABLED: the flag exists and is off (OFREP answers it as flagd does: not found). */
      disabled?: boolean;
    };

export class FlagSet {
  readonly #core: FlagdCore = new (flagdCore().FlagdCore)(undefined, silentLogger);
  /** Each flag's definition with its `$ref`s resolved, canonical: what "changed" compares. */
  readonly #definitions = new Map<string, string>();
  readonly #broken = new Map<string, string>();
  readonly #needsKey = new Set<string>();

  private constructor(values: Readonly<ViewValues>) {
    const shared = values[evaluatorsKey];
    const evaluators: Evaluators =
      shared !== undefined && evaluatorsProblems(shared).length === 0 ? (shared as Evaluators) : {};
    const valid: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(values)) {
      if (key === evaluatorsKey || !isFlagDefinition(value)) continue;
      const resolved = value.targeting === undefined ? undefined : resolveRefs(value.targeting, evaluators).rule;
      this.#definitions.set(
        key,
        canonicalJson({ ...value, ...(resolved === undefined ? {} : { targeting: resolved }) }),
      );
      const problems = flagProblems(key, value, evaluators);
      if (problems.length > 0) {
        this.#broken.set(key, problems.map((p) => `${p.path || '/'} ${p.message}`).join('; '));
        continue;
      }
      valid[key] = value;
      if (value.state === 'ENABLED' && needsTargetingKey(resolved)) this.#needsKey.add(key);
    }
    this.#core.setConfigurations(JSON.stringify({ $evaluators: evaluators, flags: valid }));
  }

  static fromView(values: Readonly<ViewValues>): FlagSet {
    return new FlagSet(values);
  }

  /** The flag keys, sorted. */
  get keys(): string[] {
    return [...this.#definitions.keys()].sort();
  }

  has(key: string): boolean {
    return this.#definitions.has(key);
  }

  /** Keys whose definition (with shared evaluators resolved) differs between two sets, or exists in one only. */
  changedSince(previous: FlagSet | undefined): string[] {
    const before = previous ? previous.#definitions : new Map<string, string>();
    const keys = new Set([...this.#definitions.keys(), ...before.keys()]);
    return [...keys].filter((key) => this.#definitions.get(key) !== before.get(key)).sort();
  }

  /** A typed resolution: the default value with an error code when the flag cannot answer this type. */
  resolve<T extends JsonValue>(
    type: FlagType,
    key: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Resolution<T> {
    const refused = this.#refusal(key, context);
    if (refused) {
      return {
        value: defaultValue,
        reason: 'ERROR',
        errorCode: refused.code as ErrorCode,
        errorMessage: refused.message,
        flagMetadata: {},
      };
    }
    const resolution = this.#core.resolve(type, key, defaultValue, context, silentLogger);
    return {
      value: resolution.value,
      reason: resolution.reason ?? 'UNKNOWN',
      flagMetadata: resolution.flagMetadata,
      ...(resolution.variant === undefined ? {} : { variant: resolution.variant }),
      ...(resolution.errorCode === undefined ? {} : { errorCode: resolution.errorCode }),
      ...(resolution.errorMessage === undefined ? {} : { errorMessage: resolution.errorMessage }),
    };
  }

  /** An untyped evaluation of one flag (OFREP's single evaluation). */
  evaluate(key: string, context: EvaluationContext): Evaluation {
    const refused = this.#refusal(key, context);
    if (refused) return { ok: false, key, errorCode: refused.code, errorDetails: refused.message };
    const flag = this.#core.getFlag(key);
    if (!flag) return { ok: false, key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag "${key}" not found` };
    if (flag.state === 'DISABLED')
      return { ok: false, key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag "${key}" is disabled`, disabled: true };
    const result = flag.evaluate(context, silentLogger);
    if (result.reason === 'ERROR' || result.value === undefined || result.variant === undefined) {
      const code = result.errorCode === ErrorCode.PARSE_ERROR ? 'PARSE_ERROR' : 'GENERAL';
      return {
        ok: false,
        key,
        errorCode: code,
        errorDetails: result.errorMessage ?? `flag "${key}" has no value here`,
      };
    }
    return {
      ok: true,
      key,
      value: result.value,
      variant: result.variant,
      reason: result.reason,
      metadata: result.flagMetadata,
    };
  }

  /** Every enabled flag, evaluated (OFREP's bulk evaluation); disabled flags are left out, as flagd does. */
  evaluateAll(context: EvaluationContext): Evaluation[] {
    return this.keys.map((key) => this.evaluate(key, context)).filter((e) => e.ok || e.disabled !== true);
  }

  #refusal(
    key: string,
    context: EvaluationContext,
  ): { code: 'FLAG_NOT_FOUND' | 'PARSE_ERROR' | 'TARGETING_KEY_MISSING'; message: string } | undefined {
    if (!this.#definitions.has(key)) return { code: 'FLAG_NOT_FOUND', message: `flag "${key}" not found` };
    const broken = this.#broken.get(key);
    if (broken !== undefined) return { code: 'PARSE_ERROR', message: `flag "${key}" is not a valid flag: ${broken}` };
    const targetingKey = context.targetingKey;
    if (this.#needsKey.has(key) && (typeof targetingKey !== 'string' || targetingKey === '')) {
      return {
        code: 'TARGETING_KEY_MISSING',
        message: `flag "${key}" splits by targeting key (fractional), and the context has no targetingKey`,
      };
    }
    return undefined;
  }
}
