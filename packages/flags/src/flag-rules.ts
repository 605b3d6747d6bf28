import { HeraldError, type Violation } from '@herald/core';
import { AzureFlagValidator } from './azure-flag.js';
import {
  evaluatorsContentType,
  evaluatorsKey,
  isAzureFlag,
  isEvaluatorsContentType,
  isFlagContentType,
} from './content-types.js';
import { flagProblems, evaluatorsProblems } from './flagd-flag.js';
import type { Evaluators } from './targeting.js';

/**
 * The flag rules of one entry, by its key and content type: a Herald flag (flagd), the shared
 * evaluators, an Azure feature flag, or none of them (no problems). Paths are `key:` followed by
 * a JSON Pointer into the value, as schema violations are.
 */
export class FlagRules {
  readonly #azure = new AzureFlagValidator();

  /** True when the entry is subject to a flag rule, so the caller knows to look at its value. */
  applies(key: string, contentType: string): boolean {
    return (
      key === evaluatorsKey ||
      isFlagContentType(contentType) ||
      isEvaluatorsContentType(contentType) ||
      isAzureFlag(key, contentType)
    );
  }

  /** Problems of the entry's value; `evaluators` are those its flag's `$ref`s resolve against. */
  problems(key: string, contentType: string, value: unknown, evaluators: Evaluators): Violation[] {
    const at = (problems: Violation[]) => problems.map((p) => ({ path: `${key}:${p.path}`, message: p.message }));
    if (key === evaluatorsKey && !isEvaluatorsContentType(contentType))
      return at([
        {
          path: '',
          message: `"${evaluatorsKey}" holds a namespace's shared flag evaluators: its content type must be ${evaluatorsContentType}`,
        },
      ]);
    if (isEvaluatorsContentType(contentType)) {
      if (key !== evaluatorsKey)
        return at([{ path: '', message: `shared evaluators live under the key "${evaluatorsKey}" only` }]);
      return at(evaluatorsProblems(value));
    }
    if (isFlagContentType(contentType)) return at(flagProblems(key, value, evaluators));
    if (isAzureFlag(key, contentType)) return at(this.#azure.problems(key, value));
    return [];
  }
}

/** The refusal of a write with bad flags: `invalid_flag` (422) with every problem named. */
export function flagViolation(violations: Violation[]): HeraldError {
  const shown = violations
    .slice(0, 5)
    .map((v) => `${v.path} ${v.message}`)
    .join('; ');
  return new HeraldError('invalid_flag', `${violations.length} flag problem(s): ${shown}`, {
    extensions: { violations: violations.slice(0, 100) },
  });
}
