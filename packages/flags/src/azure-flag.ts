import { createRequire } from 'node:module';
import type { Violation } from '@herald/core';
import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import { azureFlagSchema } from './azure-flag-schema.js';
import { azureFlagPrefix } from './content-types.js';

/**
 * Azure feature flags checked against Microsoft's schema (v2), then for what a schema cannot say:
 * the id is the key's name, and allocations name variants that exist.
 */

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ajv is required with the first flag checked, not when a server or client imports this package.
const require = createRequire(import.meta.url);

/** Compiled on first use and kept: one schema, so one validator for the process. */
export class AzureFlagValidator {
  #validate: ValidateFunction | undefined;

  problems(key: string, value: unknown): Violation[] {
    if (!this.#validate) {
      const { Ajv2020: Ajv } = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 };
      this.#validate = new Ajv({ allErrors: true, strict: false }).compile(azureFlagSchema);
    }
    if (!this.#validate(value)) {
      return (this.#validate.errors ?? []).map((error) => ({
        path: error.instancePath,
        message: `Microsoft's feature flag schema: ${error.message ?? error.keyword}`,
      }));
    }
    const flag = value as Record<string, unknown>;
    const problems: Violation[] = [];
    const id = key.slice(azureFlagPrefix.length);
    if (flag.id !== id)
      problems.push({
        path: '/id',
        message: `id "${String(flag.id)}" must be "${id}", the key's name after ${azureFlagPrefix}`,
      });
    const names = new Set(Array.isArray(flag.variants) ? flag.variants.map((v) => (v as { name: string }).name) : []);
    const allocation = isPlainObject(flag.allocation) ? flag.allocation : {};
    const check = (variant: unknown, at: string) => {
      if (typeof variant === 'string' && !names.has(variant))
        problems.push({ path: at, message: `allocation names variant "${variant}", which is not one of the variants` });
    };
    check(allocation.default_when_enabled, '/allocation/default_when_enabled');
    check(allocation.default_when_disabled, '/allocation/default_when_disabled');
    for (const kind of ['user', 'group', 'percentile'] as const) {
      const items = allocation[kind];
      if (!Array.isArray(items)) continue;
      items.forEach((item, i) => {
        const entry = item as { variant: string; from?: number; to?: number };
        check(entry.variant, `/allocation/${kind}/${i}/variant`);
        if (kind === 'percentile' && (entry.from ?? 0) > (entry.to ?? 0))
          problems.push({
            path: `/allocation/percentile/${i}`,
            message: 'a percentile allocation must have from ≤ to',
          });
      });
    }
    return problems;
  }
}
