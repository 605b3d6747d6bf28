import { addressId, type Change, type EntryVersion, type Violation } from '@herald/core';
import { evaluatorsKey, FlagRules, flagViolation, isFlagContentType, type Evaluators } from '@herald/flags';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';

export type FlagCheckStore = Pick<Store, 'readEntries'>;

/**
 * Feature flags in a commit, checked before it is stored: Herald flags (flagd definitions, their
 * `$ref`s resolved against the shared evaluators), the `$evaluators` entry itself, and Azure's
 * feature flags (Microsoft's schema v2). A change of `$evaluators` re-checks the stored flags that
 * resolve against it, so no commit can leave a `$ref` dangling. A flag at label L resolves against
 * `$evaluators` at L, else at the empty label (the stack `["", L]` sees the same).
 */
export class FlagCheck {
  readonly #store: FlagCheckStore;
  readonly #codec: EntryCodec;
  readonly #rules = new FlagRules();

  constructor(deps: { store: FlagCheckStore; codec: EntryCodec }) {
    this.#store = deps.store;
    this.#codec = deps.codec;
  }

  /** Throws `invalid_flag` with every problem when a change breaks a flag rule. */
  async ofChanges(namespace: string, changes: readonly Change[]): Promise<void> {
    const sets = changes.flatMap((c) => (c.op === 'set' && this.#rules.applies(c.key, c.contentType) ? [c] : []));
    const evaluatorChanges = changes.filter((c) => c.key === evaluatorsKey && (c.op === 'set' || c.op === 'delete'));
    if (sets.length === 0 && evaluatorChanges.length === 0) return;

    const values = new Map<string, unknown>();
    for (const change of sets) {
      const plain = this.#codec.unseal({ ...change, namespace }, change.text, change.secret);
      values.set(addressId(change), this.#codec.checkText(change.key, plain, change.contentType));
    }
    const stored = await this.#store.readEntries({ namespace, key: evaluatorsKey });
    const evaluatorsAt = new Map<string, unknown>(stored.map((v) => [v.label, this.#codec.decodedValue(v)]));
    for (const change of evaluatorChanges) {
      if (change.op === 'delete') evaluatorsAt.delete(change.label);
      else evaluatorsAt.set(change.label, values.get(addressId(change)));
    }
    const evaluatorsFor = (label: string): Evaluators => {
      const value = evaluatorsAt.get(label) ?? evaluatorsAt.get('');
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Evaluators) : {};
    };

    const violations: Violation[] = [];
    for (const change of sets) {
      const value = values.get(addressId(change));
      violations.push(...this.#rules.problems(change.key, change.contentType, value, evaluatorsFor(change.label)));
    }
    if (evaluatorChanges.length > 0) {
      const changed = new Set(changes.map((c) => addressId(c)));
      for (const version of await this.#flagsResolvingAgainst(namespace, evaluatorChanges, evaluatorsAt)) {
        if (changed.has(addressId(version))) continue;
        const problems = this.#rules.problems(
          version.key,
          version.contentType,
          this.#codec.decodedValue(version),
          evaluatorsFor(version.label),
        );
        violations.push(...problems.map((p) => ({ ...p, path: `[label ${version.label || '(none)'}] ${p.path}` })));
      }
    }
    if (violations.length > 0) throw flagViolation(violations);
  }

  /** The stored flags whose evaluators a change of `$evaluators` at these labels replaces. */
  async #flagsResolvingAgainst(
    namespace: string,
    evaluatorChanges: readonly Change[],
    evaluatorsAt: ReadonlyMap<string, unknown>,
  ): Promise<EntryVersion[]> {
    const labels = new Set(evaluatorChanges.map((c) => c.label));
    const all = labels.has('');
    const versions = await this.#store.readEntries({ namespace, ...(all ? {} : { labels: [...labels] }) });
    return versions.filter(
      (v) => isFlagContentType(v.contentType) && (labels.has(v.label) || (all && !evaluatorsAt.has(v.label))),
    );
  }
}
