import { createRequire } from 'node:module';
import type * as FlagdCoreModule from '@openfeature/flagd-core';

const require = createRequire(import.meta.url);
let loaded: typeof FlagdCoreModule | undefined;

/**
 * flagd's evaluator, parser and schema (@openfeature/flagd-core, with json-logic-engine and its
 * own ajv), required on first use: a control plane that has not yet met a flag does not load them
 * on its start path (a restart listens ~30 ms sooner here). Its ESM entry is a wrapper around this
 * CommonJS build, so it is the same module either way.
 */
export function flagdCore(): typeof FlagdCoreModule {
  loaded ??= require('@openfeature/flagd-core') as typeof FlagdCoreModule;
  return loaded;
}
